import { expect, test } from 'vitest';
import { HANG_GUARD_MS, until } from './hang-guard.js';

test('the hang guard is minutes, inside the suite-wide 180 s test timeout', () => {
  expect(HANG_GUARD_MS).toBeGreaterThanOrEqual(60_000);
  expect(HANG_GUARD_MS).toBeLessThan(180_000);
});

test('until resolves once a condition turns true, checking it again after each pause', async () => {
  let checks = 0;
  let ready = false;
  setTimeout(() => {
    ready = true;
  }, 0);
  await expect(
    until(() => {
      checks++;
      return ready;
    }),
  ).resolves.toBe(true);
  expect(checks).toBeGreaterThanOrEqual(2);
});

test('until returns the value a probe finds, and awaits an asynchronous probe', async () => {
  const seen: string[] = [];
  setTimeout(() => seen.push('a'), 0);
  await expect(until(() => seen[0])).resolves.toBe('a');
  let n = 0;
  await expect(until(async () => (++n === 3 ? 0 : null))).resolves.toBe(0);
});

test('until rejects after its deadline, naming what it waited for', async () => {
  await expect(until(() => false, 'the reply 7', 20)).rejects.toThrow(
    'timed out waiting for the reply 7',
  );
  await expect(until(() => 1 > 2, undefined, 20)).rejects.toThrow(
    'timed out waiting for () => 1 > 2',
  );
  let last = 0;
  await expect(
    until(
      () => ++last > 1e9 || undefined,
      () => `more, last ${last}`,
      20,
    ),
  ).rejects.toThrow(/^timed out waiting for more, last \d+$/);
});

test('an error the probe throws ends the wait', async () => {
  await expect(
    until(() => {
      throw new Error('the process ended first');
    }),
  ).rejects.toThrow('the process ended first');
});
