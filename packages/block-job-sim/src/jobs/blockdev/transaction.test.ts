// Scenario tests of transactions, on a virtual clock. Expected transcripts are the ones of
// docs/reference/job-semantics.md (recorded on QEMU 7.2.22); expected progress steps come from
// QEMU's chunk sizes (block/mirror.c 16 MiB buffer, block/stream.c and block/commit.c 512 KiB,
// block-copy 1 MiB) and include/qemu/ratelimit.h's formula with 100 ms slices.
import { beforeEach, describe, expect, test } from 'vitest';
import { MiB, Scenario } from '../../jobs/scenario.test-helper.js';

let s: Scenario;

beforeEach(() => {
  s = new Scenario();
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
