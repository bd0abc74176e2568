// Scenario tests of the job commands' argument checks, and drive-mirror / drive-backup, on a virtual clock. Expected transcripts are the ones of
// docs/reference/job-semantics.md (recorded on QEMU 7.2.22); expected progress steps come from
// QEMU's chunk sizes (block/mirror.c 16 MiB buffer, block/stream.c and block/commit.c 512 KiB,
// block-copy 1 MiB) and include/qemu/ratelimit.h's formula with 100 ms slices.
import { beforeEach, describe, expect, test } from 'vitest';
import {
  MiB,
  mirrorPair,
  qcow2Image,
  Scenario,
  streamChain,
} from '../../jobs/scenario.test-helper.js';

let s: Scenario;

beforeEach(() => {
  s = new Scenario();
});

describe('job IDs and creation errors (§5.2–5.4)', () => {
  test('a missing job-id on a node is an invalid empty ID', () => {
    streamChain(s);
    mirrorPair(s);
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
    streamChain(s);
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
    streamChain(s);
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
    streamChain(s);
    mirrorPair(s);
    s.run('block-stream', { device: 'top', 'job-id': 's1', speed: 1 });
    expect(s.fail('block-stream', { device: 'top', 'job-id': 's2' })).toBe(
      "GenericError: Node 'top' is busy: block device is in use by block job: stream",
    );
    s.mirror({ 'job-id': 'm', speed: 1 });
    expect(
      s.fail('blockdev-mirror', { device: 'src', target: 'top', sync: 'full', 'job-id': 'm2' }),
    ).toBe('GenericError: Need a root block node');
    expect(
      s.fail('blockdev-mirror', { device: 'dst', target: 'dst', sync: 'full', 'job-id': 'm3' }),
    ).toBe("GenericError: Node 'dst' is busy: block device is in use by block job: mirror");
  });

  test('mirror onto itself, granularity, sync incremental', () => {
    mirrorPair(s);
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
    streamChain(s);
    expect(
      s.fail('block-stream', { device: 'top', base: 'x', 'base-node': 'base', 'job-id': 's' }),
    ).toBe("GenericError: 'base' and 'base-node' cannot be specified at the same time");
    expect(s.fail('block-stream', { device: 'top', 'base-node': 'top', 'job-id': 's' })).toBe(
      "GenericError: Node 'top' is not a backing image of 'top'",
    );
  });
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
