// qmpkit-server's seeded faults end to end: the built bin, a qmp-shell-style raw client, each
// fault provoking what it mimics (and a control without it where QEMU's own behaviour is what
// the fault changes), x-qmpkit-fault at run time, and replaying a run exactly from its seed.
import { until } from '@qmpkit/test-support';
import { afterEach, describe, expect, test } from 'vitest';
import {
  cleanUp,
  client,
  type Message,
  rawConnection,
  startOnSocket,
  startServer,
  statusChange,
} from './bin-harness.js';

afterEach(cleanUp);

const DISKS = [
  '--blockdev',
  'null-co,node-name=src,size=1073741824',
  '--blockdev',
  'null-co,node-name=dst,size=1073741824',
];
const MIRROR = { 'job-id': 'j', device: 'src', target: 'dst', sync: 'full' };

const indexOf = (messages: Message[], match: (m: Message) => boolean) => messages.findIndex(match);

describe('hold-greeting', () => {
  test('the first client is accepted and never greeted; the next one is served', async () => {
    const server = await startOnSocket(['--serve-all-clients', '--fault', 'hold-greeting,count=1']);
    const held = rawConnection(server.socket);
    held.send('qmp_capabilities');
    held.send('query-jobs');
    await until(() => server.stderr().includes('client 1 connected'), 'the held client to connect');
    const next = await client(server.socket);
    const plan = (await next.call('x-qmpkit-fault')).return as { fired: { what: string }[] };
    expect(plan.fired.map((f) => f.what)).toEqual(['held a greeting for ever']);
    // The held client got nothing, not even the greeting, and its commands were not read.
    expect(held.received()).toBe('');
    expect(held.closed()).toBe(false);
  });

  test('with ms the greeting comes late, then the session works', async () => {
    const server = await startOnSocket(['--fault', 'hold-greeting,ms=300']);
    const started = Date.now();
    const c = rawConnection(server.socket);
    const caps = c.send('qmp_capabilities');
    await until(() => c.messages.length > 0, 'the greeting');
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(c.messages[0]).toHaveProperty('QMP');
    expect(await c.reply(caps)).toEqual({ return: {}, id: caps });
  });
});

test('delay-reply: the named command answers late; the fault fires for it alone', async () => {
  const server = await startOnSocket(['--fault', 'delay-reply,command=query-jobs,ms=400']);
  const c = await client(server.socket);
  const sent = Date.now();
  const reply = await c.call('query-jobs');
  expect(Date.now() - sent).toBeGreaterThanOrEqual(400);
  expect(reply).toMatchObject({ return: [] });
  await c.call('query-block-jobs');
  const plan = (await c.call('x-qmpkit-fault')).return as { fired: { what: string }[] };
  expect(plan.fired.map((f) => f.what)).toEqual(['delayed the reply to query-jobs by 400 ms']);
});

describe('events-first', () => {
  async function cancelOrder(faults: string[]) {
    const server = await startOnSocket([...DISKS, '--throughput', '64M', ...faults]);
    const c = await client(server.socket);
    expect(await c.call('blockdev-mirror', MIRROR)).toMatchObject({ return: {} });
    await until(() => c.messages.some(statusChange('j', 'running')), 'the mirror to run');
    const cancel = c.send('job-cancel', { id: 'j' });
    await until(() => c.messages.some(statusChange('j', 'null')), 'the job to go');
    await c.reply(cancel);
    return {
      reply: indexOf(c.messages, (m) => m.id === cancel),
      aborting: indexOf(c.messages, statusChange('j', 'aborting')),
      gone: indexOf(c.messages, statusChange('j', 'null')),
    };
  }

  test("QEMU's order without the fault: job-cancel's reply, then the job's events", async () => {
    const order = await cancelOrder([]);
    expect(order.reply).toBeLessThan(order.aborting);
  });

  test('with it the events the command causes come before its reply', async () => {
    const order = await cancelOrder(['--fault', 'events-first,command=job-cancel']);
    expect(order.aborting).toBeLessThan(order.reply);
    expect(order.gone).toBeLessThan(order.reply);
  });
});

describe('drop', () => {
  test('when the job becomes ready: the client never sees READY; a new one finds the job', async () => {
    const server = await startOnSocket([
      ...DISKS,
      '--throughput',
      '1G',
      '--fault',
      'drop,job=j,status=ready',
    ]);
    const c = await client(server.socket);
    expect(await c.call('blockdev-mirror', MIRROR)).toMatchObject({ return: {} });
    await until(() => c.closed(), 'the connection to drop');
    expect(c.messages.some(statusChange('j', 'running'))).toBe(true);
    expect(c.messages.some(statusChange('j', 'ready'))).toBe(false);
    expect(c.messages.some((m) => m.event === 'BLOCK_JOB_READY')).toBe(false);
    const again = await client(server.socket);
    expect(await again.call('query-jobs')).toMatchObject({
      return: [{ id: 'j', type: 'mirror', status: 'ready' }],
    });
  });

  test('after a command ran: no reply, but the job exists', async () => {
    const server = await startOnSocket([...DISKS, '--fault', 'drop,command=blockdev-mirror']);
    const c = await client(server.socket);
    const mirror = c.send('blockdev-mirror', MIRROR);
    await until(() => c.closed(), 'the connection to drop');
    expect(c.messages.some((m) => m.id === mirror)).toBe(false);
    const again = await client(server.socket);
    const jobs = (await again.call('query-jobs')).return as { id: string }[];
    expect(jobs.map((j) => j.id)).toEqual(['j']);
  });
});

describe('io-error', () => {
  const mirrorTo = (policy: string) => ({ ...MIRROR, 'on-target-error': policy });
  const jobError = (m: Message) => m.event === 'BLOCK_JOB_ERROR';

  test('ENOSPC at 40% of the target, on-target-error=stop: the mirror pauses there', async () => {
    const server = await startOnSocket([
      ...DISKS,
      '--throughput',
      '1G',
      '--fault',
      'io-error,node=dst,at=40,errno=ENOSPC',
    ]);
    const c = await client(server.socket);
    expect(await c.call('blockdev-mirror', mirrorTo('stop'))).toMatchObject({ return: {} });
    await until(() => c.messages.some(statusChange('j', 'paused')), 'the job to pause');
    expect(c.messages.find(jobError)).toMatchObject({
      data: { device: 'j', operation: 'write', action: 'stop' },
    });
    const [job] = (await c.call('query-jobs')).return as {
      'current-progress': number;
      'total-progress': number;
      status: string;
    }[];
    expect(job!.status).toBe('paused');
    expect(job!['current-progress']).toBeLessThanOrEqual(0.4 * job!['total-progress']);
    // Every try fails there again (the disk stays full): resumed, it stops again.
    const errors = () => c.messages.filter(jobError).length;
    const before = errors();
    expect(await c.call('job-resume', { id: 'j' })).toMatchObject({ return: {} });
    await until(() => errors() > before, 'a second error');
  });

  test('on-target-error=report: the mirror fails with the errno of the fault', async () => {
    const server = await startOnSocket([
      ...DISKS,
      '--fault',
      'io-error,node=dst,at=40,errno=ENOSPC',
    ]);
    const c = await client(server.socket);
    expect(await c.call('blockdev-mirror', mirrorTo('report'))).toMatchObject({ return: {} });
    await until(() => c.messages.some(statusChange('j', 'null')), 'the job to end');
    expect(c.messages.find((m) => m.event === 'BLOCK_JOB_COMPLETED')).toMatchObject({
      data: { device: 'j', error: 'No space left on device' },
    });
    expect(c.messages.find(jobError)).toMatchObject({ data: { action: 'report' } });
  });

  test('count=1 fails once: resumed, the mirror gets to ready', async () => {
    const server = await startOnSocket([...DISKS, '--fault', 'io-error,node=dst,at=10,count=1']);
    const c = await client(server.socket);
    expect(await c.call('blockdev-mirror', mirrorTo('stop'))).toMatchObject({ return: {} });
    await until(() => c.messages.some(statusChange('j', 'paused')), 'the job to pause');
    expect(c.messages.find(jobError)).toMatchObject({ data: { operation: 'write' } });
    expect(await c.call('job-resume', { id: 'j' })).toMatchObject({ return: {} });
    await until(() => c.messages.some(statusChange('j', 'ready')), 'the mirror to be ready');
  });

  test('a node that is not there: the server does not start', async () => {
    const server = startServer([
      '--socket',
      '/nonexistent-dir/q.sock',
      '--fault',
      'io-error,node=nope,at=1',
    ]);
    expect(await server.exited).toBe(1);
    expect(server.stderr()).toContain("--fault: Cannot find device='nope' nor node-name='nope'");
  });
});

describe('dismiss-race', () => {
  async function twoPolls(faults: string[]) {
    const server = await startOnSocket([...DISKS, ...faults]);
    const c = await client(server.socket);
    // A backup (auto-dismissed) that takes about 4 s at its speed.
    expect(
      await c.call('blockdev-backup', {
        'job-id': 'b',
        device: 'src',
        target: 'dst',
        sync: 'full',
        speed: 256 * 1024 * 1024,
      }),
    ).toMatchObject({ return: {} });
    const first = (await c.call('query-jobs')).return as { id: string; status: string }[];
    const second = (await c.call('query-jobs')).return as { id: string; status: string }[];
    return { first, second, c };
  }

  test('without it, the next poll still lists the running job', async () => {
    const { first, second } = await twoPolls([]);
    expect(first).toMatchObject([{ id: 'b', status: 'running' }]);
    expect(second).toMatchObject([{ id: 'b', status: 'running' }]);
  });

  test('with it, the job ends and is dismissed between two polls: the poller never sees it end', async () => {
    const { first, second, c } = await twoPolls(['--fault', 'dismiss-race,job=b,ms=60000']);
    expect(first).toMatchObject([{ id: 'b', status: 'running' }]);
    expect(second).toEqual([]);
    // It did conclude (the events say so) while the poll waited.
    expect(c.messages.some(statusChange('b', 'concluded'))).toBe(true);
  });
});

describe('split and coalesce', () => {
  test.each([['split,pieces=3'], ['coalesce,ms=50'], ['split']])(
    '%s: a line-reading client gets every message intact',
    async (fault) => {
      const server = await startOnSocket([...DISKS, '--fault', fault]);
      const c = await client(server.socket);
      expect(await c.call('blockdev-mirror', { ...MIRROR, 'auto-dismiss': false })).toMatchObject({
        return: {},
      });
      await until(() => c.messages.some(statusChange('j', 'ready')), 'the mirror to be ready');
      expect(await c.call('job-complete', { id: 'j' })).toMatchObject({ return: {} });
      await until(() => c.messages.some(statusChange('j', 'concluded')), 'the mirror to conclude');
      expect(await c.call('job-dismiss', { id: 'j' })).toMatchObject({ return: {} });
      const plan = (await c.call('x-qmpkit-fault')).return as {
        fired: { kind: string }[];
      };
      expect(plan.fired.length).toBeGreaterThan(0);
      expect(c.received().endsWith('\r\n')).toBe(true);
    },
  );
});

describe('x-qmpkit-fault', () => {
  test('in the schema with every kind; adds faults at run time; refuses bad ones', async () => {
    const server = await startOnSocket(['--fault-seed', '5']);
    const c = await client(server.socket);
    const schema = (await c.call('query-qmp-schema')).return as {
      name: string;
      'arg-type'?: string;
      members?: { name: string; type: string }[];
      values?: string[];
    }[];
    const command = schema.find((e) => e.name === 'x-qmpkit-fault')!;
    const args = schema.find((e) => e.name === command['arg-type'])!;
    const kind = args.members!.find((m) => m.name === 'kind')!;
    expect(schema.find((e) => e.name === kind.type)!.values).toEqual([
      'hold-greeting',
      'delay-reply',
      'events-first',
      'drop',
      'split',
      'coalesce',
      'dismiss-race',
      'io-error',
      'slow-progress',
      'stall-progress',
    ]);
    expect(await c.call('x-qmpkit-fault')).toEqual({
      return: { seed: 5, faults: [], fired: [] },
      id: expect.any(Number),
    });
    expect(
      await c.call('x-qmpkit-fault', { kind: 'delay-reply', command: 'query-jobs', ms: 250 }),
    ).toMatchObject({
      return: { faults: [{ id: 1, fault: 'delay-reply,command=query-jobs,ms=250' }] },
    });
    const sent = Date.now();
    await c.call('query-jobs');
    expect(Date.now() - sent).toBeGreaterThanOrEqual(250);
    expect(await c.call('x-qmpkit-fault', { kind: 'drop' })).toMatchObject({
      error: {
        class: 'GenericError',
        desc: "a drop fault needs either 'command' or 'job' and 'status'",
      },
    });
    expect(await c.call('x-qmpkit-fault', { kind: 'bogus' })).toMatchObject({
      error: { class: 'GenericError' },
    });
    expect(await c.call('x-qmpkit-fault', { clear: true })).toMatchObject({
      return: { faults: [] },
    });
  });

  test("without a fault option the schema is exactly QEMU's", async () => {
    const server = await startOnSocket([]);
    const c = await client(server.socket);
    expect(await c.call('x-qmpkit-fault')).toMatchObject({ error: { class: 'CommandNotFound' } });
  });
});

describe('a seed replays a run exactly', () => {
  async function run(seed: string) {
    const server = await startOnSocket([
      '--fault-seed',
      seed,
      '--fault',
      'delay-reply,command=query-jobs,ms=0,jitter=40,probability=0.5',
    ]);
    const c = await client(server.socket);
    for (let i = 0; i < 12; i++) await c.call('query-jobs');
    const plan = (await c.call('x-qmpkit-fault')).return as { fired: unknown[] };
    await until(() => server.stderr().includes(`seed ${seed}`), 'the seed on stderr');
    return plan.fired;
  }

  test('the same seed meets the same faults; another seed others', async () => {
    const first = await run('31337');
    expect(first.length).toBeGreaterThan(0);
    expect(await run('31337')).toEqual(first);
    expect(await run('4242')).not.toEqual(first);
  });

  test('without --fault-seed the seed chosen is printed for the rerun', async () => {
    const server = await startOnSocket(['--fault', 'split']);
    await client(server.socket);
    const printed = /faults: seed \d+ \(repeat with --fault-seed \d+\)/;
    await until(() => printed.test(server.stderr()), 'the seed on stderr');
  });
});

describe('slow-progress and stall-progress', () => {
  // On the virtual clock time moves only with x-qmpkit-clock-step, so progress is exact: the
  // expected offsets are the storage's rate times the time stepped, in whole 16 MiB chunks (the
  // mirror's buffer, QEMU's default buf-size).
  const MiB = 1024 * 1024;
  const VIRTUAL = [...DISKS, '--clock', 'virtual', '--throughput', '1G'];
  async function mirrorAfter(args: string[], steps: number[]) {
    const server = await startOnSocket([...VIRTUAL, ...args]);
    const c = await client(server.socket);
    expect(await c.call('blockdev-mirror', MIRROR)).toMatchObject({ return: {} });
    const seen: { status: string; progress: number }[] = [];
    for (const ms of steps) {
      await c.call('x-qmpkit-clock-step', { ns: ms * 1_000_000 });
      const [job] = (await c.call('query-jobs')).return as {
        status: string;
        'current-progress': number;
      }[];
      seen.push({ status: job!.status, progress: job!['current-progress'] });
    }
    return { c, seen };
  }

  test('without a fault the 1 GiB mirror copies at --throughput 1G: ready after a second', async () => {
    const { seen } = await mirrorAfter([], [1100]);
    expect(seen[0]!.status).toBe('ready');
  });

  test.each(['7.2', '10.0'])(
    'slow-progress,rate=16M on QEMU %s: 16 MiB a second, the job running',
    async (version) => {
      const { seen } = await mirrorAfter(
        ['--qemu-version', version, '--fault', 'slow-progress,job=j,rate=16M'],
        [1000, 1000],
      );
      expect(seen.map((s) => s.status)).toEqual(['running', 'running']);
      expect(seen.map((s) => s.progress)).toEqual([16 * MiB, 32 * MiB]);
    },
  );

  test('slow-progress,percent=10: a tenth of the rate the job would copy at', async () => {
    const { seen } = await mirrorAfter(['--fault', 'slow-progress,percent=10'], [1000]);
    expect(seen[0]!.status).toBe('running');
    // 102.4 MiB/s: six 16 MiB chunks done by then (the seventh at 1.09 s).
    expect(seen[0]!.progress).toBe(96 * MiB);
  });

  test.each(['7.2', '10.0'])(
    'stall-progress on QEMU %s: running with no progress for a minute; cleared, it goes on',
    async (version) => {
      const { c, seen } = await mirrorAfter(
        ['--qemu-version', version, '--fault', 'stall-progress,job=j'],
        [60_000],
      );
      expect(seen).toEqual([{ status: 'running', progress: 0 }]);
      expect(await c.call('x-qmpkit-fault', { clear: true })).toMatchObject({ return: {} });
      await c.call('x-qmpkit-clock-step', { ns: 1_100_000_000 });
      await until(() => c.messages.some(statusChange('j', 'ready')), 'the mirror to be ready');
    },
  );

  test('added at run time, a stall freezes the job where it is', async () => {
    const { c, seen } = await mirrorAfter(['--fault-seed', '3'], [250]);
    expect(seen[0]!.status).toBe('running');
    expect(await c.call('x-qmpkit-fault', { kind: 'stall-progress', job: 'j' })).toMatchObject({
      return: { faults: [{ fault: 'stall-progress,job=j' }] },
    });
    await c.call('x-qmpkit-clock-step', { ns: 10_000_000_000 });
    const [job] = (await c.call('query-jobs')).return as Message[];
    expect(job).toMatchObject({ status: 'running', 'current-progress': seen[0]!.progress });
  });

  test('stall-progress,ms=N: the job goes on once the stall is over', async () => {
    const server = await startOnSocket([
      ...DISKS,
      '--throughput',
      '1G',
      '--fault',
      'stall-progress,job=j,ms=400',
    ]);
    const c = await client(server.socket);
    const started = Date.now();
    expect(await c.call('blockdev-mirror', MIRROR)).toMatchObject({ return: {} });
    await until(() => c.messages.some(statusChange('j', 'ready')), 'the mirror to be ready');
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
  });
});

test('io-error on --qemu-version 10.0: ENOSPC at 40%, on-target-error=stop, the mirror pauses there', async () => {
  const server = await startOnSocket([
    ...DISKS,
    '--qemu-version',
    '10.0',
    '--throughput',
    '1G',
    '--fault',
    'io-error,node=dst,at=40,errno=ENOSPC',
  ]);
  const c = await client(server.socket);
  expect((await c.call('query-version')).return).toMatchObject({ qemu: { major: 10, minor: 0 } });
  expect(await c.call('blockdev-mirror', { ...MIRROR, 'on-target-error': 'stop' })).toMatchObject({
    return: {},
  });
  await until(() => c.messages.some(statusChange('j', 'paused')), 'the job to pause');
  expect(c.messages.find((m) => m.event === 'BLOCK_JOB_ERROR')).toMatchObject({
    data: { device: 'j', operation: 'write', action: 'stop' },
  });
});

describe('faults on the commands the server answers itself', () => {
  test('drop,command=quit: quit runs (jobs cancelled, the server exits) but its reply never comes', async () => {
    const server = await startOnSocket([...DISKS, '--fault', 'drop,command=quit']);
    const c = await client(server.socket);
    expect(await c.call('blockdev-mirror', MIRROR)).toMatchObject({ return: {} });
    const quit = c.send('quit');
    await until(() => c.closed(), 'the connection cut');
    expect(c.messages.some((m) => m.id === quit)).toBe(false);
    // quit did its work: the server cancelled the job and ended cleanly.
    expect(await server.exited).toBe(0);
    expect(server.stderr()).toContain('dropped the connection after quit ran, before its reply');
  });

  test('drop on qmp_capabilities cuts the negotiation; delay-reply on query-version holds its reply', async () => {
    const server = await startOnSocket([
      '--fault',
      'delay-reply,command=query-version,ms=300',
      '--fault',
      'drop,command=qmp_capabilities,count=1',
    ]);
    // The first client's negotiation is cut: qmp_capabilities ran, its reply never came.
    const cut = rawConnection(server.socket);
    await until(() => cut.messages.length > 0, 'the greeting');
    cut.send('qmp_capabilities');
    await until(() => cut.closed(), 'the first client cut');
    expect(cut.messages).toHaveLength(1);

    // The next one negotiates; its query-version answers late, and (as on QEMU, whose monitor
    // runs one in-band command at a time) the query-jobs sent behind it waits for it.
    const c = await client(server.socket);
    const sent = Date.now();
    const version = c.send('query-version');
    const jobs = c.send('query-jobs');
    await c.reply(jobs);
    expect(Date.now() - sent).toBeGreaterThanOrEqual(300);
    const replies = c.messages.filter((m) => m.id === version || m.id === jobs);
    expect(replies.map((m) => m.id)).toEqual([version, jobs]);
    expect(replies[0]).toMatchObject({ return: { qemu: { major: 10 } } });
    const plan = (await c.call('x-qmpkit-fault')).return as { fired: { what: string }[] };
    expect(plan.fired.map((f) => f.what)).toEqual([
      'dropped the connection after qmp_capabilities ran, before its reply',
      'delayed the reply to query-version by 300 ms',
    ]);
  });
});
