// Scenario tests of the simulator facade: queries, the clock command, failures in timers, the handler map, on a virtual clock. Expected transcripts are the ones of
// docs/reference/job-semantics.md (recorded on QEMU 7.2.22); expected progress steps come from
// QEMU's chunk sizes (block/mirror.c 16 MiB buffer, block/stream.c and block/commit.c 512 KiB,
// block-copy 1 MiB) and include/qemu/ratelimit.h's formula with 100 ms slices.
import { beforeEach, describe, expect, test } from 'vitest';
import { BlockLayer } from '../block-layer.js';
import { VirtualClock } from '../clock/clock.js';
import { MemoryImageStore } from '../image-store.js';
import { qemuSchema } from '../qemu-schema.test-helper.js';
import { MiB, Scenario, streamChain } from './scenario.test-helper.js';
import { createSimulator } from './simulator.js';

let s: Scenario;

beforeEach(() => {
  s = new Scenario();
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
    streamChain(s, MiB);
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
  sim.setEventBroadcast(() => {
    throw new Error('sink down');
  });
  expect(() => clock.advance(100)).not.toThrow();
  expect(errors).toHaveLength(1);
  expect((errors[0] as Error).message).toBe('sink down');
});

test('the block layer’s commands go through the same handler map', () => {
  s.run('blockdev-add', { driver: 'null-co', 'node-name': 'src', size: 4 * MiB });
  s.run('blockdev-add', { driver: 'null-co', 'node-name': 'dst', size: 4 * MiB });
  s.mirror({ speed: 1 });
  expect(s.fail('blockdev-del', { 'node-name': 'src' })).toBe(
    "GenericError: Node 'src' is busy: block device is in use by block job: mirror",
  );
  const names = (s.run('query-named-block-nodes') as Array<{ 'node-name': string }>).map(
    (n) => n['node-name'],
  );
  // The mirror_top filter is listed too, newest first, under a generated name (QEMU 7.2.22).
  expect(names).toEqual([expect.stringMatching(/^#block\d{3,}$/), 'dst', 'src']);
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
  // Throttled: the chunk at 32 MiB is read at 3.2 s, when its error ends the job; its other
  // fifteen 1 MiB requests complete (recorded on qemu-storage-daemon 7.2: offset 49283072).
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
    'COMPLETED m1 49283072/67108864 error=Input/output error',
    'm1 concluded',
    'm1 null',
    'R',
  ]);
});

// Recorded on qemu-storage-daemon 7.2 (SIGTERM with a throttled backup b1, a ready mirror m1 and
// a user-paused throttled backup b2 kept by auto-dismiss false): every node drained, then each
// job, newest first, cancelled to its end, a concluded one dismissed.
test('cancelAllJobs: what QEMU does to its jobs when told to quit', () => {
  const q = new Scenario({ throughput: Number.POSITIVE_INFINITY });
  for (const name of ['a', 'b', 'c', 'd', 'e', 'f']) q.nullNode(name, 64 * MiB);
  q.run('blockdev-backup', { 'job-id': 'b1', device: 'a', target: 'b', sync: 'full', speed: 1 });
  q.run('blockdev-mirror', { 'job-id': 'm1', device: 'c', target: 'd', sync: 'full' });
  q.run('blockdev-backup', {
    'job-id': 'b2',
    device: 'e',
    target: 'f',
    sync: 'full',
    speed: 1,
    'auto-dismiss': false,
  });
  q.run('job-pause', { id: 'b2' });
  q.take();
  q.sim.simulator.cancelAllJobs();
  expect(q.take()).toEqual([
    'b1 paused',
    'm1 standby',
    'b2 running',
    'b2 aborting',
    `CANCELLED b2 ${MiB}/${64 * MiB}`,
    'b2 concluded',
    'b2 null',
    'm1 ready',
    'm1 aborting',
    `CANCELLED m1 ${64 * MiB}/${64 * MiB}`,
    'm1 concluded',
    'm1 null',
    'b1 running',
    'b1 aborting',
    `CANCELLED b1 ${MiB}/${64 * MiB}`,
    'b1 concluded',
    'b1 null',
  ]);
  expect(q.sim.engine.queryJobs()).toEqual([]);
  expect(q.internalErrors).toEqual([]);
});
