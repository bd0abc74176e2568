import { until } from '@qmpkit/test-support';
import { describe, expect, test } from 'vitest';
import { RealClock, VirtualClock } from './clock.js';

describe('VirtualClock', () => {
  test('runs due timers in time order, then creation order, each at its own time', () => {
    const clock = new VirtualClock();
    const seen: string[] = [];
    clock.setTimer(30, () => seen.push(`c@${clock.now()}`));
    clock.setTimer(10, () => seen.push(`a@${clock.now()}`));
    clock.setTimer(10, () => seen.push(`b@${clock.now()}`));
    clock.advanceNs(20);
    expect(seen).toEqual(['a@10', 'b@10']);
    expect(clock.now()).toBe(20);
    clock.advance(1);
    expect(seen).toEqual(['a@10', 'b@10', 'c@30']);
    expect(clock.now()).toBe(1_000_020);
  });

  test('a timer set by a timer within the step runs in the same step', () => {
    const clock = new VirtualClock();
    const seen: number[] = [];
    clock.setTimer(5, () => clock.setTimer(7, () => seen.push(clock.now())));
    clock.advanceNs(10);
    expect(seen).toEqual([7]);
  });

  test('cancelled timers do not run; a past time runs at the next step, never at once', () => {
    const clock = new VirtualClock(100);
    const seen: string[] = [];
    const cancel = clock.setTimer(150, () => seen.push('cancelled'));
    clock.setTimer(50, () => seen.push(`late@${clock.now()}`));
    expect(seen).toEqual([]);
    cancel();
    cancel();
    expect(clock.pendingTimers).toBe(1);
    clock.runDue();
    expect(seen).toEqual(['late@100']);
    clock.advanceNs(100);
    expect(seen).toEqual(['late@100']);
    expect(clock.nextTimerAt()).toBeUndefined();
  });

  test('many re-armed timers do not pile up', () => {
    const clock = new VirtualClock();
    let cancel = clock.setTimer(1e12, () => {});
    for (let i = 0; i < 100_000; i++) {
      cancel();
      cancel = clock.setTimer(1e12 + i, () => {});
    }
    expect(clock.pendingTimers).toBe(1);
    expect(clock.nextTimerAt()).toBe(1e12 + 99_999);
  });

  test('refuses a negative step and a step from inside a timer', () => {
    const clock = new VirtualClock();
    expect(() => clock.advanceNs(-1)).toThrow(RangeError);
    let inner: unknown;
    clock.setTimer(1, () => {
      try {
        clock.advanceNs(1);
      } catch (error) {
        inner = error;
      }
    });
    clock.advanceNs(1);
    expect(inner).toBeInstanceOf(Error);
  });
});

describe('RealClock', () => {
  test('fires timers from the host event loop, in order, and stops when closed', async () => {
    let ms = 0;
    const clock = new RealClock({ nowMs: () => ms });
    const seen: number[] = [];
    clock.setTimer(2e6, () => seen.push(2));
    clock.setTimer(1e6, () => seen.push(1));
    clock.setTimer(5e9, () => seen.push(5000));
    ms = 3;
    await until(() => seen.length >= 2);
    expect(seen).toEqual([1, 2]);
    clock.close();
    ms = 10_000;
    clock.runDue();
    expect(seen).toEqual([1, 2]);
  });

  test('runDue runs overdue timers synchronously', () => {
    let ms = 0;
    const clock = new RealClock({ nowMs: () => ms });
    const seen: number[] = [];
    clock.setTimer(1e6, () => seen.push(clock.now()));
    ms = 1.5;
    clock.runDue();
    expect(seen).toEqual([1_500_000]);
    clock.close();
  });
});
