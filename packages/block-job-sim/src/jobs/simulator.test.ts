// Scenario tests of the job simulator on a virtual clock. Expected transcripts are the ones of
// shared/reference/job-semantics.md (recorded on QEMU 7.2.22); expected progress steps come from
// QEMU's chunk sizes (block/mirror.c 16 MiB buffer, block/stream.c and block/commit.c 512 KiB,
// block-copy 1 MiB) and include/qemu/ratelimit.h's formula with 100 ms slices.
import { beforeEach, describe, expect, test } from 'vitest';
import { BlockLayer } from '../block-layer.js';
import { VirtualClock } from '../clock/clock.js';
import { MemoryImageStore } from '../image-store.js';
import { qemuSchema } from '../qemu-schema.test-helper.js';
import { MiB, qcow2Image, Scenario } from './scenario.test-helper.js';
import { createSimulator } from './simulator.js';

let s: Scenario;

beforeEach(() => {
  s = new Scenario();
});

/** A 64 MiB qcow2 `top` over a 64 MiB null-co `base`: streaming copies all of it. */
function streamChain(size = 64 * MiB) {
  s.nullNode('base', size);
  s.overlay('top', size, 'base');
  s.take();
}

function mirrorPair(size = 64 * MiB) {
  s.nullNode('src', size);
  s.nullNode('dst', size);
  s.take();
}

describe('stream', () => {
  test('a normal run: created, running, reply, then waiting … null (§5.6)', () => {
    streamChain();
    s.run('block-stream', { device: 'top', 'job-id': 's1' });
    expect(s.take()).toEqual(['s1 created', 's1 running', 'R']);
    // 64 MiB at the default 1 GiB/s takes 62.5 ms.
    s.step(62);
    expect(s.take()).toEqual([]);
    s.step(1);
    expect(s.take()).toEqual([
      's1 waiting',
      's1 pending',
      'COMPLETED s1 67108864/67108864',
      's1 concluded',
      's1 null',
    ]);
    const completed = s.events.find((e) => e.event === 'BLOCK_JOB_COMPLETED');
    expect(completed?.data).toEqual({
      type: 'stream',
      device: 's1',
      len: 67108864,
      offset: 67108864,
      speed: 0,
    });
  });

  test('right after start: 0 of the device length, busy (§8.1)', () => {
    streamChain();
    s.run('block-stream', { device: 'top', 'job-id': 's1' });
    expect(s.blockJob('s1')).toMatchObject({ len: 67108864, offset: 0, busy: true, paused: false });
  });

  test('nothing to stream: the whole sequence, len 0, before the reply (§5.6)', () => {
    s.nullNode('lone', MiB);
    s.take();
    s.run('block-stream', { device: 'lone', 'job-id': 's1' });
    expect(s.take()).toEqual([
      's1 created',
      's1 running',
      's1 waiting',
      's1 pending',
      'COMPLETED s1 0/0',
      's1 concluded',
      's1 null',
      'R',
    ]);
  });

  test('at 4 MiB/s it moves in 512 KiB chunks on ratelimit.h slice ends (§8.3)', () => {
    streamChain();
    s.run('block-stream', { device: 'top', 'job-id': 's1', speed: 4 * MiB });
    // The first chunk passes at once (after the reply).
    expect(s.peek('s1')).toMatchObject({ offset: 512 * 1024, busy: false });
    // quota = trunc(4 MiB/s * 0.1 s) = 419430 bytes; the chunk with 512 KiB accounted is issued
    // at trunc(524288 / 419430 * 1e8) ns = 125000119 ns.
    s.stepNs(125000118);
    expect(s.peek('s1')).toMatchObject({ offset: 512 * 1024 });
    s.stepNs(1);
    expect(s.peek('s1')).toMatchObject({ offset: 1024 * 1024 });
    // About +2 MiB per 0.5 s: chunk 5 is issued at trunc(5 * 524288 / 419430 * 1e8) =
    // 625000596 ns.
    s.stepNs(500_000_000);
    expect(s.peek('s1')?.offset).toBe(5 * 512 * 1024);
    s.stepNs(625000596 - 625000119);
    expect(s.peek('s1')?.offset).toBe(6 * 512 * 1024);
  });

  test('speed 1: one chunk, then it sleeps; each pause/resume lets one more through (§8.3)', () => {
    streamChain();
    s.run('block-stream', { device: 'top', 'job-id': 's1', speed: 1 });
    s.step(10_000);
    expect(s.peek('s1')?.offset).toBe(512 * 1024);
    for (const expected of [1, 1.5, 2]) {
      s.run('job-pause', { id: 's1' });
      s.run('job-resume', { id: 's1' });
      s.step(1000);
      expect(s.peek('s1')?.offset).toBe(expected * MiB);
    }
  });

  test('only the backing file’s data is copied; what the top holds counts at once', () => {
    s.nullNode('base', 4 * MiB);
    // Guest clusters 0..15 (the first MiB) are allocated in the top itself.
    s.overlay('top', 4 * MiB, 'base', [...Array(16).keys()]);
    s.take();
    s.run('block-stream', { device: 'top', 'job-id': 's1', speed: 1 });
    // The first iteration passes over the allocated MiB and copies one chunk.
    expect(s.peek('s1')).toMatchObject({ len: 4 * MiB, offset: MiB + 512 * 1024 });
  });

  test('auto-finalize=false, auto-dismiss=false (§6.4)', () => {
    streamChain(MiB);
    s.run('block-stream', {
      device: 'top',
      'job-id': 's1',
      'auto-finalize': false,
      'auto-dismiss': false,
    });
    s.take();
    s.step(10);
    expect(s.take()).toEqual(['s1 waiting', 's1 pending', 'PENDING s1']);
    expect(s.job('s1')).toMatchObject({ status: 'pending' });
    expect(s.blockJob('s1')).toMatchObject({ paused: false, ready: false });
    s.take();
    s.run('job-finalize', { id: 's1' });
    expect(s.take()).toEqual(['COMPLETED s1 1048576/1048576', 's1 concluded', 'R']);
    s.run('job-dismiss', { id: 's1' });
    expect(s.take()).toEqual(['s1 null', 'R']);
  });

  test('job-cancel of an idle (throttled) stream: everything before the reply (§6.9)', () => {
    streamChain();
    s.run('block-stream', { device: 'top', 'job-id': 's1', speed: 1 });
    s.take();
    s.run('job-cancel', { id: 's1' });
    expect(s.take()).toEqual([
      's1 aborting',
      'CANCELLED s1 524288/67108864',
      's1 concluded',
      's1 null',
      'R',
    ]);
  });
});

describe('mirror', () => {
  test('ready, then job-complete: the reply comes before waiting (§6.2)', () => {
    mirrorPair();
    s.run('blockdev-mirror', { 'job-id': 'j1', device: 'src', target: 'dst', sync: 'full' });
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
    mirrorPair();
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
    mirrorPair();
    s.run('blockdev-mirror', { 'job-id': 'j1', device: 'src', target: 'dst', sync: 'full' });
    s.step(100);
    s.take();
    s.run(command, args);
    expect(s.take()).toEqual(expected);
  });

  test('a hard cancel leaves "Operation canceled"; a soft one no error (§6.3)', () => {
    mirrorPair();
    s.run('blockdev-mirror', {
      'job-id': 'j1',
      device: 'src',
      target: 'dst',
      sync: 'full',
      'auto-dismiss': false,
    });
    s.step(100);
    s.run('job-cancel', { id: 'j1' });
    expect(s.job('j1')).toMatchObject({ status: 'concluded', error: 'Operation canceled' });
    s.run('job-dismiss', { id: 'j1' });
    s.run('blockdev-mirror', {
      'job-id': 'j2',
      device: 'src',
      target: 'dst',
      sync: 'full',
      'auto-dismiss': false,
    });
    s.step(100);
    s.run('block-job-cancel', { device: 'j2' });
    const info = s.job('j2');
    expect(info).toMatchObject({ status: 'concluded' });
    expect(info).not.toHaveProperty('error');
  });

  test('soft cancel of a running (not ready) mirror is a hard one (§6.3)', () => {
    mirrorPair();
    s.run('blockdev-mirror', {
      'job-id': 'j1',
      device: 'src',
      target: 'dst',
      sync: 'full',
      speed: 1,
    });
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
    mirrorPair();
    s.run('blockdev-mirror', {
      'job-id': 'm1',
      device: 'src',
      target: 'dst',
      sync: 'full',
      speed: 10 * MiB,
    });
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
    mirrorPair();
    s.run('blockdev-mirror', {
      'job-id': 'm1',
      device: 'src',
      target: 'dst',
      sync: 'full',
      speed: 10 * MiB,
    });
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
    mirrorPair(160 * MiB);
    s.run('blockdev-mirror', {
      'job-id': 'm1',
      device: 'src',
      target: 'dst',
      sync: 'full',
      speed: 16 * MiB,
    });
    // quota 1677721 B/slice: the k-th 16 MiB chunk is issued at trunc(k * 16 MiB / quota * 1e8).
    s.step(3100);
    const info = s.peek('m1') as { offset: number; len: number };
    expect(info.offset / info.len).toBe(0.4);
    s.run('query-jobs');
    expect((s.job('m1') as { 'current-progress': number })['current-progress']).toBe(64 * MiB);
  });

  test('speed 1: one 16 MiB chunk; pause/resume cycles move 16M → 32M → 48M → 64M (§8.3)', () => {
    mirrorPair();
    s.run('blockdev-mirror', {
      'job-id': 'm1',
      device: 'src',
      target: 'dst',
      sync: 'full',
      speed: 1,
    });
    s.step(60_000);
    expect(s.peek('m1')?.offset).toBe(16 * MiB);
    for (const mib of [32, 48, 64]) {
      s.run('block-job-pause', { device: 'm1' });
      s.run('block-job-resume', { device: 'm1' });
      s.step(1000);
      expect(s.peek('m1')?.offset).toBe(mib * MiB);
    }
  });

  test('raising the speed to 0 wakes a sleeping job at once (§4.3)', () => {
    mirrorPair();
    s.run('blockdev-mirror', {
      'job-id': 'm1',
      device: 'src',
      target: 'dst',
      sync: 'full',
      speed: 1,
    });
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
    s.run('blockdev-mirror', { 'job-id': 'm1', device: 'src', target: 'dst', sync: 'full' });
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
    mirrorPair();
    s.run('blockdev-mirror', {
      'job-id': 'm1',
      device: 'src',
      target: 'dst',
      sync: 'full',
      speed: 1,
    });
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

describe('commit', () => {
  test('active commit is a mirror-like job of type commit with a ready phase (§5.1)', () => {
    s.nullNode('base', 4 * MiB);
    // 24 clusters of 64 KiB allocated in the active layer.
    s.overlay('top', 4 * MiB, 'base', [...Array(24).keys()]);
    s.take();
    s.run('block-commit', { device: 'top', 'job-id': 'c1' });
    expect(s.take()).toEqual(['c1 created', 'c1 running', 'R']);
    s.step(10);
    expect(s.take()).toEqual(['c1 ready', 'READY c1 1572864/1572864']);
    expect(s.peek('c1')).toMatchObject({ type: 'commit', ready: true });
    s.run('job-complete', { id: 'c1' });
    expect(s.take()).toEqual([
      'R',
      'c1 waiting',
      'c1 pending',
      'COMPLETED c1 1572864/1572864',
      'c1 concluded',
      'c1 null',
    ]);
  });

  test('non-active commit runs to completion over the device length', () => {
    s.nullNode('base', 4 * MiB);
    s.overlay('mid', 4 * MiB, 'base', [0, 1]);
    s.overlay('top', 4 * MiB, 'mid');
    s.take();
    s.run('block-commit', { device: 'top', 'top-node': 'mid', 'job-id': 'c1' });
    expect(s.take()).toEqual(['c1 created', 'c1 running', 'R']);
    s.step(10);
    expect(s.take()).toEqual([
      'c1 waiting',
      'c1 pending',
      'COMPLETED c1 4194304/4194304',
      'c1 concluded',
      'c1 null',
    ]);
  });

  test('an unknown device is DeviceNotFound; a non-root one needs a root node (§5.4)', () => {
    s.nullNode('base', MiB);
    s.overlay('top', MiB, 'base');
    expect(s.fail('block-commit', { device: 'nope' })).toBe(
      "DeviceNotFound: Device 'nope' not found",
    );
    expect(s.fail('block-commit', { device: 'base', 'job-id': 'c' })).toBe(
      'GenericError: Need a root block node',
    );
  });
});

describe('backup and drains', () => {
  test('blockdev-backup: created, running, paused, running, reply (§5.7)', () => {
    mirrorPair(4 * MiB);
    s.run('blockdev-backup', {
      device: 'src',
      target: 'dst',
      sync: 'full',
      'job-id': 'b1',
      speed: MiB,
    });
    expect(s.take()).toEqual(['b1 created', 'b1 running', 'b1 paused', 'b1 running', 'R']);
    // 1 MiB chunks at 1 MiB/s (quota 104857 B/slice): chunk k at trunc(k MiB / quota * 1e8).
    expect(s.peek('b1')).toMatchObject({ offset: MiB, busy: false });
    s.step(3000);
    expect(s.peek('b1')?.offset).toBe(3 * MiB);
    s.take();
    s.step(1000);
    expect(s.take()).toEqual([
      'b1 waiting',
      'b1 pending',
      'COMPLETED b1 4194304/4194304',
      'b1 concluded',
      'b1 null',
    ]);
  });

  test('a backup drains every other job: paused, running before the reply (§5.5)', () => {
    streamChain();
    mirrorPair(MiB);
    s.run('block-stream', { device: 'top', 'job-id': 's1', speed: 1 });
    s.take();
    s.run('blockdev-backup', { device: 'src', target: 'dst', sync: 'full', 'job-id': 'b1' });
    expect(s.take()).toEqual([
      's1 paused',
      's1 running',
      'b1 created',
      'b1 running',
      'b1 paused',
      'b1 running',
      'R',
    ]);
    // The drain woke the throttled stream: one more chunk went through.
    expect(s.peek('s1')?.offset).toBe(MiB);
  });

  test('a user-paused job emits nothing; a failing backup still drains (§5.5)', () => {
    streamChain();
    s.run('block-stream', { device: 'top', 'job-id': 's1', speed: 1 });
    s.take();
    s.fail('blockdev-backup', { device: 'nope', target: 'x', sync: 'full', 'job-id': 'b' });
    expect(s.take()).toEqual([
      's1 paused',
      's1 running',
      "R GenericError: Cannot find device='nope' nor node-name='nope'",
    ]);
    s.run('job-pause', { id: 's1' });
    s.take();
    s.run('transaction', { actions: [] });
    expect(s.take()).toEqual(['R']);
  });

  test('a ready mirror goes standby, then ready, in a drain', () => {
    mirrorPair();
    s.nullNode('b-src', MiB);
    s.nullNode('b-dst', MiB);
    s.run('blockdev-mirror', { 'job-id': 'm1', device: 'src', target: 'dst', sync: 'none' });
    s.take();
    s.run('transaction', { actions: [] });
    expect(s.take()).toEqual(['m1 standby', 'm1 ready', 'R']);
  });

  test('a job already on the drained node is paused a second time (§5.8)', () => {
    s.nullNode('x', 4 * MiB);
    s.nullNode('b1', 4 * MiB);
    s.nullNode('b2', 4 * MiB);
    s.run('blockdev-backup', { device: 'x', target: 'b1', sync: 'full', 'job-id': 'X', speed: 1 });
    s.take();
    s.run('blockdev-backup', { device: 'x', target: 'b2', sync: 'full', 'job-id': 'Y', speed: 1 });
    expect(s.take()).toEqual([
      'X paused',
      'X running',
      'X paused',
      'Y created',
      'Y running',
      'Y paused',
      'Y running',
      'X running',
      'R',
    ]);
  });

  test('a paused backup is cancelled entirely before the reply (§6.6)', () => {
    mirrorPair(4 * MiB);
    s.run('blockdev-backup', {
      device: 'src',
      target: 'dst',
      sync: 'full',
      'job-id': 'b',
      speed: 1,
    });
    s.run('job-pause', { id: 'b' });
    s.take();
    s.run('job-cancel', { id: 'b' });
    expect(s.take()).toEqual([
      'b running',
      'b aborting',
      'CANCELLED b 1048576/4194304',
      'b concluded',
      'b null',
      'R',
    ]);
  });

  test('a throttled backup keeps its sleep across pause/resume (§8.3)', () => {
    mirrorPair(4 * MiB);
    s.run('blockdev-backup', {
      device: 'src',
      target: 'dst',
      sync: 'full',
      'job-id': 'b',
      speed: 1,
    });
    for (let i = 0; i < 3; i++) {
      s.run('job-pause', { id: 'b' });
      s.run('job-resume', { id: 'b' });
      s.step(1000);
    }
    expect(s.peek('b')?.offset).toBe(MiB);
  });
});

describe('I/O errors (§5.1, §6.7)', () => {
  /**
   * `name`: raw over blkdebug over a file of `size` bytes (a file has data to read; null-co
   * reports none, so a mirror would not read it); reads fail as `rule` says.
   */
  function failingNode(
    name: string,
    size: number,
    rule: Record<string, unknown> = { event: 'read_aio', errno: 5 },
  ) {
    s.store.put(`/${name}.img`, new Uint8Array(size));
    s.add({
      driver: 'raw',
      'node-name': name,
      file: {
        driver: 'blkdebug',
        'inject-error': [rule],
        image: { driver: 'file', filename: `/${name}.img` },
      },
    });
  }

  test('report (the default): BLOCK_JOB_ERROR, then the job fails; io-status stays ok', () => {
    failingNode('src', 4 * MiB);
    s.nullNode('dst', 4 * MiB);
    s.take();
    s.run('blockdev-backup', {
      device: 'src',
      target: 'dst',
      sync: 'full',
      'job-id': 'b1',
      'auto-dismiss': false,
    });
    s.take();
    // Every read fails: block-copy goes through all four chunks (4 ms at 1 GiB/s), then fails.
    s.step(4);
    expect(s.take()).toEqual([
      'ERROR b1 read report',
      'b1 aborting',
      'COMPLETED b1 0/4194304 error=Input/output error',
      'b1 concluded',
    ]);
    expect(s.job('b1')).toMatchObject({ status: 'concluded', error: 'Input/output error' });
    expect(s.blockJob('b1')).toMatchObject({ error: 'Input/output error', 'io-status': 'ok' });
  });

  test('a failure never waits in pending, even with auto-finalize=false', () => {
    failingNode('src', 4 * MiB);
    s.nullNode('dst', 4 * MiB);
    s.run('blockdev-mirror', {
      device: 'src',
      target: 'dst',
      sync: 'full',
      'job-id': 'm1',
      'auto-finalize': false,
    });
    s.take();
    s.step(100);
    expect(s.take()).toEqual([
      'ERROR m1 read report',
      'm1 aborting',
      'COMPLETED m1 0/4194304 error=Input/output error',
      'm1 concluded',
      'm1 null',
    ]);
  });

  test('stop: a user pause with io-status failed; resume retries the request', () => {
    failingNode('src', 4 * MiB, { event: 'read_aio', errno: 5, once: true });
    s.nullNode('dst', 4 * MiB);
    s.run('blockdev-mirror', {
      device: 'src',
      target: 'dst',
      sync: 'full',
      'job-id': 'm1',
      'on-source-error': 'stop',
    });
    s.take();
    s.step(100);
    expect(s.take()).toEqual(['ERROR m1 read stop', 'm1 paused']);
    expect(s.peek('m1')).toMatchObject({
      status: 'paused',
      paused: true,
      'io-status': 'failed',
    });
    expect(s.fail('job-pause', { id: 'm1' })).toBe('GenericError: Job is already paused');
    expect(s.fail('block-job-cancel', { device: 'm1' })).toBe(
      "GenericError: The block job for device 'm1' is currently paused",
    );
    s.take();
    s.run('job-resume', { id: 'm1' });
    expect(s.take()).toEqual(['m1 running', 'R']);
    expect(s.peek('m1')?.['io-status']).toBe('ok');
    s.step(100);
    expect(s.take()).toEqual(['m1 ready', 'READY m1 4194304/4194304']);
  });

  test('stop on ENOSPC sets io-status nospace; enospc stops only on ENOSPC', () => {
    s.add({
      driver: 'raw',
      'node-name': 'dst',
      file: {
        driver: 'blkdebug',
        'inject-error': [{ event: 'write_aio', iotype: 'write', errno: 28, once: true }],
        image: { driver: 'null-co', size: 4 * MiB },
      },
    });
    s.nullNode('src', 4 * MiB);
    s.run('blockdev-backup', {
      device: 'src',
      target: 'dst',
      sync: 'full',
      'job-id': 'b1',
      'on-target-error': 'enospc',
    });
    s.take();
    s.step(4);
    expect(s.take()).toEqual(['ERROR b1 write stop', 'b1 paused']);
    expect(s.peek('b1')).toMatchObject({ 'io-status': 'nospace', status: 'paused' });
    failingNode('src2', 4 * MiB);
    s.nullNode('dst2', 4 * MiB);
    s.run('blockdev-backup', {
      device: 'src2',
      target: 'dst2',
      sync: 'full',
      'job-id': 'b2',
      'on-source-error': 'enospc',
    });
    s.take();
    s.step(4);
    expect(s.take().slice(0, 2)).toEqual(['ERROR b2 read report', 'b2 aborting']);
  });

  test('ignore: the error is reported and the job carries on', () => {
    failingNode('src', 4 * MiB, { event: 'read_aio', errno: 5, once: true });
    s.nullNode('dst', 4 * MiB);
    s.run('blockdev-backup', {
      device: 'src',
      target: 'dst',
      sync: 'full',
      'job-id': 'b1',
      'on-source-error': 'ignore',
    });
    s.take();
    s.step(10);
    expect(s.take()).toEqual([
      'ERROR b1 read ignore',
      'b1 waiting',
      'b1 pending',
      'COMPLETED b1 4194304/4194304',
      'b1 concluded',
      'b1 null',
    ]);
  });

  test('stream with ignore fails at its end with the ignored error (block/stream.c)', () => {
    s.add({
      driver: 'raw',
      'node-name': 'base',
      file: {
        driver: 'blkdebug',
        'inject-error': [{ event: 'read_aio', errno: 5, once: true }],
        image: { driver: 'null-co', size: MiB },
      },
    });
    s.overlay('top', MiB, 'base');
    s.take();
    s.run('block-stream', { device: 'top', 'job-id': 's1', 'on-error': 'ignore' });
    s.take();
    s.step(10);
    expect(s.take()).toEqual([
      'ERROR s1 read ignore',
      's1 aborting',
      'COMPLETED s1 1048576/1048576 error=Input/output error',
      's1 concluded',
      's1 null',
    ]);
  });

  test('grouped: one member fails, the other is cancelled (§6.8)', () => {
    s.nullNode('good', 4 * MiB);
    s.nullNode('good-t', 4 * MiB);
    failingNode('bad', 4 * MiB);
    s.nullNode('bad-t', 4 * MiB);
    s.run('transaction', {
      actions: [
        {
          type: 'blockdev-backup',
          data: { device: 'good', target: 'good-t', sync: 'full', 'job-id': 'ok1', speed: 1 },
        },
        {
          type: 'blockdev-backup',
          data: { device: 'bad', target: 'bad-t', sync: 'full', 'job-id': 'bad1' },
        },
      ],
      properties: { 'completion-mode': 'grouped' },
    });
    s.take();
    s.step(4);
    expect(s.take()).toEqual([
      'ERROR bad1 read report',
      'bad1 aborting',
      'COMPLETED bad1 0/4194304 error=Input/output error',
      'bad1 concluded',
      'bad1 null',
      'ok1 aborting',
      'CANCELLED ok1 1048576/4194304',
      'ok1 concluded',
      'ok1 null',
    ]);
  });

  test('grouped, created failing member first: the other is finalized first (§6.8)', () => {
    s.nullNode('good', 4 * MiB);
    s.nullNode('good-t', 4 * MiB);
    failingNode('bad', 4 * MiB);
    s.nullNode('bad-t', 4 * MiB);
    s.run('transaction', {
      actions: [
        {
          type: 'blockdev-backup',
          data: { device: 'bad', target: 'bad-t', sync: 'full', 'job-id': 'bad1' },
        },
        {
          type: 'blockdev-backup',
          data: { device: 'good', target: 'good-t', sync: 'full', 'job-id': 'ok1', speed: 1 },
        },
      ],
      properties: { 'completion-mode': 'grouped' },
    });
    s.take();
    s.step(4);
    expect(s.take()).toEqual([
      'ERROR bad1 read report',
      'bad1 aborting',
      'ok1 aborting',
      'CANCELLED ok1 1048576/4194304',
      'ok1 concluded',
      'ok1 null',
      'COMPLETED bad1 0/4194304 error=Input/output error',
      'bad1 concluded',
      'bad1 null',
    ]);
  });
});

describe('transactions', () => {
  test('grouped creation order (§5.8)', () => {
    s.nullNode('a', 4 * MiB);
    s.nullNode('a2', 4 * MiB);
    s.nullNode('b', 4 * MiB);
    s.nullNode('b2', 4 * MiB);
    s.take();
    s.run('transaction', {
      actions: [
        {
          type: 'blockdev-backup',
          data: { device: 'a', target: 'a2', sync: 'full', 'job-id': 'j1', speed: 1 },
        },
        {
          type: 'blockdev-backup',
          data: { device: 'b', target: 'b2', sync: 'full', 'job-id': 'j2', speed: 1 },
        },
      ],
      properties: { 'completion-mode': 'grouped' },
    });
    expect(s.take()).toEqual([
      'j1 created',
      'j2 created',
      'j1 running',
      'j1 paused',
      'j2 running',
      'j2 paused',
      'j1 running',
      'j2 running',
      'R',
    ]);
  });

  test('grouped: job-cancel of one member cancels both, before the reply (§6.8)', () => {
    s.nullNode('a', 4 * MiB);
    s.nullNode('a2', 4 * MiB);
    s.nullNode('b', 4 * MiB);
    s.nullNode('b2', 4 * MiB);
    s.run('transaction', {
      actions: [
        {
          type: 'blockdev-backup',
          data: { device: 'a', target: 'a2', sync: 'full', 'job-id': 'j1', speed: 1 },
        },
        {
          type: 'blockdev-backup',
          data: { device: 'b', target: 'b2', sync: 'full', 'job-id': 'j2', speed: 1 },
        },
      ],
      properties: { 'completion-mode': 'grouped' },
    });
    s.take();
    s.run('job-cancel', { id: 'j1' });
    expect(s.take()).toEqual([
      'j1 aborting',
      'j2 aborting',
      'CANCELLED j2 1048576/4194304',
      'j2 concluded',
      'j2 null',
      'CANCELLED j1 1048576/4194304',
      'j1 concluded',
      'j1 null',
      'R',
    ]);
  });

  test('grouped success: all go pending together, newest first (§6.8)', () => {
    s.nullNode('a', MiB);
    s.nullNode('a2', MiB);
    s.nullNode('b', 4 * MiB);
    s.nullNode('b2', 4 * MiB);
    s.run('transaction', {
      actions: [
        {
          type: 'blockdev-backup',
          data: { device: 'a', target: 'a2', sync: 'full', 'job-id': 'fast' },
        },
        {
          type: 'blockdev-backup',
          data: { device: 'b', target: 'b2', sync: 'full', 'job-id': 'slow' },
        },
      ],
      properties: { 'completion-mode': 'grouped' },
    });
    s.take();
    s.step(1);
    expect(s.take()).toEqual(['fast waiting']);
    s.step(3);
    expect(s.take()).toEqual([
      'slow waiting',
      'slow pending',
      'fast pending',
      'COMPLETED slow 4194304/4194304',
      'slow concluded',
      'slow null',
      'COMPLETED fast 1048576/1048576',
      'fast concluded',
      'fast null',
    ]);
  });

  test('a failing action rolls back the jobs already created (§5.5)', () => {
    s.nullNode('a', MiB);
    s.nullNode('a2', MiB);
    s.take();
    expect(
      s.fail('transaction', {
        actions: [
          {
            type: 'blockdev-backup',
            data: { device: 'a', target: 'a2', sync: 'full', 'job-id': 'ja' },
          },
          { type: 'abort', data: {} },
        ],
      }),
    ).toBe('GenericError: Transaction aborted using Abort action');
    expect(s.take()).toEqual([
      'ja created',
      'ja aborting',
      'ja concluded',
      'ja null',
      'R GenericError: Transaction aborted using Abort action',
    ]);
    // The nodes are free again.
    s.run('blockdev-backup', { device: 'a', target: 'a2', sync: 'full', 'job-id': 'ja' });
  });

  test('grouped with an action that cannot be grouped', () => {
    expect(
      s.fail('transaction', {
        actions: [{ type: 'blockdev-snapshot-internal-sync', data: { device: 'x', name: 'y' } }],
        properties: { 'completion-mode': 'grouped' },
      }),
    ).toBe(
      "GenericError: Action 'blockdev-snapshot-internal-sync' does not support Transaction property completion-mode = grouped",
    );
  });
});

describe('job IDs and creation errors (§5.2–5.4)', () => {
  test('a missing job-id on a node is an invalid empty ID', () => {
    streamChain();
    mirrorPair();
    expect(s.fail('block-stream', { device: 'top' })).toBe("GenericError: Invalid job ID ''");
    expect(s.fail('blockdev-mirror', { device: 'src', target: 'dst', sync: 'full' })).toBe(
      "GenericError: Invalid job ID ''",
    );
    expect(s.fail('block-commit', { device: 'top' })).toBe("GenericError: Invalid job ID ''");
    expect(s.fail('blockdev-backup', { device: 'src', target: 'dst', sync: 'full' })).toBe(
      "GenericError: Invalid job ID ''",
    );
  });

  test('invalid and duplicate IDs; a concluded job holds its ID until dismissed', () => {
    streamChain();
    expect(s.fail('block-stream', { device: 'top', 'job-id': '1abc' })).toBe(
      "GenericError: Invalid job ID '1abc'",
    );
    s.run('blockdev-create', {
      'job-id': 'dup',
      options: { driver: 'file', filename: '/new.img', size: 1048576 },
    });
    s.step(1);
    expect(s.fail('block-stream', { device: 'top', 'job-id': 'dup' })).toBe(
      "GenericError: Job ID 'dup' already in use",
    );
    s.run('job-dismiss', { id: 'dup' });
    s.run('block-stream', { device: 'top', 'job-id': 'dup' });
  });

  test('a negative speed: created, null, then the error (§9.8)', () => {
    streamChain();
    s.fail('block-stream', { device: 'top', 'job-id': 's1', speed: -1 });
    expect(s.take()).toEqual([
      's1 created',
      's1 null',
      "R GenericError: Parameter 'speed' expects a non-negative value",
    ]);
    // The node is not left busy.
    s.run('block-stream', { device: 'top', 'job-id': 's1' });
  });

  test('a node in use by a job is busy; a mirrored node is no root node', () => {
    streamChain();
    mirrorPair();
    s.run('block-stream', { device: 'top', 'job-id': 's1', speed: 1 });
    expect(s.fail('block-stream', { device: 'top', 'job-id': 's2' })).toBe(
      "GenericError: Node 'top' is busy: block device is in use by block job: stream",
    );
    s.run('blockdev-mirror', {
      device: 'src',
      target: 'dst',
      sync: 'full',
      'job-id': 'm',
      speed: 1,
    });
    expect(
      s.fail('blockdev-mirror', { device: 'src', target: 'top', sync: 'full', 'job-id': 'm2' }),
    ).toBe('GenericError: Need a root block node');
    expect(
      s.fail('blockdev-mirror', { device: 'dst', target: 'dst', sync: 'full', 'job-id': 'm3' }),
    ).toBe("GenericError: Node 'dst' is busy: block device is in use by block job: mirror");
  });

  test('mirror onto itself, granularity, sync incremental', () => {
    mirrorPair();
    const base = { device: 'src', target: 'src', sync: 'full', 'job-id': 'm' };
    expect(s.fail('blockdev-mirror', base)).toBe("GenericError: Can't mirror node into itself");
    expect(s.fail('blockdev-mirror', { ...base, target: 'dst', granularity: 1000 })).toBe(
      "GenericError: Parameter 'granularity' expects a power of 2",
    );
    expect(s.fail('blockdev-mirror', { ...base, target: 'dst', granularity: 256 })).toBe(
      "GenericError: Parameter 'granularity' expects a value in range [512B, 64MB]",
    );
    expect(s.fail('blockdev-mirror', { ...base, target: 'dst', sync: 'incremental' })).toBe(
      "GenericError: Sync mode 'incremental' not supported",
    );
  });

  test('backup checks', () => {
    s.nullNode('a', MiB);
    s.nullNode('small', 4096);
    const base = { device: 'a', target: 'small', sync: 'full', 'job-id': 'b' };
    expect(s.fail('blockdev-backup', base)).toBe(
      'GenericError: Source and target image have different sizes',
    );
    expect(s.fail('blockdev-backup', { ...base, target: 'a' })).toBe(
      'GenericError: Source and target cannot be the same',
    );
    expect(s.fail('blockdev-backup', { ...base, sync: 'incremental' })).toBe(
      "GenericError: must provide a valid bitmap name for 'incremental' sync mode",
    );
    expect(s.fail('blockdev-backup', { ...base, bitmap: 'nobitmap', sync: 'bitmap' })).toBe(
      "GenericError: Bitmap 'nobitmap' could not be found",
    );
    expect(s.fail('blockdev-backup', { ...base, compress: true })).toBe(
      'GenericError: Compression is not supported for this drive ',
    );
  });

  test('block-stream argument conflicts', () => {
    streamChain();
    expect(
      s.fail('block-stream', { device: 'top', base: 'x', 'base-node': 'base', 'job-id': 's' }),
    ).toBe("GenericError: 'base' and 'base-node' cannot be specified at the same time");
    expect(s.fail('block-stream', { device: 'top', 'base-node': 'top', 'job-id': 's' })).toBe(
      "GenericError: Node 'top' is not a backing image of 'top'",
    );
  });
});

describe('blockdev-create', () => {
  test('a create job: 0/1 → 1/1, never BLOCK_JOB_*, stays concluded (§5.1)', () => {
    s.run('blockdev-create', {
      'job-id': 'cr1',
      options: { driver: 'file', filename: '/disk.img', size: 1048576 },
    });
    expect(s.take()).toEqual([
      'cr1 created',
      'cr1 running',
      'R',
      'cr1 waiting',
      'cr1 pending',
      'cr1 concluded',
    ]);
    expect(s.job('cr1')).toEqual({
      id: 'cr1',
      type: 'create',
      status: 'concluded',
      'current-progress': 1,
      'total-progress': 1,
    });
    expect(s.fail('block-job-dismiss', { id: 'cr1' })).toBe(
      "DeviceNotActive: Block job 'cr1' not found",
    );
    expect(s.store.has('/disk.img')).toBe(true);
  });

  test('a failure is the job’s error', () => {
    s.run('blockdev-create', {
      'job-id': 'cr1',
      options: { driver: 'qcow2', file: 'nonexist', size: 1048576 },
    });
    expect(s.job('cr1')).toMatchObject({
      status: 'concluded',
      error: "Cannot find device='nonexist' nor node-name='nonexist'",
    });
  });
});

describe('queries and the clock command', () => {
  test('query-jobs and query-block-jobs list newest first (§1)', () => {
    s.nullNode('a', MiB);
    s.nullNode('b', MiB);
    s.nullNode('c', MiB);
    s.nullNode('d', MiB);
    s.run('blockdev-mirror', {
      device: 'a',
      target: 'b',
      sync: 'full',
      'job-id': 'first',
      speed: 1,
    });
    s.run('blockdev-create', {
      'job-id': 'middle',
      options: { driver: 'file', filename: '/x', size: 512 },
    });
    s.run('blockdev-mirror', {
      device: 'c',
      target: 'd',
      sync: 'full',
      'job-id': 'last',
      speed: 1,
    });
    expect((s.run('query-jobs') as Array<{ id: string }>).map((j) => j.id)).toEqual([
      'last',
      'middle',
      'first',
    ]);
    expect((s.run('query-block-jobs') as Array<{ device: string }>).map((j) => j.device)).toEqual([
      'last',
      'first',
    ]);
  });

  test('x-qmpkit-clock-step advances the virtual clock; its events precede its reply', () => {
    streamChain(MiB);
    s.run('block-stream', { device: 'top', 'job-id': 's1' });
    s.take();
    s.run('x-qmpkit-clock-step', { ns: 1_000_000 });
    expect(s.take()).toEqual([
      's1 waiting',
      's1 pending',
      'COMPLETED s1 1048576/1048576',
      's1 concluded',
      's1 null',
      'R',
    ]);
    expect(s.clock.now()).toBe(1_000_000);
    expect(s.fail('x-qmpkit-clock-step', { ns: -1 })).toBe(
      "GenericError: Parameter 'ns' expects a non-negative value",
    );
    expect(s.fail('x-qmpkit-clock-step', {})).toBe("GenericError: Parameter 'ns' is missing");
    expect(s.fail('x-qmpkit-clock-step', { ns: 1.5 })).toBe(
      "GenericError: Invalid parameter type for 'ns', expected: integer",
    );
  });
});

describe('with instant I/O (the default, as null-co)', () => {
  beforeEach(() => {
    s = new Scenario({ throughput: Number.POSITIVE_INFINITY });
  });

  test('an unthrottled backup finishes entirely before its reply (§5.7)', () => {
    mirrorPair();
    s.run('blockdev-backup', { device: 'src', target: 'dst', sync: 'full', 'job-id': 'b1' });
    expect(s.take()).toEqual([
      'b1 created',
      'b1 running',
      'b1 paused',
      'b1 running',
      'b1 waiting',
      'b1 pending',
      'COMPLETED b1 67108864/67108864',
      'b1 concluded',
      'b1 null',
      'R',
    ]);
  });

  test('a throttled backup: speed 0 finishes it inside set-speed (§8.3)', () => {
    mirrorPair();
    s.run('blockdev-backup', {
      device: 'src',
      target: 'dst',
      sync: 'full',
      'job-id': 'b1',
      speed: 1,
    });
    expect(s.peek('b1')).toMatchObject({ offset: MiB, speed: 1 });
    s.take();
    s.run('block-job-set-speed', { device: 'b1', speed: 0 });
    expect(s.take()).toEqual([
      'b1 waiting',
      'b1 pending',
      'COMPLETED b1 67108864/67108864',
      'b1 concluded',
      'b1 null',
      'R',
    ]);
  });

  test('an unthrottled mirror is ready right after its reply (§6.2)', () => {
    mirrorPair();
    s.run('blockdev-mirror', { 'job-id': 'j1', device: 'src', target: 'dst', sync: 'full' });
    expect(s.take()).toEqual([
      'j1 created',
      'j1 running',
      'R',
      'j1 ready',
      'READY j1 67108864/67108864',
    ]);
  });

  test('a throttled stream woken by speed 0 finishes after the reply (§4.3)', () => {
    streamChain();
    s.run('block-stream', { device: 'top', 'job-id': 's1', speed: 1 });
    expect(s.peek('s1')).toMatchObject({ offset: 512 * 1024, busy: false });
    s.take();
    s.run('block-job-set-speed', { device: 's1', speed: 0 });
    expect(s.take()).toEqual([
      'R',
      's1 waiting',
      's1 pending',
      'COMPLETED s1 67108864/67108864',
      's1 concluded',
      's1 null',
    ]);
  });
});

describe('request latency (null-co latency-ns)', () => {
  test('pausing a busy backup: the reply first, then paused when the requests in flight are done', () => {
    s = new Scenario({ throughput: Number.POSITIVE_INFINITY });
    s.add({ driver: 'null-co', 'node-name': 'src', size: 1024 * MiB, 'latency-ns': 400_000_000 });
    s.nullNode('dst', 1024 * MiB);
    s.run('blockdev-backup', { device: 'src', target: 'dst', sync: 'full', 'job-id': 'b1' });
    expect(s.take()).toEqual(['b1 created', 'b1 running', 'b1 paused', 'b1 running', 'R']);
    s.run('job-pause', { id: 'b1' });
    expect(s.take()).toEqual(['R']);
    expect(s.peek('b1')).toMatchObject({
      offset: 0,
      busy: true,
      paused: true,
      status: 'running',
    });
    s.step(400);
    expect(s.take()).toEqual(['b1 paused']);
    // 64 block-copy workers of 1 MiB, plus one, were in flight (QEMU 7.2, conformance scenario
    // backup-busy-pause).
    expect(s.peek('b1')).toMatchObject({ offset: 65 * MiB, busy: false, status: 'paused' });
    s.run('job-cancel', { id: 'b1' });
    expect(s.take()).toEqual([
      'b1 running',
      'b1 aborting',
      'CANCELLED b1 68157440/1073741824',
      'b1 concluded',
      'b1 null',
      'R',
    ]);
  });

  test('a drain waits for the requests a busy backup has in flight', () => {
    s = new Scenario({ throughput: Number.POSITIVE_INFINITY });
    s.add({ driver: 'null-co', 'node-name': 'src', size: 1024 * MiB, 'latency-ns': 400_000_000 });
    s.nullNode('dst', 1024 * MiB);
    s.nullNode('a', MiB);
    s.nullNode('b', MiB);
    s.run('blockdev-backup', { device: 'src', target: 'dst', sync: 'full', 'job-id': 'b1' });
    s.take();
    s.run('blockdev-backup', { device: 'a', target: 'b', sync: 'full', 'job-id': 'b2' });
    expect(s.take().slice(0, 2)).toEqual(['b1 paused', 'b1 running']);
    expect(s.peek('b1')?.offset).toBe(65 * MiB);
  });

  test('a stream with latency copies one chunk per request time and is busy meanwhile', () => {
    s = new Scenario({ throughput: Number.POSITIVE_INFINITY });
    s.add({ driver: 'null-co', 'node-name': 'base', size: 4 * MiB, 'latency-ns': 10_000_000 });
    s.overlay('top', 4 * MiB, 'base');
    s.run('block-stream', { device: 'top', 'job-id': 's1' });
    s.step(25);
    expect(s.peek('s1')).toMatchObject({ offset: MiB, busy: true });
  });
});

test('a failure inside a timer is reported, not thrown into the clock', () => {
  const errors: unknown[] = [];
  const clock = new VirtualClock();
  const blockLayer = new BlockLayer({ store: new MemoryImageStore(), schema: qemuSchema });
  blockLayer.add({ driver: 'null-co', 'node-name': 'src', size: 64 * MiB });
  blockLayer.add({ driver: 'null-co', 'node-name': 'dst', size: 64 * MiB });
  const sim = createSimulator({
    blockLayer,
    clock,
    throughput: 1024 * MiB,
    onInternalError: (error) => errors.push(error),
  });
  sim.execute('blockdev-mirror', { 'job-id': 'm1', device: 'src', target: 'dst', sync: 'full' });
  sim.setEventSink(() => {
    throw new Error('sink down');
  });
  expect(() => clock.advance(100)).not.toThrow();
  expect(errors).toHaveLength(1);
  expect((errors[0] as Error).message).toBe('sink down');
});

test('the block layer’s commands go through the same handler map', () => {
  s.run('blockdev-add', { driver: 'null-co', 'node-name': 'src', size: 4 * MiB });
  s.run('blockdev-add', { driver: 'null-co', 'node-name': 'dst', size: 4 * MiB });
  s.run('blockdev-mirror', {
    'job-id': 'm1',
    device: 'src',
    target: 'dst',
    sync: 'full',
    speed: 1,
  });
  expect(s.fail('blockdev-del', { 'node-name': 'src' })).toBe(
    "GenericError: Node 'src' is busy: block device is in use by block job: mirror",
  );
  const names = (s.run('query-named-block-nodes') as Array<{ 'node-name': string }>).map(
    (n) => n['node-name'],
  );
  expect(names).toEqual(['dst', 'src']);
  s.run('job-cancel', { id: 'm1' });
  s.step(1);
  s.run('blockdev-del', { 'node-name': 'src' });
});

test('a failure inside a clock step ends its job within the step, before the reply', () => {
  s.store.put('/bad.img', new Uint8Array(64 * MiB));
  s.add({
    driver: 'raw',
    'node-name': 'bad',
    file: {
      driver: 'blkdebug',
      'inject-error': [{ event: 'read_aio', errno: 5, sector: 65536 }],
      image: { driver: 'file', filename: '/bad.img' },
    },
  });
  s.nullNode('dst', 64 * MiB);
  // Throttled: the chunk at 32 MiB is read at 3.2 s, when its error ends the job.
  s.run('blockdev-mirror', {
    'job-id': 'm1',
    device: 'bad',
    target: 'dst',
    sync: 'full',
    speed: 10 * MiB,
  });
  s.take();
  s.run('x-qmpkit-clock-step', { ns: 5_000_000_000 });
  expect(s.take()).toEqual([
    'ERROR m1 read report',
    'm1 aborting',
    'COMPLETED m1 33554432/67108864 error=Input/output error',
    'm1 concluded',
    'm1 null',
    'R',
  ]);
});

describe('drive-mirror and drive-backup', () => {
  test('they create and open their target image (conformance drive-mirror-and-drive-backup)', () => {
    s = new Scenario({ throughput: Number.POSITIVE_INFINITY });
    s.store.put('/src.qcow2', qcow2Image(64 * MiB, [...Array(32).keys()]));
    s.add({
      driver: 'qcow2',
      'node-name': 'src',
      file: { driver: 'file', filename: '/src.qcow2' },
    });
    s.take();
    s.run('drive-mirror', {
      'job-id': 'm1',
      device: 'src',
      target: '/dst.qcow2',
      format: 'qcow2',
      sync: 'full',
    });
    // A new qcow2 image reads as zeroes: only the 2 MiB of data are copied.
    expect(s.take()).toEqual([
      'm1 created',
      'm1 running',
      'R',
      'm1 ready',
      'READY m1 2097152/2097152',
    ]);
    expect(s.store.has('/dst.qcow2')).toBe(true);
    s.run('job-complete', { id: 'm1' });
    expect(s.take().slice(1)).toEqual([
      'm1 waiting',
      'm1 pending',
      'COMPLETED m1 2097152/2097152',
      'm1 concluded',
      'm1 null',
    ]);
    s.run('drive-backup', {
      'job-id': 'b1',
      device: 'src',
      target: '/bk.qcow2',
      format: 'qcow2',
      sync: 'full',
    });
    // Its target is a file: the copy completes after the reply.
    expect(s.take()).toEqual([
      'b1 created',
      'b1 running',
      'b1 paused',
      'b1 running',
      'R',
      'b1 waiting',
      'b1 pending',
      'COMPLETED b1 67108864/67108864',
      'b1 concluded',
      'b1 null',
    ]);
    expect(
      s.fail('drive-mirror', {
        device: 'src',
        target: '/dst2.qcow2',
        format: 'qcow2',
        sync: 'full',
      }),
    ).toBe("GenericError: Invalid job ID ''");
    expect(
      s.fail('drive-backup', {
        'job-id': 'b2',
        device: 'src',
        target: '/missing.qcow2',
        format: 'qcow2',
        sync: 'full',
        mode: 'existing',
      }),
    ).toBe("GenericError: Could not open '/missing.qcow2': No such file or directory");
    // The targets went away with their jobs.
    const nodes = (s.run('query-named-block-nodes') as Array<{ 'node-name': string }>).map(
      (n) => n['node-name'],
    );
    expect(nodes.filter((n) => !n.startsWith('#'))).toEqual(['src']);
  });
});
