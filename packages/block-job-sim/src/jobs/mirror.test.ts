// Scenario tests of the mirror job, on a virtual clock. Expected transcripts are the ones of
// docs/reference/job-semantics.md (recorded on QEMU 7.2.22); expected progress steps come from
// QEMU's chunk sizes (block/mirror.c 16 MiB buffer, block/stream.c and block/commit.c 512 KiB,
// block-copy 1 MiB) and include/qemu/ratelimit.h's formula with 100 ms slices.
import { beforeEach, describe, expect, test } from 'vitest';
import { MiB, mirrorPair, Scenario } from './scenario.test-helper.js';

let s: Scenario;

beforeEach(() => {
  s = new Scenario();
});

describe('mirror', () => {
  test('ready, then job-complete: the reply comes before waiting (§6.2)', () => {
    mirrorPair(s);
    s.mirror({ 'job-id': 'j1' });
    expect(s.take()).toEqual(['j1 created', 'j1 running', 'R']);
    s.step(100);
    expect(s.take()).toEqual(['j1 ready', 'READY j1 67108864/67108864']);
    s.run('job-complete', { id: 'j1' });
    expect(s.take()).toEqual([
      'R',
      'j1 waiting',
      'j1 pending',
      'COMPLETED j1 67108864/67108864',
      'j1 concluded',
      'j1 null',
    ]);
  });

  test('sync=none has nothing to copy: READY before the reply', () => {
    mirrorPair(s);
    s.run('blockdev-mirror', { 'job-id': 'j1', device: 'src', target: 'dst', sync: 'none' });
    expect(s.take()).toEqual(['j1 created', 'j1 running', 'j1 ready', 'READY j1 0/0', 'R']);
  });

  test.each([
    [
      'job-cancel',
      { id: 'j1' },
      ['R', 'j1 aborting', 'CANCELLED j1 67108864/67108864', 'j1 concluded', 'j1 null'],
    ],
    [
      'block-job-cancel',
      { device: 'j1' },
      [
        'R',
        'j1 waiting',
        'j1 pending',
        'COMPLETED j1 67108864/67108864',
        'j1 concluded',
        'j1 null',
      ],
    ],
    [
      'block-job-cancel',
      { device: 'j1', force: true },
      ['R', 'j1 aborting', 'CANCELLED j1 67108864/67108864', 'j1 concluded', 'j1 null'],
    ],
  ])('cancel variants of a ready mirror: %s %o (§6.3)', (command, args, expected) => {
    mirrorPair(s);
    s.mirror({ 'job-id': 'j1' });
    s.step(100);
    s.take();
    s.run(command, args);
    expect(s.take()).toEqual(expected);
  });

  test('a hard cancel leaves "Operation canceled"; a soft one no error (§6.3)', () => {
    mirrorPair(s);
    s.mirror({ 'job-id': 'j1', 'auto-dismiss': false });
    s.step(100);
    s.run('job-cancel', { id: 'j1' });
    expect(s.job('j1')).toMatchObject({ status: 'concluded', error: 'Operation canceled' });
    s.run('job-dismiss', { id: 'j1' });
    s.mirror({ 'job-id': 'j2', 'auto-dismiss': false });
    s.step(100);
    s.run('block-job-cancel', { device: 'j2' });
    const info = s.job('j2');
    expect(info).toMatchObject({ status: 'concluded' });
    expect(info).not.toHaveProperty('error');
  });

  test('soft cancel of a running (not ready) mirror is a hard one (§6.3)', () => {
    mirrorPair(s);
    s.mirror({ 'job-id': 'j1', speed: 1 });
    s.take();
    s.run('block-job-cancel', { device: 'j1' });
    expect(s.take()).toEqual([
      'R',
      'j1 aborting',
      'CANCELLED j1 16777216/67108864',
      'j1 concluded',
      'j1 null',
    ]);
  });

  test('pause and resume while running and while ready; complete in standby (§6.5)', () => {
    mirrorPair(s);
    s.mirror({ speed: 10 * MiB });
    s.take();
    s.run('job-pause', { id: 'm1' });
    expect(s.take()).toEqual(['m1 paused', 'R']);
    expect(s.peek('m1')).toMatchObject({ status: 'paused', paused: true, busy: false });
    s.run('job-resume', { id: 'm1' });
    expect(s.take()).toEqual(['m1 running', 'R']);
    s.run('block-job-set-speed', { device: 'm1', speed: 0 });
    s.step(100);
    expect(s.take()).toEqual(['R', 'm1 ready', 'READY m1 67108864/67108864']);
    s.run('block-job-pause', { device: 'm1' });
    expect(s.take()).toEqual(['m1 standby', 'R']);
    expect(s.peek('m1')).toMatchObject({ status: 'standby', paused: true, ready: true });
    s.run('job-complete', { id: 'm1' });
    s.run('job-complete', { id: 'm1' });
    expect(s.take()).toEqual(['R', 'R']);
    s.run('block-job-resume', { device: 'm1' });
    expect(s.take()).toEqual([
      'm1 ready',
      'R',
      'm1 waiting',
      'm1 pending',
      'COMPLETED m1 67108864/67108864',
      'm1 concluded',
      'm1 null',
    ]);
  });

  test('at 10 MiB/s a mirror moves in 16 MiB bursts every 1.6 s (§8.3)', () => {
    mirrorPair(s);
    s.mirror({ speed: 10 * MiB });
    // quota = 1048576 bytes per 100 ms slice: 16 MiB accounted → next issue at 1.6 s.
    expect(s.peek('m1')?.offset).toBe(16 * MiB);
    s.step(1599);
    expect(s.peek('m1')?.offset).toBe(16 * MiB);
    s.step(1);
    expect(s.peek('m1')?.offset).toBe(32 * MiB);
    s.step(3200);
    expect(s.peek('m1')?.offset).toBe(64 * MiB);
    expect(s.peek('m1')?.status).toBe('running');
    // It sees the source clean only after the last chunk's delay.
    s.take();
    s.step(1600);
    expect(s.take()).toEqual(['m1 ready', 'READY m1 67108864/67108864']);
  });

  test('a virtual clock holds a job at exactly 40%', () => {
    mirrorPair(s, 160 * MiB);
    s.mirror({ speed: 16 * MiB });
    // quota 1677721 B/slice: the k-th 16 MiB chunk is issued at trunc(k * 16 MiB / quota * 1e8).
    s.step(3100);
    const info = s.peek('m1') as { offset: number; len: number };
    expect(info.offset / info.len).toBe(0.4);
    s.run('query-jobs');
    expect((s.job('m1') as { 'current-progress': number })['current-progress']).toBe(64 * MiB);
  });

  test('speed 1: one 16 MiB chunk; pause/resume cycles move 16M → 32M → 48M → 64M (§8.3)', () => {
    mirrorPair(s);
    s.mirror({ speed: 1 });
    s.step(60_000);
    expect(s.peek('m1')?.offset).toBe(16 * MiB);
    for (const mib of [32, 48, 64]) {
      s.run('block-job-pause', { device: 'm1' });
      s.run('block-job-resume', { device: 'm1' });
      s.step(1000);
      expect(s.peek('m1')?.offset).toBe(mib * MiB);
    }
  });

  // Recorded on qemu-storage-daemon 7.2 (conformance scenarios mirror-copied-all-*): asleep in
  // the delay after its last chunk, the mirror's loop reaches its convergence check as soon as
  // anything wakes it, inside the waking command.
  describe('woken after its last chunk, it is ready before the reply', () => {
    const copyAll = () => {
      mirrorPair(s);
      s.mirror({ speed: 512 });
      s.step(1000);
      for (let i = 0; i < 3; i++) {
        s.run('job-pause', { id: 'm1' });
        s.run('job-resume', { id: 'm1' });
        s.step(1000);
      }
      expect(s.peek('m1')).toMatchObject({ offset: 64 * MiB, busy: false, ready: false });
      s.take();
    };

    test('by job-resume', () => {
      copyAll();
      s.run('job-pause', { id: 'm1' });
      s.run('job-resume', { id: 'm1' });
      expect(s.take()).toEqual([
        'm1 paused',
        'R',
        'm1 running',
        'm1 ready',
        'READY m1 67108864/67108864',
        'R',
      ]);
    });

    test('by a drain (empty transaction)', () => {
      copyAll();
      s.run('transaction', { actions: [] });
      expect(s.take()).toEqual([
        'm1 paused',
        'm1 running',
        'm1 ready',
        'READY m1 67108864/67108864',
        'R',
      ]);
    });

    test('by a higher speed', () => {
      copyAll();
      s.run('block-job-set-speed', { device: 'm1', speed: 1024 });
      expect(s.take()).toEqual(['m1 ready', 'READY m1 67108864/67108864', 'R']);
    });
  });

  test('raising the speed to 0 wakes a sleeping job at once (§4.3)', () => {
    mirrorPair(s);
    s.mirror({ speed: 1 });
    s.take();
    s.run('block-job-set-speed', { device: 'm1', speed: 0 });
    expect(s.take()).toEqual(['R']);
    expect(s.peek('m1')?.speed).toBe(0);
    // The remaining 48 MiB at 1 GiB/s: 46.875 ms.
    s.stepNs(46_874_999);
    expect(s.take()).toEqual([]);
    s.stepNs(1);
    expect(s.take()).toEqual(['m1 ready', 'READY m1 67108864/67108864']);
  });

  test('different sizes: the job starts and fails, with len 0 and no BLOCK_JOB_ERROR (§5.4)', () => {
    s.nullNode('src', 64 * MiB);
    s.nullNode('dst', 32 * MiB);
    s.take();
    s.mirror();
    expect(s.take()).toEqual([
      'm1 created',
      'm1 running',
      'R',
      'm1 aborting',
      'COMPLETED m1 0/0 error=Source and target image have different sizes',
      'm1 concluded',
      'm1 null',
    ]);
  });

  test('cancel while paused: soft refused; job-cancel resumes first (§6.6)', () => {
    mirrorPair(s);
    s.mirror({ speed: 1 });
    s.run('job-pause', { id: 'm1' });
    s.take();
    expect(s.fail('block-job-cancel', { device: 'm1' })).toBe(
      "GenericError: The block job for device 'm1' is currently paused",
    );
    s.take();
    s.run('job-cancel', { id: 'm1' });
    expect(s.take()).toEqual([
      'm1 running',
      'R',
      'm1 aborting',
      'CANCELLED m1 16777216/67108864',
      'm1 concluded',
      'm1 null',
    ]);
  });
});
