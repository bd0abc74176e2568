import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { JobTimelineModel } from './timeline.js';
import { timelineRecords, timelineToNdjson, timelineToOtel } from './timeline-export.js';

const status = (id: string, s: string) => ({ id, status: s });

/** QEMU 7.2's event sequence of a mirror completed after ready (job-semantics §5). */
function mirrorToCompletion(model: JobTimelineModel, id: string, t0: number, len: number): number {
  let t = t0;
  const after = (ms: number) => {
    t += ms;
    return t;
  };
  model.applyEvent('JOB_STATUS_CHANGE', status(id, 'created'), t);
  model.applyEvent('JOB_STATUS_CHANGE', status(id, 'running'), after(10));
  const mark = model.mark();
  model.applySnapshot(
    [{ id, type: 'mirror', status: 'running', 'current-progress': len / 2, 'total-progress': len }],
    [{ device: id, speed: 0 }],
    mark,
    after(1000),
  );
  model.applyEvent('JOB_STATUS_CHANGE', status(id, 'ready'), after(1000));
  model.applyEvent(
    'BLOCK_JOB_READY',
    { type: 'mirror', device: id, len, offset: len, speed: 0 },
    t,
  );
  for (const s of ['waiting', 'pending']) {
    model.applyEvent('JOB_STATUS_CHANGE', status(id, s), after(100));
  }
  model.applyEvent(
    'BLOCK_JOB_COMPLETED',
    { type: 'mirror', device: id, len, offset: len, speed: 0 },
    after(1),
  );
  for (const s of ['concluded', 'null']) {
    model.applyEvent('JOB_STATUS_CHANGE', status(id, s), after(1));
  }
  return t;
}

describe('JobTimelineModel', () => {
  test('a mirror run to completion: intervals, samples, outcome', () => {
    const model = new JobTimelineModel();
    const end = mirrorToCompletion(model, 'm1', 1000, 1 << 20);
    const [job] = model.all(end);
    expect(job?.intervals.map((i) => i.status)).toEqual([
      'created',
      'running',
      'ready',
      'waiting',
      'pending',
      'concluded',
      'null',
    ]);
    // Each interval ends where the next begins.
    const intervals = job?.intervals ?? [];
    for (let i = 1; i < intervals.length; i++) {
      expect(intervals[i - 1]?.end).toBe(intervals[i]?.start);
    }
    expect(job).toMatchObject({
      id: 'm1',
      type: 'mirror',
      status: 'null',
      ended: end,
      outcome: 'completed',
      error: null,
      current: 1 << 20,
      total: 1 << 20,
      fraction: 1,
      speed: 0,
      rate: null,
      etaMs: null,
    });
    expect(job?.samples.map((s) => s.current)).toEqual([1 << 19, 1 << 20]);
  });

  test('rate and ETA from progress over time', () => {
    const model = new JobTimelineModel({ rateWindowMs: 10_000 });
    model.applyEvent('JOB_STATUS_CHANGE', status('b', 'created'), 0);
    model.applyEvent('JOB_STATUS_CHANGE', status('b', 'running'), 0);
    const info = (c: number) => [
      {
        id: 'b',
        type: 'backup',
        status: 'running' as const,
        'current-progress': c,
        'total-progress': 1000,
      },
    ];
    model.applySnapshot(info(0), [], model.mark(), 0);
    model.applySnapshot(info(100), [], model.mark(), 1000);
    model.applySnapshot(info(200), [], model.mark(), 2000);
    const job = model.byId('b', 2000);
    expect(job?.rate).toBe(100);
    expect(job?.etaMs).toBe(8000);
    expect(job?.fraction).toBe(0.2);
  });

  test('a ready mirror whose total grows as fast as it copies has no ETA, and its bar holds', () => {
    const model = new JobTimelineModel({ rateWindowMs: 1000 });
    model.applyEvent('JOB_STATUS_CHANGE', status('m', 'created'), 0);
    model.applyEvent('JOB_STATUS_CHANGE', status('m', 'running'), 0);
    model.applyEvent('JOB_STATUS_CHANGE', status('m', 'ready'), 0);
    const at = (c: number, t: number, now: number) =>
      model.applySnapshot(
        [{ id: 'm', type: 'mirror', status: 'ready', 'current-progress': c, 'total-progress': t }],
        undefined,
        model.mark(),
        now,
      );
    at(1000, 1000, 0);
    // Guest writes: 500 dirty bytes per second, copied at the same pace.
    at(1500, 2000, 1000);
    at(2000, 2500, 2000);
    let job = model.byId('m', 2000);
    expect(job?.rate).toBe(500);
    expect(job?.etaMs).toBeNull(); // what remains (500) does not shrink
    expect(job?.fraction).toBe(1); // it reached 100 % once; a growing total does not move it back
    // The guest stops writing; the mirror copies on at 100/s: 300 left then take 3 s.
    at(2100, 2500, 3000);
    at(2200, 2500, 4000);
    job = model.byId('m', 4000);
    expect(job?.rate).toBe(100);
    expect(job?.etaMs).toBe(3000);
  });

  test('stall: running without progress for stallAfterMs; paused does not stall', () => {
    const model = new JobTimelineModel({ stallAfterMs: 5000 });
    model.applyEvent('JOB_STATUS_CHANGE', status('s', 'created'), 0);
    model.applyEvent('JOB_STATUS_CHANGE', status('s', 'running'), 0);
    const snap = (c: number, st: 'running' | 'paused', now: number) =>
      model.applySnapshot(
        [{ id: 's', type: 'stream', status: st, 'current-progress': c, 'total-progress': 100 }],
        undefined,
        model.mark(),
        now,
      );
    snap(10, 'running', 1000);
    expect(model.tick(5999)).toEqual([]);
    expect(model.byId('s', 5999)?.stalled).toBe(false);
    const seq = model.byId('s', 0)?.seq as number;
    expect(model.tick(6000)).toEqual([seq]);
    expect(model.byId('s', 6000)).toMatchObject({ stalled: true, stalledSince: 1000 });
    snap(20, 'running', 7000);
    expect(model.tick(7000)).toEqual([seq]);
    expect(model.byId('s', 7000)?.stalled).toBe(false);
    model.applyEvent('JOB_STATUS_CHANGE', status('s', 'paused'), 8000);
    expect(model.byId('s', 60_000)?.stalled).toBe(false);
    // Resumed: the clock starts again from the resume, not from the last progress.
    model.applyEvent('JOB_STATUS_CHANGE', status('s', 'running'), 60_000);
    expect(model.byId('s', 64_000)?.stalled).toBe(false);
    expect(model.byId('s', 65_000)?.stalled).toBe(true);
  });

  test('BLOCK_JOB_ERROR entries with operation and action; a failed completion', () => {
    const model = new JobTimelineModel();
    model.applyEvent('JOB_STATUS_CHANGE', status('e', 'created'), 0);
    model.applyEvent('JOB_STATUS_CHANGE', status('e', 'running'), 1);
    model.applyEvent('BLOCK_JOB_ERROR', { device: 'e', operation: 'read', action: 'stop' }, 2);
    model.applyEvent('JOB_STATUS_CHANGE', status('e', 'paused'), 2);
    model.applyEvent('JOB_STATUS_CHANGE', status('e', 'running'), 3);
    model.applyEvent('BLOCK_JOB_ERROR', { device: 'e', operation: 'read', action: 'report' }, 4);
    model.applyEvent('JOB_STATUS_CHANGE', status('e', 'aborting'), 4);
    model.applyEvent(
      'BLOCK_JOB_COMPLETED',
      { type: 'mirror', device: 'e', len: 10, offset: 2, speed: 0, error: 'Input/output error' },
      5,
    );
    model.applyEvent('JOB_STATUS_CHANGE', status('e', 'concluded'), 5);
    model.applyEvent('JOB_STATUS_CHANGE', status('e', 'null'), 6);
    const job = model.byId('e', 6);
    expect(job?.errors).toEqual([
      { time: 2, kind: 'io', operation: 'read', action: 'stop' },
      { time: 4, kind: 'io', operation: 'read', action: 'report' },
      { time: 5, kind: 'failed', message: 'Input/output error' },
    ]);
    expect(job).toMatchObject({ outcome: 'failed', error: 'Input/output error' });
  });

  test('a job cancelled (aborting without error) and a create job that failed (query-jobs)', () => {
    const model = new JobTimelineModel();
    for (const s of ['created', 'running', 'aborting'])
      model.applyEvent('JOB_STATUS_CHANGE', status('c', s), 0);
    model.applyEvent(
      'BLOCK_JOB_CANCELLED',
      { type: 'mirror', device: 'c', len: 5, offset: 1, speed: 0 },
      1,
    );
    for (const s of ['concluded', 'null']) model.applyEvent('JOB_STATUS_CHANGE', status('c', s), 2);
    expect(model.byId('c', 2)?.outcome).toBe('cancelled');

    for (const s of ['created', 'running', 'aborting', 'concluded']) {
      model.applyEvent('JOB_STATUS_CHANGE', status('x', s), 10);
    }
    model.applySnapshot(
      [
        {
          id: 'x',
          type: 'create',
          status: 'concluded',
          'current-progress': 1,
          'total-progress': 1,
          error: "Could not create 'f': No such file",
        },
      ],
      [],
      model.mark(),
      11,
    );
    model.applyEvent('JOB_STATUS_CHANGE', status('x', 'null'), 12);
    expect(model.byId('x', 12)).toMatchObject({
      type: 'create',
      outcome: 'failed',
      error: "Could not create 'f': No such file",
    });
  });

  test('snapshots: a stale answer does not override a newer event nor revive an ended job', () => {
    const model = new JobTimelineModel();
    model.applyEvent('JOB_STATUS_CHANGE', status('j', 'created'), 0);
    model.applyEvent('JOB_STATUS_CHANGE', status('j', 'running'), 0);
    const mark = model.mark(); // query sent …
    model.applyEvent('JOB_STATUS_CHANGE', status('j', 'paused'), 1); // … an event overtakes it
    const stale = [
      {
        id: 'j',
        type: 'mirror',
        status: 'running' as const,
        'current-progress': 1,
        'total-progress': 2,
      },
    ];
    model.applySnapshot(stale, [], mark, 2);
    expect(model.byId('j', 2)?.status).toBe('paused');
    const mark2 = model.mark();
    for (const s of ['running', 'aborting', 'concluded', 'null'])
      model.applyEvent('JOB_STATUS_CHANGE', status('j', s), 3);
    model.applySnapshot(stale, [], mark2, 4);
    expect(model.size).toEqual({ kept: 1, live: 0 });
    // A job gone from the answer without an event since the mark has ended (missed its null).
    model.applyEvent('JOB_STATUS_CHANGE', status('k', 'created'), 5);
    model.applySnapshot([], [], model.mark(), 6);
    expect(model.byId('k', 6)).toMatchObject({ status: 'null', ended: 6 });
  });

  test('events written before an answer but delivered after it reopen the run it ended', () => {
    const model = new JobTimelineModel();
    for (const s of ['created', 'running', 'ready'])
      model.applyEvent('JOB_STATUS_CHANGE', status('r', s), 0);
    const mark = model.mark();
    // QEMU: waiting … null, then the query's reply (without r). The reply is handled first.
    model.applySnapshot([], [], mark, 5);
    expect(model.byId('r', 5)?.status).toBe('null');
    model.applyEvent('JOB_STATUS_CHANGE', status('r', 'waiting'), 6);
    model.applyEvent('JOB_STATUS_CHANGE', status('r', 'pending'), 6);
    model.applyEvent(
      'BLOCK_JOB_COMPLETED',
      { type: 'mirror', device: 'r', len: 1, offset: 1, speed: 0 },
      6,
    );
    model.applyEvent('JOB_STATUS_CHANGE', status('r', 'concluded'), 6);
    model.applyEvent('JOB_STATUS_CHANGE', status('r', 'null'), 7);
    const runs = model.all(7);
    expect(runs).toHaveLength(1);
    expect(runs[0]?.intervals.map((i) => i.status)).toEqual([
      'created',
      'running',
      'ready',
      'waiting',
      'pending',
      'concluded',
      'null',
    ]);
    expect(runs[0]).toMatchObject({ ended: 7, outcome: 'completed' });
  });

  test('an id reused after null is a new run; speed changes are recorded', () => {
    const model = new JobTimelineModel();
    mirrorToCompletion(model, 'm', 0, 100);
    model.applyEvent('JOB_STATUS_CHANGE', status('m', 'created'), 10_000);
    const runs = model.all(10_000);
    expect(runs.map((r) => [r.id, r.status])).toEqual([
      ['m', 'null'],
      ['m', 'created'],
    ]);
    expect(runs[0]?.seq).not.toBe(runs[1]?.seq);
    const mark = model.mark();
    model.applySnapshot(
      [{ id: 'm', type: 'mirror', status: 'created', 'current-progress': 0, 'total-progress': 0 }],
      [{ device: 'm', speed: 1024 }],
      mark,
      10_001,
    );
    model.applySnapshot(
      [{ id: 'm', type: 'mirror', status: 'created', 'current-progress': 0, 'total-progress': 0 }],
      [{ device: 'm', speed: 0 }],
      model.mark(),
      10_002,
    );
    expect(model.byId('m', 10_002)?.speeds).toEqual([
      { time: 10_001, speed: 1024 },
      { time: 10_002, speed: 0 },
    ]);
  });

  test('bounded: jobs, samples and entries', () => {
    const model = new JobTimelineModel({ maxJobs: 3, maxSamples: 8, maxEntries: 4 });
    for (let i = 0; i < 5; i++) mirrorToCompletion(model, `j${i}`, i * 10_000, 100);
    expect(model.all(1e6).map((j) => j.id)).toEqual(['j2', 'j3', 'j4']);
    // Four live jobs do not fit in three; nothing ended can make room for the fourth.
    const live = new JobTimelineModel({ maxJobs: 3 });
    for (let i = 0; i < 4; i++) live.applyEvent('JOB_STATUS_CHANGE', status(`l${i}`, 'created'), 0);
    expect(live.size).toEqual({ kept: 3, live: 3 });
    expect(live.untracked).toBe(1);
    const [job] = new JobTimelineModel({ maxSamples: 8, maxEntries: 4 }).all(0);
    expect(job).toBeUndefined();
    const one = new JobTimelineModel({ maxSamples: 8, maxEntries: 4 });
    one.applyEvent('JOB_STATUS_CHANGE', status('p', 'created'), 0);
    for (let t = 1; t <= 100; t++) {
      one.applySnapshot(
        [
          {
            id: 'p',
            type: 'stream',
            status: 'running',
            'current-progress': t,
            'total-progress': 100,
          },
        ],
        [{ device: 'p', speed: t }],
        one.mark(),
        t,
      );
    }
    const p = one.byId('p', 100);
    expect(p?.samples.length).toBeLessThanOrEqual(8);
    expect(p?.samples.at(-1)).toEqual({ time: 100, current: 100, total: 100 });
    expect(p?.speeds.length).toBe(4);
    expect(p?.speeds[0]).toEqual({ time: 1, speed: 1 }); // the first is kept
    expect(p?.dropped).toBeGreaterThan(0);
  });

  test("peek: the same view as get, on the model's own lists (get copies them)", () => {
    const model = new JobTimelineModel();
    model.applyEvent('JOB_STATUS_CHANGE', status('j', 'created'), 0);
    model.applyEvent('JOB_STATUS_CHANGE', status('j', 'running'), 10);
    const seq = model.byId('j', 10)?.seq as number;
    const copied = model.get(seq, 20);
    const peeked = model.peek(seq, 20);
    expect(peeked).toEqual(copied);
    model.applyEvent('JOB_STATUS_CHANGE', status('j', 'paused'), 30);
    // The peeked lists follow the model; the copy keeps what it was.
    expect(peeked?.intervals.map((i) => i.status)).toEqual(['created', 'running', 'paused']);
    expect(peeked?.intervals[1]?.end).toBe(30);
    expect(copied?.intervals.map((i) => i.status)).toEqual(['created', 'running']);
    expect(copied?.intervals[1]?.end).toBeUndefined();
    expect(model.peek(seq + 1, 30)).toBeUndefined();
  });

  test('non-job events and malformed data are ignored', () => {
    const model = new JobTimelineModel();
    expect(model.applyEvent('SHUTDOWN', { guest: false }, 0)).toEqual([]);
    expect(model.applyEvent('JOB_STATUS_CHANGE', null, 0)).toEqual([]);
    expect(model.applyEvent('__proto__', {}, 0)).toEqual([]);
    expect(model.applyEvent('JOB_STATUS_CHANGE', { id: 1, status: 'running' }, 0)).toEqual([]);
    expect(model.size.kept).toBe(0);
  });

  test('property: fraction and current never decrease, samples stay bounded', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(1e9), fc.nat(1e9), fc.nat(1000)), { minLength: 1, maxLength: 80 }),
        (samples) => {
          const model = new JobTimelineModel({ maxSamples: 16 });
          model.applyEvent('JOB_STATUS_CHANGE', status('q', 'created'), 0);
          let now = 0;
          let fraction = 0;
          let current = 0;
          for (const [c, t, dt] of samples) {
            now += dt;
            model.applySnapshot(
              [
                {
                  id: 'q',
                  type: 'mirror',
                  status: 'running',
                  'current-progress': c,
                  'total-progress': t,
                },
              ],
              [],
              model.mark(),
              now,
            );
            const job = model.byId('q', now);
            if (job === undefined) throw new Error('lost');
            expect(job.fraction).toBeGreaterThanOrEqual(fraction);
            expect(job.current).toBeGreaterThanOrEqual(current);
            expect(job.total).toBeGreaterThanOrEqual(job.current);
            expect(job.samples.length).toBeLessThanOrEqual(16);
            if (job.etaMs !== null) expect(job.etaMs).toBeGreaterThanOrEqual(0);
            fraction = job.fraction;
            current = job.current;
          }
        },
      ),
    );
  });
});

describe('timeline exports', () => {
  test('NDJSON: one record per line, in time order, ending with the outcome', () => {
    const model = new JobTimelineModel();
    mirrorToCompletion(model, 'm1', 1_700_000_000_000, 100);
    const text = timelineToNdjson(model.all(0));
    const lines = text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(text.endsWith('\n')).toBe(true);
    expect(lines.map((l) => l.kind)).toEqual([
      'status', // created
      'status', // running
      'progress',
      'speed',
      'status', // ready
      'progress',
      'status', // waiting
      'status', // pending
      'status', // concluded
      'status', // null
      'end',
    ]);
    for (let i = 1; i < lines.length; i++)
      expect(lines[i].time).toBeGreaterThanOrEqual(lines[i - 1].time);
    expect(lines.at(-1)).toEqual({
      time: lines.at(-1).time,
      job: 'm1',
      seq: 1,
      type: 'mirror',
      kind: 'end',
      outcome: 'completed',
      error: null,
    });
    expect(timelineRecords([])).toEqual([]);
  });

  test('OpenTelemetry: a span per job, events per status change, error status for failures', () => {
    const model = new JobTimelineModel();
    const t0 = 1_700_000_000_000;
    mirrorToCompletion(model, 'ok', t0, 100);
    model.applyEvent('JOB_STATUS_CHANGE', status('bad', 'created'), t0 + 5000);
    model.applyEvent(
      'BLOCK_JOB_ERROR',
      { device: 'bad', operation: 'write', action: 'report' },
      t0 + 5001,
    );
    model.applyEvent(
      'BLOCK_JOB_COMPLETED',
      {
        type: 'backup',
        device: 'bad',
        len: 4,
        offset: 1,
        speed: 0,
        error: 'No space left on device',
      },
      t0 + 5002,
    );
    model.applyEvent('JOB_STATUS_CHANGE', status('live', 'created'), t0 + 6000);
    const out = timelineToOtel(model.all(t0 + 7000), { now: t0 + 7000, traceSeed: 'vm1' });
    const spans = out.resourceSpans[0]?.scopeSpans[0]?.spans ?? [];
    expect(spans.map((s) => s.name)).toEqual([
      'qemu.job mirror',
      'qemu.job backup',
      'qemu.job unknown',
    ]);
    const [ok, bad, live] = spans;
    expect(ok?.startTimeUnixNano).toBe(`${t0}000000`);
    expect(ok?.events.map((e) => e.name)).toEqual([
      'created',
      'running',
      'ready',
      'waiting',
      'pending',
      'concluded',
      'null',
    ]);
    expect(ok?.status).toEqual({ code: 1 });
    expect(bad?.status).toEqual({ code: 2, message: 'No space left on device' });
    expect(bad?.events.map((e) => e.name)).toEqual(['created', 'BLOCK_JOB_ERROR', 'exception']);
    expect(live?.endTimeUnixNano).toBe(`${t0 + 7000}000000`);
    expect(live?.attributes).toContainEqual({ key: 'qmpkit.job.open', value: { boolValue: true } });
    // Ids are hex of the OTLP widths, one trace, distinct spans, stable across exports.
    expect(new Set(spans.map((s) => s.traceId)).size).toBe(1);
    expect(ok?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(spans.map((s) => s.spanId)).size).toBe(3);
    for (const s of spans) expect(s.spanId).toMatch(/^[0-9a-f]{16}$/);
    const again = timelineToOtel(model.all(t0 + 7000), { now: t0 + 7000, traceSeed: 'vm1' });
    expect(again).toEqual(out);
  });
});
