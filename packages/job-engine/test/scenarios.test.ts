// The event sequences of job-semantics.md §5–§7, driven the way a simulator drives the engine.
// Expected lines are transcribed from the reference's transcripts: `<id> <status>` stands for
// JOB_STATUS_CHANGE, `R {}` for the command's reply (its position is the point of the test).
// One file on purpose: it is the reference's table of sequences, section by section, so that a
// reader checks it against job-semantics.md in one place.
import { describe, expect, test } from 'vitest';
import { JobEngine } from '../src/index.js';
import { Transcript } from './harness.js';

const L = 67108864; // the 64 MiB images of the reference transcripts

describe('§5.6 normal run (stream, non-active commit)', () => {
  test.each(['stream', 'commit'] as const)(
    '%s: created, running, reply, then completion',
    (type) => {
      const t = new Transcript();
      t.createCommand({ id: 's1', type });
      t.note(t.engine.progress('s1', { setRemaining: L }));
      t.note(t.engine.progress('s1', { workDone: L }));
      const done = t.note(t.engine.runFinished('s1'));
      expect(t.lines).toEqual([
        's1 created',
        's1 running',
        'R {}',
        's1 waiting',
        's1 pending',
        'BLOCK_JOB_COMPLETED s1',
        's1 concluded',
        's1 null',
      ]);
      expect(done.effects).toContainEqual({
        type: 'event',
        event: 'BLOCK_JOB_COMPLETED',
        data: { type, device: 's1', len: L, offset: L, speed: 0 },
      });
      expect(t.engine.queryJobs()).toEqual([]);
    },
  );

  test('nothing to do: the whole sequence, with len 0, comes before the reply', () => {
    const t = new Transcript();
    t.note(t.engine.create({ id: 's1', type: 'stream' }));
    const started = t.note(t.engine.start('s1'));
    // The start instruction asks the driver to run now, before the reply…
    expect(started.effects).toContainEqual({
      type: 'enter',
      id: 's1',
      reason: 'start',
      when: 'before-reply',
    });
    // …and with nothing to copy its run ends at once.
    t.note(t.engine.runFinished('s1'));
    t.reply(started);
    expect(t.lines).toEqual([
      's1 created',
      's1 running',
      's1 waiting',
      's1 pending',
      'BLOCK_JOB_COMPLETED s1',
      's1 concluded',
      's1 null',
      'R {}',
    ]);
    expect(t.effects).toContainEqual({
      type: 'event',
      event: 'BLOCK_JOB_COMPLETED',
      data: { type: 'stream', device: 's1', len: 0, offset: 0, speed: 0 },
    });
  });
});

describe('§5.7 / §5.8 creation inside a drained section (backup, transaction)', () => {
  test('blockdev-backup: created, running, paused, running, reply; completion later', () => {
    const t = new Transcript();
    const e = t.engine;
    // The job attaches to its already drained source: one internal pause from the start.
    t.note(e.create({ id: 'b1', type: 'backup', speed: 1048576 }));
    t.note(e.pauseInternal('b1'));
    t.note(e.start('b1'));
    t.note(e.resumeInternal('b1'));
    t.lines.push('R {}');
    t.note(e.progress('b1', { setRemaining: L }));
    t.note(e.progress('b1', { workDone: L }));
    t.note(e.runFinished('b1'));
    expect(t.lines).toEqual([
      'b1 created',
      'b1 running',
      'b1 paused',
      'b1 running',
      'R {}',
      'b1 waiting',
      'b1 pending',
      'BLOCK_JOB_COMPLETED b1',
      'b1 concluded',
      'b1 null',
    ]);
    expect(t.effects).toContainEqual({
      type: 'event',
      event: 'BLOCK_JOB_COMPLETED',
      data: { type: 'backup', device: 'b1', len: L, offset: L, speed: 1048576 },
    });
  });

  test('grouped transaction of two backups: the creation order of §5.8', () => {
    const t = new Transcript();
    const e = t.engine;
    const txn = e.newTransaction();
    // prepare each action (drain its node, create its job), then commit (start), then clean.
    t.note(e.create({ id: 'j1', type: 'backup', transaction: txn }));
    t.note(e.pauseInternal('j1'));
    t.note(e.create({ id: 'j2', type: 'backup', transaction: txn }));
    t.note(e.pauseInternal('j2'));
    t.note(e.start('j1'));
    t.note(e.start('j2'));
    t.note(e.resumeInternal('j1'));
    t.note(e.resumeInternal('j2'));
    t.lines.push('R {}');
    expect(t.lines).toEqual([
      'j1 created',
      'j2 created',
      'j1 running',
      'j1 paused',
      'j2 running',
      'j2 paused',
      'j1 running',
      'j2 running',
      'R {}',
    ]);
  });

  test('a second drain cycle around a new job sharing a node, with a user-paused job silent', () => {
    const t = new Transcript();
    const e = t.engine;
    e.create({ id: 'X', type: 'backup', speed: 1 });
    e.start('X');
    e.sleep('X');
    e.create({ id: 'U', type: 'stream' });
    e.start('U');
    e.sleep('U');
    e.jobPause('U');
    t.clear();
    // blockdev-backup device=x: drain all, then drain x again around Y's creation.
    t.note(e.pauseInternal('X'));
    t.note(e.pauseInternal('U'));
    t.note(e.resumeInternal('X'));
    // X is re-entered (an `enter` effect, before the reply): throttled, it sleeps again.
    t.note(e.sleep('X'));
    t.note(e.resumeInternal('U'));
    t.note(e.pauseInternal('X'));
    t.note(e.create({ id: 'Y', type: 'backup', speed: 1 }));
    t.note(e.pauseInternal('Y'));
    t.note(e.start('Y'));
    t.note(e.resumeInternal('Y'));
    t.note(e.resumeInternal('X'));
    t.lines.push('R {}');
    expect(t.lines).toEqual([
      'X paused',
      'X running',
      'X paused',
      'Y created',
      'Y running',
      'Y paused',
      'Y running',
      'X running',
      'R {}',
    ]);
    expect(e.job('U')?.status).toBe('paused');
  });

  test('a failing transaction rolls back a created job: aborting, concluded, null, no BLOCK_JOB_*', () => {
    const t = new Transcript();
    const e = t.engine;
    t.note(e.create({ id: 'ja', type: 'backup' }));
    t.note(e.pauseInternal('ja'));
    // a later action fails: abort the created job, end the drain, reply with the error.
    t.note(e.rollback('ja'));
    expect(t.lines).toEqual(['ja created', 'ja aborting', 'ja concluded', 'ja null']);
    expect(e.has('ja')).toBe(false);
  });

  // QEMU 7.2 emits the first five lines and then deadlocks (job_finish_sync waits on j1, which
  // never started). The model's documented choice is to complete j1 at once instead.
  test('rolling back a grouped transaction of two created jobs (QEMU deadlocks after j2 null)', () => {
    const t = new Transcript();
    const e = t.engine;
    const txn = e.newTransaction();
    t.note(e.create({ id: 'j1', type: 'backup', transaction: txn }));
    t.note(e.create({ id: 'j2', type: 'backup', transaction: txn }));
    // aborts run in reverse action order: j2's abort takes j1 with it.
    t.note(e.rollback('j2'));
    expect(t.lines).toEqual([
      'j1 created',
      'j2 created',
      'j2 aborting',
      'j2 concluded',
      'j2 null',
      'j1 aborting',
      'j1 concluded',
      'j1 null',
    ]);
    expect(e.ids()).toEqual([]);
  });
});

/** A mirror `j1` that has converged and sleeps in ready. */
function readyMirror(options: { autoFinalize?: boolean; autoDismiss?: boolean } = {}) {
  const t = new Transcript();
  t.createCommand({ id: 'j1', type: 'mirror', ...options });
  t.note(t.engine.progress('j1', { setRemaining: L }));
  t.note(t.engine.progress('j1', { workDone: L }));
  t.note(t.engine.converged('j1'));
  t.note(t.engine.sleep('j1'));
  return t;
}

describe('§6.2 mirror: ready → job-complete', () => {
  test.each(['job-complete', 'block-job-complete'] as const)('%s', (command) => {
    const t = readyMirror();
    t.cmd(command, command === 'job-complete' ? { id: 'j1' } : ({ device: 'j1' } as never));
    // The completion is the driver's, scheduled after the reply.
    expect(t.enters('j1').at(-1)).toEqual({
      type: 'enter',
      id: 'j1',
      reason: 'complete',
      when: 'after-reply',
    });
    t.note(t.engine.runFinished('j1'));
    expect(t.lines).toEqual([
      'j1 created',
      'j1 running',
      'R {}',
      'j1 ready',
      'BLOCK_JOB_READY j1',
      'R {}',
      'j1 waiting',
      'j1 pending',
      'BLOCK_JOB_COMPLETED j1',
      'j1 concluded',
      'j1 null',
    ]);
    expect(t.effects).toContainEqual({
      type: 'event',
      event: 'BLOCK_JOB_READY',
      data: { type: 'mirror', device: 'j1', len: L, offset: L, speed: 0 },
    });
  });

  test('active commit is the same with type commit', () => {
    const t = new Transcript();
    t.createCommand({ id: 'c1', type: 'commit', activeCommit: true });
    t.note(t.engine.converged('c1'));
    t.cmd('job-complete', { id: 'c1' });
    t.note(t.engine.runFinished('c1'));
    expect(t.lines).toEqual([
      'c1 created',
      'c1 running',
      'R {}',
      'c1 ready',
      'BLOCK_JOB_READY c1',
      'R {}',
      'c1 waiting',
      'c1 pending',
      'BLOCK_JOB_COMPLETED c1',
      'c1 concluded',
      'c1 null',
    ]);
    expect(t.effects).toContainEqual({
      type: 'event',
      event: 'BLOCK_JOB_READY',
      data: { type: 'commit', device: 'c1', len: 0, offset: 0, speed: 0 },
    });
  });

  test('a non-active commit has no ready phase and cannot complete', () => {
    const e = new JobEngine();
    e.create({ id: 'c1', type: 'commit' });
    e.start('c1');
    expect(e.converged('c1').ok).toBe(false);
  });
});

describe('§6.3 mirror ready → cancel variants', () => {
  const hard = ['R {}', 'j1 aborting', 'BLOCK_JOB_CANCELLED j1', 'j1 concluded', 'j1 null'];
  const soft = [
    'R {}',
    'j1 waiting',
    'j1 pending',
    'BLOCK_JOB_COMPLETED j1',
    'j1 concluded',
    'j1 null',
  ];

  test.each([
    ['job-cancel', { id: 'j1' }, hard],
    ['block-job-cancel', { device: 'j1' }, soft],
    ['block-job-cancel', { device: 'j1', force: true }, hard],
  ] as const)('%s %j', (command, args, expected) => {
    const t = readyMirror();
    t.clear();
    t.cmd(command, args as never);
    expect(t.enters('j1')).toEqual([
      { type: 'enter', id: 'j1', reason: 'cancel', when: 'after-reply' },
    ]);
    t.note(t.engine.runFinished('j1'));
    expect(t.lines).toEqual(expected);
  });

  test('soft cancel of a running (not yet ready) mirror is a hard cancel', () => {
    const t = new Transcript();
    t.createCommand({ id: 'j1', type: 'mirror' });
    t.note(t.engine.sleep('j1'));
    t.clear();
    t.cmd('block-job-cancel', { device: 'j1' });
    t.note(t.engine.runFinished('j1'));
    expect(t.lines).toEqual(hard);
  });

  test('after a hard cancel query-jobs shows "Operation canceled"; after a soft one, no error', () => {
    const a = readyMirror({ autoDismiss: false });
    a.cmd('job-cancel', { id: 'j1' });
    a.engine.runFinished('j1');
    expect(a.engine.queryJobs()).toEqual([
      {
        id: 'j1',
        type: 'mirror',
        status: 'concluded',
        'current-progress': L,
        'total-progress': L,
        error: 'Operation canceled',
      },
    ]);
    const b = readyMirror({ autoDismiss: false });
    b.cmd('block-job-cancel', { device: 'j1' });
    b.engine.runFinished('j1');
    expect(b.engine.queryJobs()).toEqual([
      {
        id: 'j1',
        type: 'mirror',
        status: 'concluded',
        'current-progress': L,
        'total-progress': L,
      },
    ]);
  });

  test('soft cancel with auto-finalize=false stops at pending + BLOCK_JOB_PENDING', () => {
    const t = readyMirror({ autoFinalize: false });
    t.clear();
    t.cmd('block-job-cancel', { device: 'j1' });
    t.note(t.engine.runFinished('j1'));
    expect(t.lines).toEqual(['R {}', 'j1 waiting', 'j1 pending', 'BLOCK_JOB_PENDING j1']);
    expect(t.effects).toContainEqual({
      type: 'event',
      event: 'BLOCK_JOB_PENDING',
      data: { type: 'mirror', id: 'j1' },
    });
    t.cmd('job-finalize', { id: 'j1' });
    expect(t.lines.slice(4)).toEqual(['BLOCK_JOB_COMPLETED j1', 'j1 concluded', 'j1 null', 'R {}']);
  });
});

describe('§6.4 auto-finalize=false and auto-dismiss=false', () => {
  function pendingStream(options: { autoFinalize: boolean; autoDismiss: boolean }) {
    const t = new Transcript();
    t.createCommand({ id: 's1', type: 'stream', ...options });
    t.note(t.engine.runFinished('s1'));
    return t;
  }

  test('both false: pending + BLOCK_JOB_PENDING; finalize; dismiss', () => {
    const t = pendingStream({ autoFinalize: false, autoDismiss: false });
    expect(t.engine.queryJobs()[0]?.status).toBe('pending');
    expect(t.engine.queryBlockJobs()[0]).toMatchObject({
      status: 'pending',
      paused: false,
      ready: false,
      busy: false,
    });
    t.cmd('job-finalize', { id: 's1' });
    t.cmd('job-dismiss', { id: 's1' });
    expect(t.lines).toEqual([
      's1 created',
      's1 running',
      'R {}',
      's1 waiting',
      's1 pending',
      'BLOCK_JOB_PENDING s1',
      'BLOCK_JOB_COMPLETED s1',
      's1 concluded',
      'R {}',
      's1 null',
      'R {}',
    ]);
    expect(t.effects).toContainEqual({
      type: 'event',
      event: 'BLOCK_JOB_PENDING',
      data: { type: 'stream', id: 's1' },
    });
  });

  test('only auto-finalize=false: finalize emits COMPLETED, concluded and null before the reply', () => {
    const t = pendingStream({ autoFinalize: false, autoDismiss: true });
    t.clear();
    t.cmd('block-job-finalize', { id: 's1' });
    expect(t.lines).toEqual(['BLOCK_JOB_COMPLETED s1', 's1 concluded', 's1 null', 'R {}']);
  });

  test('only auto-dismiss=false: stops at concluded after COMPLETED', () => {
    const t = pendingStream({ autoFinalize: true, autoDismiss: false });
    expect(t.lines.slice(-3)).toEqual(['s1 pending', 'BLOCK_JOB_COMPLETED s1', 's1 concluded']);
    expect(t.engine.job('s1')?.status).toBe('concluded');
  });

  test.each([true, false])(
    'job-cancel in pending is synchronous (auto-dismiss %s)',
    (autoDismiss) => {
      const t = pendingStream({ autoFinalize: false, autoDismiss });
      t.clear();
      t.cmd('job-cancel', { id: 's1' });
      expect(t.lines).toEqual([
        's1 aborting',
        'BLOCK_JOB_CANCELLED s1',
        's1 concluded',
        ...(autoDismiss ? ['s1 null'] : []),
        'R {}',
      ]);
    },
  );

  test('a mirror completed with auto-finalize=false shows paused:true while pending', () => {
    const t = readyMirror({ autoFinalize: false, autoDismiss: false });
    t.cmd('job-complete', { id: 'j1' });
    t.engine.runFinished('j1');
    expect(t.engine.queryBlockJobs()[0]).toMatchObject({ status: 'pending', paused: true });
    t.cmd('job-finalize', { id: 'j1' });
    expect(t.engine.queryBlockJobs()[0]).toMatchObject({ status: 'concluded', paused: false });
  });
});

describe('§6.5 pause/resume in running and in ready', () => {
  test('an idle running mirror: paused before the reply, running before the reply', () => {
    const t = new Transcript();
    t.createCommand({ id: 'm1', type: 'mirror', speed: 1 });
    t.note(t.engine.sleep('m1'));
    t.clear();
    t.cmd('job-pause', { id: 'm1' });
    expect(t.engine.queryBlockJobs()[0]).toMatchObject({
      status: 'paused',
      paused: true,
      busy: false,
    });
    t.cmd('job-resume', { id: 'm1' });
    expect(t.lines).toEqual(['m1 paused', 'R {}', 'm1 running', 'R {}']);
    expect(t.enters('m1')).toEqual([
      { type: 'enter', id: 'm1', reason: 'resume', when: 'before-reply' },
    ]);
  });

  test('a ready mirror: standby, complete accepted, resume → ready, then the completion', () => {
    const t = readyMirror();
    t.clear();
    t.cmd('block-job-pause', { device: 'j1' });
    expect(t.engine.queryBlockJobs()[0]).toMatchObject({
      status: 'standby',
      paused: true,
      ready: true,
    });
    t.cmd('job-complete', { id: 'j1' });
    t.cmd('block-job-resume', { device: 'j1' });
    // The resumed mirror sees the completion request and finishes (its drain yields: after).
    expect(t.engine.job('j1')?.completeRequested).toBe(true);
    t.note(t.engine.runFinished('j1'));
    expect(t.lines).toEqual([
      'j1 standby',
      'R {}',
      'R {}',
      'j1 ready',
      'R {}',
      'j1 waiting',
      'j1 pending',
      'BLOCK_JOB_COMPLETED j1',
      'j1 concluded',
      'j1 null',
    ]);
  });

  test('a busy job: the reply first; until the pause lands, running + paused:true + busy:true', () => {
    const t = new Transcript();
    t.createCommand({ id: 's1', type: 'stream' });
    t.clear();
    t.cmd('job-pause', { id: 's1' });
    expect(t.engine.queryBlockJobs()[0]).toMatchObject({
      status: 'running',
      paused: true,
      busy: true,
    });
    t.note(t.engine.progress('s1', { workDone: 524288 }));
    t.note(t.engine.pausePoint('s1'));
    expect(t.lines).toEqual(['R {}', 's1 paused']);
    expect(t.engine.queryBlockJobs()[0]).toMatchObject({ busy: false, offset: 524288 });
  });
});

describe('§6.6 cancel while paused', () => {
  test('paused mirror: soft cancel refused; job-cancel: running, reply, then the abort', () => {
    const t = new Transcript();
    t.createCommand({ id: 'm1', type: 'mirror' });
    t.note(t.engine.sleep('m1'));
    t.cmd('job-pause', { id: 'm1' });
    t.clear();
    t.cmd('block-job-cancel', { device: 'm1' });
    t.cmd('job-cancel', { id: 'm1' });
    t.note(t.engine.runFinished('m1'));
    expect(t.lines).toEqual([
      "R GenericError: The block job for device 'm1' is currently paused",
      'm1 running',
      'R {}',
      'm1 aborting',
      'BLOCK_JOB_CANCELLED m1',
      'm1 concluded',
      'm1 null',
    ]);
  });

  test('standby mirror with force: ready first', () => {
    const t = readyMirror();
    t.cmd('job-pause', { id: 'j1' });
    t.clear();
    t.cmd('block-job-cancel', { device: 'j1', force: true });
    t.note(t.engine.runFinished('j1'));
    expect(t.lines).toEqual([
      'j1 ready',
      'R {}',
      'j1 aborting',
      'BLOCK_JOB_CANCELLED j1',
      'j1 concluded',
      'j1 null',
    ]);
  });

  test('paused backup: everything before the reply', () => {
    const t = new Transcript();
    t.createCommand({ id: 'b1', type: 'backup' });
    t.note(t.engine.sleep('b1'));
    t.cmd('job-pause', { id: 'b1' });
    t.clear();
    const r = t.cmd('job-cancel', { id: 'b1' });
    expect(t.lines).toEqual([
      'b1 running',
      'b1 aborting',
      'BLOCK_JOB_CANCELLED b1',
      'b1 concluded',
      'b1 null',
      'R {}',
    ]);
    expect(r.effects).toContainEqual({ type: 'halt', id: 'b1' });
  });

  test('an idle stream: job-cancel tears it down before the reply', () => {
    const t = new Transcript();
    t.createCommand({ id: 's1', type: 'stream', speed: 1 });
    t.note(t.engine.sleep('s1'));
    t.clear();
    t.cmd('job-cancel', { id: 's1' });
    expect(t.lines).toEqual([
      's1 aborting',
      'BLOCK_JOB_CANCELLED s1',
      's1 concluded',
      's1 null',
      'R {}',
    ]);
  });

  test('a busy stream: the reply first; the driver ends its run after', () => {
    const t = new Transcript();
    t.createCommand({ id: 's1', type: 'stream' });
    t.clear();
    t.cmd('job-cancel', { id: 's1' });
    expect(t.engine.job('s1')?.cancelled).toBe(true);
    // A cancelled job does not sleep any more: it stays busy and ends its run.
    t.note(t.engine.sleep('s1'));
    expect(t.engine.job('s1')?.run).toBe('busy');
    t.note(t.engine.runFinished('s1'));
    expect(t.lines).toEqual([
      'R {}',
      's1 aborting',
      'BLOCK_JOB_CANCELLED s1',
      's1 concluded',
      's1 null',
    ]);
  });
});

describe('§6.7 failing job', () => {
  test('report: BLOCK_JOB_ERROR, aborting, COMPLETED with error, concluded; io-status ok', () => {
    const t = new Transcript();
    t.createCommand({ id: 'b1', type: 'backup', autoFinalize: false, autoDismiss: false });
    t.clear();
    const err = t.engine.ioError('b1', { operation: 'read', policy: 'report' });
    expect(err).toMatchObject({ ok: true, action: 'report' });
    t.note(err as never);
    t.note(t.engine.ioError('b1', { operation: 'read', policy: 'report' }) as never);
    t.note(t.engine.runFinished('b1', { error: 'Input/output error' }));
    expect(t.lines).toEqual([
      'BLOCK_JOB_ERROR b1 read report',
      'BLOCK_JOB_ERROR b1 read report',
      'b1 aborting',
      'BLOCK_JOB_COMPLETED b1 error=Input/output error',
      'b1 concluded',
    ]);
    expect(t.engine.queryJobs()[0]).toMatchObject({
      status: 'concluded',
      error: 'Input/output error',
    });
    expect(t.engine.queryBlockJobs()[0]).toMatchObject({
      error: 'Input/output error',
      'io-status': 'ok',
    });
  });

  test('stop: BLOCK_JOB_ERROR, paused; a user pause with io-status failed', () => {
    const t = new Transcript();
    t.createCommand({ id: 'm1', type: 'mirror' });
    t.clear();
    const err = t.engine.ioError('m1', { operation: 'write', policy: 'stop' });
    expect(err).toMatchObject({ ok: true, action: 'stop' });
    t.note(err as never);
    t.note(t.engine.pausePoint('m1'));
    expect(t.lines).toEqual(['BLOCK_JOB_ERROR m1 write stop', 'm1 paused']);
    expect(t.engine.queryBlockJobs()[0]).toMatchObject({
      'io-status': 'failed',
      paused: true,
      status: 'paused',
    });
    expect(t.engine.jobPause('m1')).toMatchObject({ error: { desc: 'Job is already paused' } });
    expect(t.engine.blockJobCancel('m1')).toMatchObject({
      error: { desc: "The block job for device 'm1' is currently paused" },
    });
    t.clear();
    t.cmd('job-resume', { id: 'm1' });
    expect(t.lines).toEqual(['m1 running', 'R {}']);
    expect(t.engine.queryBlockJobs()[0]).toMatchObject({ 'io-status': 'ok', paused: false });
    // The retried I/O succeeds and the mirror goes on to ready.
    t.note(t.engine.converged('m1'));
    expect(t.lines.slice(2)).toEqual(['m1 ready', 'BLOCK_JOB_READY m1']);
  });

  test('stop with ENOSPC: io-status nospace; enospc policy stops only on ENOSPC', () => {
    const e = new JobEngine();
    e.create({ id: 'b1', type: 'backup' });
    e.start('b1');
    expect(e.ioError('b1', { operation: 'write', policy: 'enospc', nospace: true })).toMatchObject({
      action: 'stop',
    });
    expect(e.queryBlockJobs()[0]?.['io-status']).toBe('nospace');
    // A second error while already stopped keeps the first io-status and adds no pause.
    expect(e.ioError('b1', { operation: 'read', policy: 'stop' })).toMatchObject({
      action: 'stop',
    });
    expect(e.job('b1')).toMatchObject({ ioStatus: 'nospace', pauseCount: 1 });
    expect(e.ioError('b1', { operation: 'read', policy: 'enospc' })).toMatchObject({
      action: 'report',
    });
    expect(e.ioError('b1', { operation: 'read', policy: 'auto' })).toMatchObject({
      action: 'report',
    });
  });

  test('stop, then job-cancel: running, then the abort with BLOCK_JOB_CANCELLED', () => {
    const t = new Transcript();
    t.createCommand({ id: 'm1', type: 'mirror' });
    t.note(t.engine.ioError('m1', { operation: 'read', policy: 'stop' }) as never);
    t.note(t.engine.pausePoint('m1'));
    t.clear();
    t.cmd('job-cancel', { id: 'm1' });
    t.note(t.engine.runFinished('m1'));
    expect(t.lines).toEqual([
      'm1 running',
      'R {}',
      'm1 aborting',
      'BLOCK_JOB_CANCELLED m1',
      'm1 concluded',
      'm1 null',
    ]);
  });

  test('ignore: only BLOCK_JOB_ERROR; the job carries on and records nothing', () => {
    const t = new Transcript();
    t.createCommand({ id: 's1', type: 'stream' });
    t.clear();
    t.note(t.engine.ioError('s1', { operation: 'read', policy: 'ignore' }) as never);
    expect(t.lines).toEqual(['BLOCK_JOB_ERROR s1 read ignore']);
    expect(t.engine.queryJobs()[0]).toEqual({
      id: 's1',
      type: 'stream',
      status: 'running',
      'current-progress': 0,
      'total-progress': 0,
    });
  });

  test('a failure never waits in pending, even with auto-finalize=false', () => {
    const t = new Transcript();
    t.createCommand({ id: 's1', type: 'stream', autoFinalize: false });
    t.clear();
    t.note(t.engine.runFinished('s1', { error: 'Input/output error' }));
    expect(t.lines).toEqual([
      's1 aborting',
      'BLOCK_JOB_COMPLETED s1 error=Input/output error',
      's1 concluded',
      's1 null',
    ]);
  });
});

describe('§6.8 grouped transaction', () => {
  function group(first: string, second: string, autoDismiss = true) {
    const t = new Transcript();
    const e = t.engine;
    const txn = e.newTransaction();
    for (const id of [first, second])
      e.create({ id, type: 'backup', transaction: txn, autoDismiss });
    for (const id of [first, second]) e.start(id);
    for (const id of [first, second]) e.sleep(id);
    return t;
  }

  test('created ok1 then bad1 (list [bad1, ok1]); bad1 fails', () => {
    const t = group('ok1', 'bad1');
    t.engine.wake('bad1');
    t.note(t.engine.ioError('bad1', { operation: 'read', policy: 'report' }) as never);
    t.note(t.engine.runFinished('bad1', { error: 'Input/output error' }));
    expect(t.lines).toEqual([
      'BLOCK_JOB_ERROR bad1 read report',
      'bad1 aborting',
      'BLOCK_JOB_COMPLETED bad1 error=Input/output error',
      'bad1 concluded',
      'bad1 null',
      'ok1 aborting',
      'BLOCK_JOB_CANCELLED ok1',
      'ok1 concluded',
      'ok1 null',
    ]);
  });

  test('created bad1 then ok1 (list [ok1, bad1]); bad1 fails', () => {
    const t = group('bad1', 'ok1');
    t.engine.wake('bad1');
    t.note(t.engine.ioError('bad1', { operation: 'read', policy: 'report' }) as never);
    t.note(t.engine.runFinished('bad1', { error: 'Input/output error' }));
    expect(t.lines).toEqual([
      'BLOCK_JOB_ERROR bad1 read report',
      'bad1 aborting',
      'ok1 aborting',
      'BLOCK_JOB_CANCELLED ok1',
      'ok1 concluded',
      'ok1 null',
      'BLOCK_JOB_COMPLETED bad1 error=Input/output error',
      'bad1 concluded',
      'bad1 null',
    ]);
    expect(t.effects).toContainEqual({ type: 'halt', id: 'ok1' });
  });

  test('with auto-dismiss=false both stay concluded with their errors', () => {
    const t = group('ok1', 'bad1', false);
    t.engine.wake('bad1');
    t.engine.runFinished('bad1', { error: 'Input/output error' });
    expect(t.engine.queryJobs()).toEqual([
      {
        id: 'bad1',
        type: 'backup',
        status: 'concluded',
        'current-progress': 0,
        'total-progress': 0,
        error: 'Input/output error',
      },
      {
        id: 'ok1',
        type: 'backup',
        status: 'concluded',
        'current-progress': 0,
        'total-progress': 0,
        error: 'Operation canceled',
      },
    ]);
  });

  test('job-cancel j1 with both running: everything before the reply', () => {
    const t = group('j1', 'j2');
    t.cmd('job-cancel', { id: 'j1' });
    expect(t.lines).toEqual([
      'j1 aborting',
      'j2 aborting',
      'BLOCK_JOB_CANCELLED j2',
      'j2 concluded',
      'j2 null',
      'BLOCK_JOB_CANCELLED j1',
      'j1 concluded',
      'j1 null',
      'R {}',
    ]);
  });

  test('job-cancel of the member in waiting: everything before the reply', () => {
    const t = group('fast', 'slow');
    const e = t.engine;
    e.progress('fast', { setRemaining: 1048576 });
    e.progress('fast', { workDone: 1048576 });
    e.wake('fast');
    t.note(e.runFinished('fast'));
    expect(t.lines).toEqual(['fast waiting']);
    t.clear();
    t.cmd('job-cancel', { id: 'fast' });
    expect(t.lines).toEqual([
      'slow aborting',
      'BLOCK_JOB_CANCELLED slow',
      'slow concluded',
      'slow null',
      'fast aborting',
      'BLOCK_JOB_CANCELLED fast',
      'fast concluded',
      'fast null',
      'R {}',
    ]);
    expect(t.effects).toContainEqual({
      type: 'event',
      event: 'BLOCK_JOB_CANCELLED',
      data: { type: 'backup', device: 'fast', len: 1048576, offset: 1048576, speed: 0 },
    });
  });

  test('grouped success: waiting as each finishes, then pending and finalization newest first', () => {
    const t = group('j1', 'j2');
    t.engine.wake('j1');
    t.note(t.engine.runFinished('j1'));
    t.engine.wake('j2');
    t.note(t.engine.runFinished('j2'));
    expect(t.lines).toEqual([
      'j1 waiting',
      'j2 waiting',
      'j2 pending',
      'j1 pending',
      'BLOCK_JOB_COMPLETED j2',
      'j2 concluded',
      'j2 null',
      'BLOCK_JOB_COMPLETED j1',
      'j1 concluded',
      'j1 null',
    ]);
  });

  test('one member needing manual finalize holds all; finalizing any member finalizes all', () => {
    const t = new Transcript();
    const e = t.engine;
    const txn = e.newTransaction();
    e.create({ id: 'a', type: 'backup', transaction: txn, autoFinalize: false });
    e.create({ id: 'b', type: 'backup', transaction: txn });
    e.start('a');
    e.start('b');
    t.note(e.runFinished('a'));
    t.note(e.runFinished('b'));
    expect(t.lines).toEqual([
      'a waiting',
      'b waiting',
      'b pending',
      'a pending',
      'BLOCK_JOB_PENDING a',
    ]);
    t.clear();
    t.cmd('job-finalize', { id: 'b' });
    expect(t.lines).toEqual([
      'BLOCK_JOB_COMPLETED b',
      'b concluded',
      'b null',
      'BLOCK_JOB_COMPLETED a',
      'a concluded',
      'a null',
      'R {}',
    ]);
  });

  test('individual mode: one failing does not affect the other', () => {
    const t = new Transcript();
    const e = t.engine;
    e.create({ id: 'a', type: 'backup' });
    e.create({ id: 'b', type: 'backup' });
    e.start('a');
    e.start('b');
    t.note(e.runFinished('a', { error: 'Input/output error' }));
    expect(t.lines).toEqual([
      'a aborting',
      'BLOCK_JOB_COMPLETED a error=Input/output error',
      'a concluded',
      'a null',
    ]);
    expect(e.job('b')?.status).toBe('running');
  });
});

describe('§7 pause semantics', () => {
  test('a user resume with an internal pause left keeps the job paused, without an event', () => {
    const t = new Transcript();
    t.createCommand({ id: 's1', type: 'stream' });
    t.note(t.engine.sleep('s1'));
    t.cmd('job-pause', { id: 's1' });
    t.note(t.engine.pauseInternal('s1'));
    t.clear();
    t.cmd('job-resume', { id: 's1' });
    expect(t.lines).toEqual(['R {}']);
    expect(t.engine.job('s1')).toMatchObject({ status: 'paused', pauseCount: 1 });
    t.note(t.engine.resumeInternal('s1'));
    expect(t.lines).toEqual(['R {}', 's1 running']);
  });

  test('internal pauses are visible; a user-paused job emits nothing', () => {
    const t = readyMirror();
    t.clear();
    t.note(t.engine.pauseInternal('j1'));
    t.note(t.engine.resumeInternal('j1'));
    expect(t.lines).toEqual(['j1 standby', 'j1 ready']);
  });

  test('a created job starts parked while a pause is in force', () => {
    const e = new JobEngine();
    e.create({ id: 'c', type: 'stream' });
    e.jobPause('c');
    expect(e.start('c').effects).toEqual([
      { type: 'event', event: 'JOB_STATUS_CHANGE', data: { id: 'c', status: 'running' } },
      { type: 'event', event: 'JOB_STATUS_CHANGE', data: { id: 'c', status: 'paused' } },
    ]);
  });

  test('cancel clears the user pause but not the internal ones, and ignores pause points', () => {
    const e = new JobEngine();
    e.create({ id: 'm', type: 'mirror' });
    e.start('m');
    e.sleep('m');
    e.jobPause('m');
    e.pauseInternal('m');
    expect(e.jobCancel('m').effects).toEqual([
      { type: 'event', event: 'JOB_STATUS_CHANGE', data: { id: 'm', status: 'running' } },
      { type: 'enter', id: 'm', reason: 'cancel', when: 'after-reply' },
    ]);
    expect(e.job('m')).toMatchObject({ pauseCount: 1, userPaused: false, status: 'running' });
    expect(e.pausePoint('m').effects).toEqual([]);
  });
});

describe('non-block jobs (create, amend, snapshot-*)', () => {
  test('only JOB_STATUS_CHANGE, never auto-dismissed, progress 0/1 → 1/1', () => {
    const t = new Transcript();
    t.createCommand({ id: 'cr1', type: 'create', autoDismiss: true });
    t.note(t.engine.progress('cr1', { setRemaining: 1 }));
    expect(t.engine.queryJobs()[0]).toMatchObject({
      'current-progress': 0,
      'total-progress': 1,
    });
    t.note(t.engine.progress('cr1', { workDone: 1 }));
    t.note(t.engine.runFinished('cr1'));
    expect(t.lines).toEqual([
      'cr1 created',
      'cr1 running',
      'R {}',
      'cr1 waiting',
      'cr1 pending',
      'cr1 concluded',
    ]);
    expect(t.engine.queryJobs()).toEqual([
      {
        id: 'cr1',
        type: 'create',
        status: 'concluded',
        'current-progress': 1,
        'total-progress': 1,
      },
    ]);
    expect(t.engine.queryBlockJobs()).toEqual([]);
  });

  test('a failure shows only in JobInfo.error', () => {
    const e = new JobEngine();
    e.create({ id: 'cr1', type: 'create' });
    e.start('cr1');
    const r = e.runFinished('cr1', { error: 'Image size must be a multiple of 512 bytes' });
    expect(r.effects.every((x) => x.type !== 'event' || x.event === 'JOB_STATUS_CHANGE')).toBe(
      true,
    );
    expect(e.queryJobs()[0]?.error).toBe('Image size must be a multiple of 512 bytes');
  });
});

describe('queries', () => {
  test('newest first; query-block-jobs reports exactly the BlockJobInfo fields', () => {
    const e = new JobEngine();
    e.create({ id: 'a', type: 'stream' });
    e.create({ id: 'cr', type: 'create' });
    e.create({ id: 'b', type: 'backup', speed: 10, autoDismiss: false });
    expect(e.queryJobs().map((j) => j.id)).toEqual(['b', 'cr', 'a']);
    expect(e.queryBlockJobs()).toEqual([
      {
        type: 'backup',
        device: 'b',
        len: 0,
        offset: 0,
        busy: false,
        paused: true,
        speed: 10,
        'io-status': 'ok',
        ready: false,
        status: 'created',
        'auto-finalize': true,
        'auto-dismiss': false,
      },
      {
        type: 'stream',
        device: 'a',
        len: 0,
        offset: 0,
        busy: false,
        paused: true,
        speed: 0,
        'io-status': 'ok',
        ready: false,
        status: 'created',
        'auto-finalize': true,
        'auto-dismiss': true,
      },
    ]);
  });

  test('progress: current only grows, total may shrink and grow', () => {
    const e = new JobEngine();
    e.create({ id: 'm', type: 'mirror' });
    e.progress('m', { setRemaining: 100 });
    e.progress('m', { workDone: 60 });
    e.progress('m', { setRemaining: 10 });
    expect(e.queryJobs()[0]).toMatchObject({ 'current-progress': 60, 'total-progress': 70 });
    e.progress('m', { increaseRemaining: 30 });
    expect(e.queryJobs()[0]).toMatchObject({ 'current-progress': 60, 'total-progress': 100 });
    expect(e.progress('m', { workDone: -1 }).ok).toBe(false);
    expect(e.progress('m', { workDone: 1.5 }).ok).toBe(false);
  });
});

// Recorded on qemu-storage-daemon 7.2.22 while writing the engine: null-co 64 MiB source and
// target, `blockdev-backup` at speed 1 (one 1 MiB chunk, then a rate-limit sleep).
describe('throttled backup (recorded on the 7.2 binary)', () => {
  function throttledBackup(id: string, autoDismiss = true) {
    const t = new Transcript();
    const e = t.engine;
    t.note(e.create({ id, type: 'backup', speed: 1, autoDismiss }));
    t.note(e.pauseInternal(id));
    t.note(e.start(id));
    t.note(e.resumeInternal(id));
    // The driver's first chunk passes the rate limit; then it sleeps.
    e.progress(id, { setRemaining: L, workDone: 1048576 });
    t.note(e.sleep(id));
    t.lines.push('R {}');
    return t;
  }

  test('set-speed 0 wakes it and it finishes before the reply', () => {
    const t = throttledBackup('b1');
    expect(t.engine.queryBlockJobs()[0]).toMatchObject({
      busy: false,
      len: L,
      offset: 1048576,
      status: 'running',
      paused: false,
      speed: 1,
    });
    const r = t.note(t.engine.blockJobSetSpeed('b1', 0));
    expect(r.effects.at(-1)).toEqual({
      type: 'enter',
      id: 'b1',
      reason: 'set-speed',
      when: 'before-reply',
    });
    // Acting before the reply, the null-co driver copies the rest and returns.
    t.note(t.engine.progress('b1', { workDone: L - 1048576 }));
    t.note(t.engine.runFinished('b1'));
    t.reply(r);
    expect(t.lines).toEqual([
      'b1 created',
      'b1 running',
      'b1 paused',
      'b1 running',
      'R {}',
      'b1 waiting',
      'b1 pending',
      'BLOCK_JOB_COMPLETED b1',
      'b1 concluded',
      'b1 null',
      'R {}',
    ]);
    expect(t.effects).toContainEqual({
      type: 'event',
      event: 'BLOCK_JOB_COMPLETED',
      data: { type: 'backup', device: 'b1', len: L, offset: L, speed: 0 },
    });
  });

  // Recorded on qemu-storage-daemon 7.2.22 (1 GiB null-co, speed 1): the backup job waits in
  // job_yield while block-copy sleeps in the rate limiter. set-speed kicks block-copy but does
  // not enter the job (job_enter_cond with job_timer_pending), so it stays idle (busy false), and
  // a later cancel enters it and aborts it before the reply.
  test('set-speed does not enter a backup waiting in job_yield; cancel then aborts it', () => {
    const t = new Transcript();
    const e = t.engine;
    t.note(e.create({ id: 'b3', type: 'backup', speed: 1 }));
    t.note(e.pauseInternal('b3'));
    t.note(e.start('b3'));
    t.note(e.resumeInternal('b3'));
    e.progress('b3', { setRemaining: L, workDone: 1048576 });
    t.note(e.jobYield('b3'));
    t.clear();
    const faster = t.cmd('block-job-set-speed', { device: 'b3', speed: 4096 });
    expect(faster.effects).toEqual([]);
    expect(e.queryBlockJobs()[0]).toMatchObject({ busy: false, speed: 4096, status: 'running' });
    t.cmd('block-job-set-speed', { device: 'b3', speed: 1 });
    t.cmd('job-cancel', { id: 'b3' });
    expect(t.lines).toEqual([
      'R {}',
      'R {}',
      'b3 aborting',
      'BLOCK_JOB_CANCELLED b3',
      'b3 concluded',
      'b3 null',
      'R {}',
    ]);
  });

  test('pause, resume, cancel (auto-dismiss false), query, dismiss', () => {
    const t = throttledBackup('b2', false);
    t.clear();
    t.cmd('job-pause', { id: 'b2' });
    t.cmd('job-resume', { id: 'b2' });
    // Backup throttling lives in block-copy: it goes straight back to sleep.
    t.note(t.engine.sleep('b2'));
    const cancel = t.cmd('job-cancel', { id: 'b2' });
    expect(t.engine.queryJobs()).toEqual([
      {
        'current-progress': 1048576,
        status: 'concluded',
        'total-progress': L,
        type: 'backup',
        id: 'b2',
        error: 'Operation canceled',
      },
    ]);
    t.cmd('job-dismiss', { id: 'b2' });
    expect(t.lines).toEqual([
      'b2 paused',
      'R {}',
      'b2 running',
      'R {}',
      'b2 aborting',
      'BLOCK_JOB_CANCELLED b2',
      'b2 concluded',
      'R {}',
      'b2 null',
      'R {}',
    ]);
    expect(cancel.effects).toContainEqual({
      type: 'event',
      event: 'BLOCK_JOB_CANCELLED',
      data: { device: 'b2', len: L, offset: 1048576, speed: 1, type: 'backup' },
    });
  });
});
