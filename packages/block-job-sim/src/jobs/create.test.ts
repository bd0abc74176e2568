// Scenario tests of the blockdev-create job, on a virtual clock. Expected transcripts are the ones of
// docs/reference/job-semantics.md (recorded on QEMU 7.2.22); expected progress steps come from
// QEMU's chunk sizes (block/mirror.c 16 MiB buffer, block/stream.c and block/commit.c 512 KiB,
// block-copy 1 MiB) and include/qemu/ratelimit.h's formula with 100 ms slices.
import { beforeEach, describe, expect, test } from 'vitest';
import { Scenario } from './scenario.test-helper.js';

let s: Scenario;

beforeEach(() => {
  s = new Scenario();
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
