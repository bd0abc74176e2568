// Scenario tests of the copy loop: instant I/O and request latency, on a virtual clock. Expected transcripts are the ones of
// docs/reference/job-semantics.md (recorded on QEMU 7.2.22); expected progress steps come from
// QEMU's chunk sizes (block/mirror.c 16 MiB buffer, block/stream.c and block/commit.c 512 KiB,
// block-copy 1 MiB) and include/qemu/ratelimit.h's formula with 100 ms slices.
import { beforeEach, describe, expect, test } from 'vitest';
import { MiB, mirrorPair, Scenario, streamChain } from '../jobs/scenario.test-helper.js';

let s: Scenario;

beforeEach(() => {
  s = new Scenario();
});

describe('with instant I/O (the default, as null-co)', () => {
  beforeEach(() => {
    s = new Scenario({ throughput: Number.POSITIVE_INFINITY });
  });

  test('an unthrottled backup finishes entirely before its reply (§5.7)', () => {
    mirrorPair(s);
    s.backup();
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
    mirrorPair(s);
    s.backup({ speed: 1 });
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
    mirrorPair(s);
    s.mirror({ 'job-id': 'j1' });
    expect(s.take()).toEqual([
      'j1 created',
      'j1 running',
      'R',
      'j1 ready',
      'READY j1 67108864/67108864',
    ]);
  });

  test('a throttled stream woken by speed 0 finishes after the reply (§4.3)', () => {
    streamChain(s);
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
    s.backup();
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
    s.backup();
    s.take();
    s.run('blockdev-backup', { device: 'a', target: 'b', sync: 'full', 'job-id': 'b2' });
    expect(s.take().slice(0, 2)).toEqual(['b1 paused', 'b1 running']);
    expect(s.peek('b1')?.offset).toBe(65 * MiB);
  });

  test('a stream with latency copies one chunk per request time and is busy meanwhile', () => {
    s = new Scenario({ throughput: Number.POSITIVE_INFINITY });
    s.add({
      driver: 'null-co',
      'node-name': 'base',
      size: 4 * MiB,
      'latency-ns': 10_000_000,
      'read-zeroes': true,
    });
    s.overlay('top', 4 * MiB, 'base');
    s.run('block-stream', { device: 'top', 'job-id': 's1' });
    s.step(25);
    expect(s.peek('s1')).toMatchObject({ offset: MiB, busy: true });
  });
});
