// Scenario tests of injected I/O errors and the error policies, on a virtual clock. Expected transcripts are the ones of
// docs/reference/job-semantics.md (recorded on QEMU 7.2.22); expected progress steps come from
// QEMU's chunk sizes (block/mirror.c 16 MiB buffer, block/stream.c and block/commit.c 512 KiB,
// block-copy 1 MiB) and include/qemu/ratelimit.h's formula with 100 ms slices.
import type { BlkdebugInjectErrorOptions } from '@qmpkit/qapi-types/7.2';
import { beforeEach, describe, expect, test } from 'vitest';
import { MiB, qcow2Image, Scenario } from '../jobs/scenario.test-helper.js';

let s: Scenario;

beforeEach(() => {
  s = new Scenario();
});

describe('I/O errors (§5.1, §6.7)', () => {
  /**
   * `name`: raw over blkdebug over a file of `size` bytes (a file has data to read; null-co
   * reports none, so a mirror would not read it); reads fail as `rule` says.
   */
  function failingNode(
    name: string,
    size: number,
    rule: BlkdebugInjectErrorOptions = { event: 'read_aio', errno: 5 },
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

  /** qcow2 `name` over `backing`, the file `image` behind blkdebug failing as `rule` says. */
  function failingOverlay(
    name: string,
    backing: string,
    image: Uint8Array,
    rule: BlkdebugInjectErrorOptions,
  ) {
    s.store.put(`/${name}.qcow2`, image);
    s.add({
      driver: 'qcow2',
      'node-name': name,
      backing,
      file: {
        driver: 'blkdebug',
        'inject-error': [rule],
        image: { driver: 'file', filename: `/${name}.qcow2` },
      },
    });
  }

  test('report (the default): BLOCK_JOB_ERROR, then the job fails; io-status stays ok', () => {
    failingNode('src', 4 * MiB);
    s.nullNode('dst', 4 * MiB);
    s.take();
    s.backup({ 'auto-dismiss': false });
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
    s.mirror({ 'auto-finalize': false });
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
    s.mirror({ 'on-source-error': 'stop' });
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
    s.backup({ 'on-target-error': 'enospc' });
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
    s.backup({ 'on-source-error': 'ignore' });
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
        image: { driver: 'null-co', size: MiB, 'read-zeroes': true },
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

  // Recorded on qemu-storage-daemon 7.2 (conformance scenario stream-write-error-*): a stream's
  // copy-on-read writes into its top; a failed write is reported as a read under on-error.
  test('stream: a failed write into its top stops it as a read error; resume retries', () => {
    s.nullNode('base', 4 * MiB);
    failingOverlay('top', 'base', qcow2Image(4 * MiB), {
      event: 'write_aio',
      errno: 5,
      once: true,
    });
    s.take();
    s.run('block-stream', { device: 'top', 'job-id': 's1', 'on-error': 'stop' });
    s.take();
    s.step(10);
    expect(s.take()).toEqual(['ERROR s1 read stop', 's1 paused']);
    expect(s.blockJob('s1')).toMatchObject({ offset: 0, 'io-status': 'failed' });
    s.take();
    s.run('job-resume', { id: 's1' });
    s.step(10);
    expect(s.take()).toEqual([
      's1 running',
      'R',
      's1 waiting',
      's1 pending',
      'COMPLETED s1 4194304/4194304',
      's1 concluded',
      's1 null',
    ]);
  });

  // Recorded on qemu-storage-daemon 7.2.22 and 10.0.2 (conformance scenario
  // commit-persistent-read-error-ignored-retries-the-same-chunk-until-cancelled): commit_run
  // retries the chunk whose error it ignored, for ever while the error persists.
  test('commit: an ignored persistent error is retried on the same chunk until cancelled', () => {
    // Unthrottled I/O takes no time, as in qmpkit-server: the job sleeps between its retries.
    s = new Scenario({ throughput: Number.POSITIVE_INFINITY });
    s.nullNode('base', 4 * MiB);
    failingOverlay(
      'mid',
      'base',
      qcow2Image(
        4 * MiB,
        [...Array(32).keys()].map((i) => i + 16),
      ),
      { event: 'read_aio', errno: 5, immediately: true },
    );
    s.overlay('top', 4 * MiB, 'mid');
    s.take();
    s.run('block-commit', {
      device: 'top',
      'job-id': 'c1',
      'top-node': 'mid',
      'base-node': 'base',
      'on-error': 'ignore',
    });
    expect(s.take().slice(0, 3)).toEqual(['c1 created', 'c1 running', 'R']);
    s.step(100);
    const errors = s.take();
    // One retry a main-loop turn, each failing again.
    expect(errors.length).toBeGreaterThan(10);
    expect(new Set(errors)).toEqual(new Set(['ERROR c1 read ignore']));
    expect(s.peek('c1')).toMatchObject({ offset: MiB, status: 'running' });
    s.run('job-cancel', { id: 'c1' });
    expect(s.take()).toEqual([
      'c1 aborting',
      'CANCELLED c1 1048576/4194304',
      'c1 concluded',
      'c1 null',
      'R',
    ]);
    expect(s.internalErrors).toEqual([]);
  });

  test('commit: a cancel while the retried request is in flight ends the job after it', () => {
    s.nullNode('base', 4 * MiB);
    failingOverlay('mid', 'base', qcow2Image(4 * MiB, [16]), { event: 'read_aio', errno: 5 });
    s.overlay('top', 4 * MiB, 'mid');
    s.run('block-commit', {
      device: 'top',
      'job-id': 'c1',
      'top-node': 'mid',
      'base-node': 'base',
      'on-error': 'ignore',
    });
    // At 1 GiB/s the failing 64 KiB request takes 61 µs; a turn (1 ms) after each failure the
    // retry is in flight for that long: step to it.
    s.stepNs(100_000);
    expect(s.take()).toContain('ERROR c1 read ignore');
    for (let i = 0; i < 200 && s.peek('c1')?.busy !== true; i++) s.stepNs(10_000);
    expect(s.peek('c1')).toMatchObject({ busy: true, offset: MiB });
    s.take();
    s.run('job-cancel', { id: 'c1' });
    expect(s.take()).toEqual(['R']);
    s.step(1);
    expect(s.take()).toEqual([
      'ERROR c1 read ignore',
      'c1 aborting',
      'CANCELLED c1 1048576/4194304',
      'c1 concluded',
      'c1 null',
    ]);
    expect(s.internalErrors).toEqual([]);
  });

  // Recorded on qemu-storage-daemon 7.2 (conformance scenario commit-*-error-*): the commit loop
  // counts the unallocated stretch it passed over before the chunk that failed.
  test('commit: progress at an error counts the unallocated stretch before the chunk', () => {
    s.nullNode('base', 4 * MiB);
    // mid holds its second and third MiB (guest clusters 16..47).
    failingOverlay(
      'mid',
      'base',
      qcow2Image(
        4 * MiB,
        [...Array(32).keys()].map((i) => i + 16),
      ),
      { event: 'read_aio', errno: 5 },
    );
    s.overlay('top', 4 * MiB, 'mid');
    s.take();
    s.run('block-commit', {
      device: 'top',
      'job-id': 'c1',
      'top-node': 'mid',
      'base-node': 'base',
      'auto-dismiss': false,
    });
    s.take();
    s.step(10);
    expect(s.take()).toEqual([
      'ERROR c1 read report',
      'c1 aborting',
      'COMPLETED c1 1048576/4194304 error=Input/output error',
      'c1 concluded',
    ]);
  });

  // Recorded on qemu-storage-daemon 7.2 (conformance scenarios *-never-reads-a-hole): block
  // status shows a file's holes (SEEK_DATA); mirror and backup write zeroes there, never reading
  // them, so an error injected in a hole never fires. Stream and commit read everything.
  describe('a raw file with 8 MiB of data and a hole after it, reads failing at 32 MiB', () => {
    const sparseSource = () => {
      s.store.create('/src.img', 64 * MiB);
      s.store.write('/src.img', 0, new Uint8Array(8 * MiB).fill(0xcd));
      s.add({
        driver: 'raw',
        'node-name': 'src',
        file: {
          driver: 'blkdebug',
          'inject-error': [{ event: 'none', iotype: 'read', errno: 5, sector: 65536 }],
          image: { driver: 'file', filename: '/src.img' },
        },
      });
      s.nullNode('dst', 64 * MiB);
      s.take();
    };

    test('a mirror never reads the hole: ready', () => {
      sparseSource();
      s.mirror();
      s.step(1000);
      expect(s.take()).toEqual([
        'm1 created',
        'm1 running',
        'R',
        'm1 ready',
        'READY m1 67108864/67108864',
      ]);
    });

    test('a backup never reads the hole: completed', () => {
      sparseSource();
      s.backup();
      s.step(1000);
      expect(s.take()).toContain('COMPLETED b1 67108864/67108864');
    });
  });

  // Recorded on qemu-storage-daemon 7.2 (conformance scenario
  // mirror-source-read-error-stops-after-the-other-requests): the mirror's buffer goes out as
  // 1 MiB requests; one fails, the other fifteen count; the file read completes inside the
  // command (error before the reply), the job reaches its pause point after it.
  test('a mirror stopped by one failed 1 MiB read: error before the reply, paused after, at 15 MiB', () => {
    // Unthrottled I/O takes no time, as in qmpkit-server: the first buffer is read in the command.
    s = new Scenario({ throughput: Number.POSITIVE_INFINITY });
    failingNode('src', 64 * MiB, {
      event: 'none',
      iotype: 'read',
      errno: 5,
      sector: 4096,
      once: true,
    });
    s.nullNode('dst', 64 * MiB);
    s.take();
    s.mirror({ 'on-source-error': 'stop' });
    expect(s.take()).toEqual(['m1 created', 'm1 running', 'ERROR m1 read stop', 'R', 'm1 paused']);
    expect(s.blockJob('m1')).toMatchObject({ offset: 15 * MiB, 'io-status': 'failed' });
    s.take();
    s.run('job-resume', { id: 'm1' });
    s.step(1000);
    expect(s.take()).toEqual(['m1 running', 'R', 'm1 ready', 'READY m1 67108864/67108864']);
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
