import { describe, expect, test } from 'vitest';
import { FaultPlan, seededUnit } from './plan.js';

describe('seeded decisions', () => {
  const run = (seed: number) => {
    const plan = new FaultPlan(seed, [
      { kind: 'delay-reply', command: 'query-jobs', ms: 10, jitter: 90, probability: 0.5 },
      { kind: 'split' },
    ]);
    const delays = Array.from({ length: 40 }, () => plan.forCommand('query-jobs').delayMs);
    const splits = Array.from({ length: 10 }, () => plan.splitPoints(200));
    return { delays, splits, fired: plan.firings };
  };

  test('the same seed takes the same decisions', () => {
    expect(run(1234)).toEqual(run(1234));
  });

  test('another seed takes others; probability and jitter are honoured', () => {
    const a = run(1);
    const b = run(2);
    expect(a.delays).not.toEqual(b.delays);
    for (const r of [a, b]) {
      const applied = r.delays.filter((d) => d > 0);
      // About half of 40 apply (binomial: 8..32 holds with overwhelming probability).
      expect(applied.length).toBeGreaterThan(8);
      expect(applied.length).toBeLessThan(32);
      for (const d of applied) expect(d).toBeGreaterThanOrEqual(10);
      for (const d of applied) expect(d).toBeLessThanOrEqual(100);
      expect(new Set(applied).size).toBeGreaterThan(3);
    }
  });

  test('decisions of one fault do not depend on how often others were met', () => {
    const plan = new FaultPlan(9, [
      { kind: 'delay-reply', command: 'query-jobs', ms: 0, jitter: 1000 },
      { kind: 'delay-reply', command: 'query-block', ms: 0, jitter: 1000 },
    ]);
    const other = new FaultPlan(9, [
      { kind: 'delay-reply', command: 'query-jobs', ms: 0, jitter: 1000 },
      { kind: 'delay-reply', command: 'query-block', ms: 0, jitter: 1000 },
    ]);
    const first = [plan.forCommand('query-jobs'), plan.forCommand('query-jobs')];
    for (let i = 0; i < 5; i++) other.forCommand('query-block');
    expect([other.forCommand('query-jobs'), other.forCommand('query-jobs')]).toEqual(first);
  });

  test('seededUnit spreads over [0, 1)', () => {
    const values = Array.from({ length: 1000 }, (_, i) => seededUnit(5, 1, i, 0));
    for (const v of values) expect(v >= 0 && v < 1).toBe(true);
    const mean = values.reduce((a, b) => a + b) / values.length;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
  });
});

describe('what each kind decides', () => {
  test('count bounds the firings; commands are matched by name', () => {
    const plan = new FaultPlan(1, [{ kind: 'drop', command: 'blockdev-mirror', count: 1 }]);
    expect(plan.forCommand('query-jobs').drop).toBe(false);
    expect(plan.forCommand('blockdev-mirror').drop).toBe(true);
    expect(plan.forCommand('blockdev-mirror').drop).toBe(false);
    expect(plan.firings).toHaveLength(1);
  });

  test('a built-in meets only the faults that name it', () => {
    const plan = new FaultPlan(1, [
      { kind: 'delay-reply', ms: 7 },
      { kind: 'delay-reply', ms: 100, command: 'query-version' },
      { kind: 'drop', command: 'quit' },
    ]);
    expect(plan.forCommand('query-jobs')).toEqual({ delayMs: 7, eventsFirstMs: 0, drop: false });
    expect(plan.forCommand('query-version', true)).toEqual({
      delayMs: 100,
      eventsFirstMs: 0,
      drop: false,
    });
    expect(plan.forCommand('qmp_capabilities', true)).toEqual({
      delayMs: 0,
      eventsFirstMs: 0,
      drop: false,
    });
    expect(plan.forCommand('quit', true).drop).toBe(true);
  });

  test('drop on a job status matches the job and the status', () => {
    const plan = new FaultPlan(1, [{ kind: 'drop', job: 'j', status: 'ready' }]);
    expect(plan.dropOnJobStatus('j', 'running')).toBe(false);
    expect(plan.dropOnJobStatus('k', 'ready')).toBe(false);
    expect(plan.dropOnJobStatus('j', 'ready')).toBe(true);
  });

  test('split points cut inside the text, ascending, as many as asked', () => {
    const plan = new FaultPlan(3, [{ kind: 'split', pieces: 5 }]);
    for (let i = 0; i < 50; i++) {
      const points = plan.splitPoints(100)!;
      expect(points).toHaveLength(4);
      expect([...points].sort((a, b) => a - b)).toEqual(points);
      for (const p of points) expect(p > 0 && p < 100).toBe(true);
    }
    expect(plan.splitPoints(1)).toBeUndefined();
  });

  test('dismiss-race waits for the named job only, for ms or 10 s', () => {
    const plan = new FaultPlan(1, [{ kind: 'dismiss-race', job: 'b', ms: 50 }]);
    expect(plan.dismissRace(['a'])).toBeUndefined();
    expect(plan.dismissRace(['a', 'b'])).toEqual({ job: 'b', ms: 50 });
    expect(new FaultPlan(1, [{ kind: 'dismiss-race' }]).dismissRace(['x'])).toEqual({
      job: 'x',
      ms: 10_000,
    });
  });

  test('greeting holds: for ever without ms; none without the fault', () => {
    expect(new FaultPlan(1, [{ kind: 'hold-greeting' }]).greetingHold()).toBe(
      Number.POSITIVE_INFINITY,
    );
    expect(new FaultPlan(1, [{ kind: 'hold-greeting', ms: 50 }]).greetingHold()).toBe(50);
    expect(new FaultPlan(1).greetingHold()).toBe(0);
  });

  test('clear removes the faults; describe reports seed, faults and firings', () => {
    const plan = new FaultPlan(77, [{ kind: 'events-first', command: 'job-cancel' }]);
    expect(plan.forCommand('job-cancel').eventsFirstMs).toBe(1000);
    expect(plan.describe()).toMatchObject({
      seed: 77,
      faults: [{ id: 1, fault: 'events-first,command=job-cancel', met: 1, fired: 1 }],
      fired: [{ fault: 1, kind: 'events-first', occasion: 1 }],
    });
    plan.clear();
    expect(plan.forCommand('job-cancel').eventsFirstMs).toBe(0);
    expect(plan.add({ kind: 'split' })).toBe(2);
  });
});

describe('progress faults', () => {
  const MiB = 1024 * 1024;

  test('slow-progress: a rate, or a percentage of the rate the job would copy at', () => {
    const plan = new FaultPlan(1, [
      { kind: 'slow-progress', job: 'a', rate: 16 * MiB },
      { kind: 'slow-progress', job: 'b', percent: 10 },
    ]);
    expect(plan.paceOf('a', Number.POSITIVE_INFINITY, 0)).toEqual({
      pace: 16 * MiB,
      until: undefined,
    });
    expect(plan.paceOf('b', 100 * MiB, 0).pace).toBe(10 * MiB);
    // A percentage of no limit is no limit.
    expect(plan.paceOf('b', Number.POSITIVE_INFINITY, 0).pace).toBeUndefined();
    expect(plan.paceOf('c', 100 * MiB, 0).pace).toBeUndefined();
  });

  test('stall-progress: 0 while it lasts, from when the job first met it', () => {
    const plan = new FaultPlan(1, [{ kind: 'stall-progress', ms: 500 }]);
    expect(plan.paceOf('a', Number.POSITIVE_INFINITY, 1000)).toEqual({ pace: 0, until: 1500 });
    expect(plan.paceOf('b', Number.POSITIVE_INFINITY, 1200)).toEqual({ pace: 0, until: 1700 });
    expect(plan.paceOf('a', Number.POSITIVE_INFINITY, 1499).pace).toBe(0);
    expect(plan.paceOf('a', Number.POSITIVE_INFINITY, 1500).pace).toBeUndefined();
    expect(plan.paceOf('b', Number.POSITIVE_INFINITY, 1500).pace).toBe(0);
  });

  test('decided once per job (count, probability), forgotten when the job is gone', () => {
    const plan = new FaultPlan(1, [{ kind: 'stall-progress', count: 1 }]);
    expect(plan.paceOf('a', 1, 0).pace).toBe(0);
    expect(plan.paceOf('a', 1, 5).pace).toBe(0);
    expect(plan.paceOf('b', 1, 5).pace).toBeUndefined();
    expect(plan.firings.map((f) => f.what)).toEqual(["stalled job a's progress"]);
    plan.jobGone('a');
    // Its one firing is used up: a new job a is not stalled.
    expect(plan.paceOf('a', 1, 9).pace).toBeUndefined();
  });

  test('the slowest applies; a stall wins', () => {
    const plan = new FaultPlan(1, [
      { kind: 'slow-progress', rate: 8 * MiB },
      { kind: 'slow-progress', rate: 4 * MiB },
    ]);
    expect(plan.paceOf('a', Number.POSITIVE_INFINITY, 0).pace).toBe(4 * MiB);
    plan.add({ kind: 'stall-progress' });
    expect(plan.paceOf('a', Number.POSITIVE_INFINITY, 0).pace).toBe(0);
  });
});
