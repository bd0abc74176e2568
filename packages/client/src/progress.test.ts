import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { jobIdOfEvent } from './job-ids.js';
import { ProgressMeter } from './progress.js';

describe('ProgressMeter', () => {
  test('rate and ETA from samples apart in time', () => {
    const meter = new ProgressMeter({ smoothing: 1 });
    expect(meter.update(0, 1000, 0)).toMatchObject({ current: 0, total: 1000, fraction: 0 });
    const second = meter.update(250, 1000, 1000);
    expect(second).toMatchObject({ current: 250, fraction: 0.25, rate: 250, etaMs: 3000 });
  });

  test('a growing total holds the fraction instead of moving it back', () => {
    const meter = new ProgressMeter();
    meter.update(500, 1000, 0);
    const grown = meter.update(600, 4000, 10);
    expect(grown?.fraction).toBe(0.5);
    expect(grown?.total).toBe(4000);
    expect(meter.update(3000, 4000, 20)?.fraction).toBe(0.75);
  });

  test('a shrinking current (never from QEMU, but defensively) is ignored', () => {
    const meter = new ProgressMeter();
    meter.update(500, 1000, 0);
    expect(meter.update(100, 1000, 10)).toBeUndefined();
    expect(meter.latest.current).toBe(500);
  });

  test('bigint samples (uint64 from the codec) are accepted', () => {
    const meter = new ProgressMeter();
    expect(meter.update(5n, 10n, 0)).toMatchObject({ current: 5, total: 10, fraction: 0.5 });
  });

  test('property: fraction and current never decrease, total is never below current', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(1e9), fc.nat(1e9), fc.nat(1000)), { minLength: 1, maxLength: 50 }),
        (samples) => {
          const meter = new ProgressMeter();
          let now = 0;
          let fraction = 0;
          let current = 0;
          for (const [c, t, dt] of samples) {
            now += dt;
            meter.update(c, t, now);
            const report = meter.latest;
            expect(report.fraction).toBeGreaterThanOrEqual(fraction);
            expect(report.current).toBeGreaterThanOrEqual(current);
            expect(report.total).toBeGreaterThanOrEqual(report.current);
            expect(report.fraction).toBeLessThanOrEqual(1);
            fraction = report.fraction;
            current = report.current;
          }
        },
      ),
    );
  });
});

describe('jobIdOfEvent', () => {
  test('reads data.id or data.device as QEMU puts them', () => {
    expect(jobIdOfEvent({ event: 'JOB_STATUS_CHANGE', data: { id: 'j', status: 'running' } })).toBe(
      'j',
    );
    expect(jobIdOfEvent({ event: 'BLOCK_JOB_PENDING', data: { type: 'backup', id: 'b' } })).toBe(
      'b',
    );
    for (const name of [
      'BLOCK_JOB_READY',
      'BLOCK_JOB_COMPLETED',
      'BLOCK_JOB_CANCELLED',
      'BLOCK_JOB_ERROR',
    ]) {
      expect(jobIdOfEvent({ event: name, data: { device: 'm', id: 'wrong' } })).toBe('m');
    }
    expect(jobIdOfEvent({ event: 'SHUTDOWN', data: { id: 'x' } })).toBeUndefined();
    expect(jobIdOfEvent({ event: 'toString', data: { id: 'x' } })).toBeUndefined();
    expect(jobIdOfEvent({ event: 'JOB_STATUS_CHANGE' })).toBeUndefined();
  });
});
