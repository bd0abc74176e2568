// Scenario tests of the backup job and the drains it opens, on a virtual clock. Expected transcripts are the ones of
// docs/reference/job-semantics.md (recorded on QEMU 7.2.22); expected progress steps come from
// QEMU's chunk sizes (block/mirror.c 16 MiB buffer, block/stream.c and block/commit.c 512 KiB,
// block-copy 1 MiB) and include/qemu/ratelimit.h's formula with 100 ms slices.
import { beforeEach, describe, expect, test } from 'vitest';
import { MiB, mirrorPair, Scenario, streamChain } from './scenario.test-helper.js';

let s: Scenario;

beforeEach(() => {
  s = new Scenario();
});

describe('backup and drains', () => {
  test('blockdev-backup: created, running, paused, running, reply (§5.7)', () => {
    mirrorPair(s, 4 * MiB);
    s.backup({ speed: MiB });
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
    streamChain(s);
    mirrorPair(s, MiB);
    s.run('block-stream', { device: 'top', 'job-id': 's1', speed: 1 });
    s.take();
    s.backup();
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
    streamChain(s);
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
    mirrorPair(s);
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
    mirrorPair(s, 4 * MiB);
    s.backup({ 'job-id': 'b', speed: 1 });
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
    mirrorPair(s, 4 * MiB);
    s.backup({ 'job-id': 'b', speed: 1 });
    for (let i = 0; i < 3; i++) {
      s.run('job-pause', { id: 'b' });
      s.run('job-resume', { id: 'b' });
      s.step(1000);
    }
    expect(s.peek('b')?.offset).toBe(MiB);
  });

  // Recorded on qemu-storage-daemon 7.2: sync=top copies what the top node holds itself; a
  // null-co node holds nothing unless it reads zeroes, so its backup has len 0, all before the
  // reply; with read-zeroes all of it is copied.
  test('sync=top of a null-co node: nothing without read-zeroes, everything with it', () => {
    s = new Scenario({ throughput: Number.POSITIVE_INFINITY });
    s.emptyNullNode('a', 64 * MiB);
    s.nullNode('az', 64 * MiB);
    s.nullNode('b', 64 * MiB);
    s.take();
    s.run('blockdev-backup', { 'job-id': 'j1', device: 'a', target: 'b', sync: 'top' });
    expect(s.take().slice(-5)).toEqual([
      'j1 pending',
      'COMPLETED j1 0/0',
      'j1 concluded',
      'j1 null',
      'R',
    ]);
    s.run('blockdev-backup', { 'job-id': 'j2', device: 'az', target: 'b', sync: 'top' });
    expect(s.take().slice(-5)).toEqual([
      'j2 pending',
      `COMPLETED j2 ${64 * MiB}/${64 * MiB}`,
      'j2 concluded',
      'j2 null',
      'R',
    ]);
  });

  // Recorded on qemu-storage-daemon 7.2.22 and 10.0.2 (conformance scenario
  // throttled-backup-of-a-file-unthrottled-finishes-after-the-reply): the rest of the copy is
  // file I/O, which completes in later main-loop turns, after set-speed's reply.
  test('a throttled backup of a raw file, unthrottled: the reply first, then the rest', () => {
    s = new Scenario({ throughput: Number.POSITIVE_INFINITY });
    s.store.create('/src.img', 16 * MiB);
    s.store.write('/src.img', 0, new Uint8Array(4 * MiB).fill(0xcd));
    s.add({ driver: 'file', 'node-name': 'f', filename: '/src.img' });
    s.nullNode('dst', 16 * MiB);
    s.run('blockdev-backup', {
      'job-id': 'b1',
      device: 'f',
      target: 'dst',
      sync: 'full',
      speed: 4096,
    });
    s.step(100);
    expect(s.peek('b1')).toMatchObject({ offset: MiB, busy: false });
    s.take();
    s.run('block-job-set-speed', { device: 'b1', speed: 0 });
    expect(s.take()).toEqual([
      'R',
      'b1 waiting',
      'b1 pending',
      `COMPLETED b1 ${16 * MiB}/${16 * MiB}`,
      'b1 concluded',
      'b1 null',
    ]);
  });
});
