// Scenario tests of the stream job, on a virtual clock. Expected transcripts are the ones of
// docs/reference/job-semantics.md (recorded on QEMU 7.2.22); expected progress steps come from
// QEMU's chunk sizes (block/mirror.c 16 MiB buffer, block/stream.c and block/commit.c 512 KiB,
// block-copy 1 MiB) and include/qemu/ratelimit.h's formula with 100 ms slices.
import { beforeEach, describe, expect, test } from 'vitest';
import { buildEmptyQcow2 } from '../qcow2.js';
import { MiB, Scenario, streamChain } from './scenario.test-helper.js';

let s: Scenario;

beforeEach(() => {
  s = new Scenario();
});

describe('stream', () => {
  test('a normal run: created, running, reply, then waiting … null (§5.6)', () => {
    streamChain(s);
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
    streamChain(s);
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
    streamChain(s);
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
    streamChain(s);
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
    streamChain(s, MiB);
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
    streamChain(s);
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

  // Recorded on qemu-storage-daemon 7.2 (conformance scenario
  // stream-after-a-cancelled-stream-skips-what-it-copied): a stream copies into its top, so a
  // new stream passes over what a cancelled one copied and first sleeps after the next chunk.
  test('a stream after a cancelled one skips the chunk the first copied into the top', () => {
    streamChain(s);
    s.run('block-stream', { device: 'top', 'job-id': 's1', speed: 1 });
    s.step(1000);
    s.run('job-cancel', { id: 's1' });
    s.take();
    s.run('block-stream', { device: 'top', 'job-id': 's2', speed: 1 });
    s.step(1000);
    expect(s.peek('s2')).toMatchObject({ len: 64 * MiB, offset: MiB, busy: false });
    s.run('job-cancel', { id: 's2' });
    s.run('block-stream', { device: 'top', 'job-id': 's3', speed: 1 });
    s.step(1000);
    expect(s.peek('s3')).toMatchObject({ len: 64 * MiB, offset: 1.5 * MiB });
  });

  // Recorded on qemu-storage-daemon 7.2: null-co without read-zeroes reports no allocated data,
  // so a stream over it has nothing to copy and, even at speed 1, completes right after its reply.
  test('over a null-co base without read-zeroes there is nothing to copy', () => {
    s.emptyNullNode('empty', 64 * MiB);
    s.overlay('over', 64 * MiB, 'empty');
    s.take();
    s.run('block-stream', { device: 'over', 'job-id': 's1', speed: 1 });
    expect(s.take()).toEqual([
      's1 created',
      's1 running',
      'R',
      's1 waiting',
      's1 pending',
      `COMPLETED s1 ${64 * MiB}/${64 * MiB}`,
      's1 concluded',
      's1 null',
    ]);
  });

  // Recorded on qemu-storage-daemon 7.2.22 and 10.0.2 (conformance scenarios
  // stream-after-a-finished-stream-has-nothing-to-do, stream-to-a-base-keeps-the-base): a
  // stream that succeeded cuts top's chain at its base.
  test('a finished stream cuts the chain: a new stream has nothing to do, mid can go', () => {
    s.nullNode('base', 4 * MiB);
    s.overlay('mid', 4 * MiB, 'base', [0]);
    s.overlay('top', 4 * MiB, 'mid');
    expect(s.fail('blockdev-del', { 'node-name': 'mid' })).toBe(
      "GenericError: Node 'mid' is busy: node is used as backing hd of 'top'",
    );
    s.run('block-stream', { device: 'top', 'job-id': 's1' });
    s.step(100);
    expect(s.take()).toContain(`COMPLETED s1 ${4 * MiB}/${4 * MiB}`);
    expect(s.layer.findNode('top')?.backing).toBeUndefined();
    s.run('block-stream', { device: 'top', 'job-id': 's2', speed: 4096 });
    expect(s.take()).toEqual([
      's2 created',
      's2 running',
      's2 waiting',
      's2 pending',
      'COMPLETED s2 0/0',
      's2 concluded',
      's2 null',
      'R',
    ]);
    s.run('blockdev-del', { 'node-name': 'mid' });
    s.run('blockdev-del', { 'node-name': 'base' });
  });

  test('a cancelled stream leaves the chain as it was', () => {
    streamChain(s);
    s.run('block-stream', { device: 'top', 'job-id': 's1', speed: 1 });
    s.run('job-cancel', { id: 's1' });
    expect(s.layer.findNode('top')?.backing?.nodeName).toBe('base');
  });

  test('an image opened from the header is closed when the stream that dropped it is freed', () => {
    // top.qcow2's header names base.img (raw), which opens with top as an automatic node.
    s.store.put('/base.img', new Uint8Array(4 * MiB));
    const { writes, fileLength } = buildEmptyQcow2({
      size: 4 * MiB,
      backingFile: 'base.img',
      backingFormat: 'raw',
    });
    const image = new Uint8Array(fileLength);
    for (const w of writes) image.set(w.data, w.offset);
    s.store.put('/top.qcow2', image);
    s.add({
      driver: 'qcow2',
      'node-name': 'top',
      file: { driver: 'file', filename: '/top.qcow2' },
    });
    const auto = s.layer.findNode('top')?.backing;
    expect(auto?.userNamed).toBe(false);
    const named = () => s.layer.nodes().map((n) => n.nodeName);
    s.run('block-stream', { device: 'top', 'job-id': 's1', 'auto-dismiss': false });
    s.step(100);
    expect(s.take()).toContain('s1 concluded');
    expect(s.layer.findNode('top')?.backing).toBeUndefined();
    // The stream keeps what it dropped until it is freed.
    expect(named()).toContain(auto?.nodeName);
    s.run('job-dismiss', { id: 's1' });
    expect(named()).not.toContain(auto?.nodeName);
    expect(s.layer.findNode('top')?.qcow2?.backingFile).toBeUndefined();
  });
});
