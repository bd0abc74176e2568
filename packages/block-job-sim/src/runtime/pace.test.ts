// A job's storage pace (BlockJobSimulator.setPace): slow storage copies at the pace it is given,
// stalled storage (pace 0) makes no progress while the job stays running, and a job goes on at
// its new pace when it changes. Expected progress is the pace times the time passed, in whole
// 16 MiB chunks (the mirror's buffer, QEMU's default buf-size).
import { beforeEach, describe, expect, test } from 'vitest';
import { MiB, mirrorPair, Scenario } from '../jobs/scenario.test-helper.js';

let s: Scenario;

beforeEach(() => {
  s = new Scenario();
  mirrorPair(s);
});

const progress = () => s.job('j1')?.['current-progress'] as number;
const status = () => s.job('j1')?.status;

describe('pace', () => {
  test('without a pace the mirror copies at the throughput (ready within 100 ms)', () => {
    s.mirror({ 'job-id': 'j1' });
    s.step(100);
    expect(status()).toBe('ready');
  });

  test('slow storage: 16 MiB/s copies 16 MiB a second', () => {
    s.sim.simulator.setPace((job) => (job === 'j1' ? 16 * MiB : undefined));
    s.mirror({ 'job-id': 'j1' });
    s.step(1000);
    expect(status()).toBe('running');
    expect(progress()).toBe(16 * MiB);
    s.step(1000);
    expect(progress()).toBe(32 * MiB);
    s.step(2100);
    expect(status()).toBe('ready');
  });

  test('a pace only slows a job: above its speed the speed holds', () => {
    s.sim.simulator.setPace(() => 1024 * MiB);
    s.mirror({ 'job-id': 'j1', speed: 16 * MiB });
    s.step(1000);
    // The limiter's own schedule: 16 MiB/s in 100 ms slices.
    expect(progress()).toBeGreaterThanOrEqual(15 * MiB);
    expect(progress()).toBeLessThanOrEqual(17 * MiB);
  });

  test('stalled storage: the job stays running with no progress, and goes on once it is not', () => {
    s.sim.simulator.setPace(() => 0);
    s.mirror({ 'job-id': 'j1' });
    s.step(60_000);
    expect(status()).toBe('running');
    expect(progress()).toBe(0);
    s.sim.simulator.setPace(undefined);
    s.step(100);
    expect(status()).toBe('ready');
  });

  test('a stall mid-copy freezes progress where it is; a new pace takes over from there', () => {
    s.sim.simulator.setPace(() => 16 * MiB);
    s.mirror({ 'job-id': 'j1' });
    s.step(1000);
    const before = progress();
    expect(before).toBe(16 * MiB);
    s.sim.simulator.setPace(() => 0);
    s.step(30_000);
    expect(progress()).toBe(before);
    expect(status()).toBe('running');
    s.sim.simulator.setPace(() => 32 * MiB);
    s.step(1000);
    expect(progress()).toBe(before + 32 * MiB);
  });
});
