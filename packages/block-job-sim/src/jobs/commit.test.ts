// Scenario tests of the commit job (active and not), on a virtual clock. Expected transcripts are the ones of
// docs/reference/job-semantics.md (recorded on QEMU 7.2.22); expected progress steps come from
// QEMU's chunk sizes (block/mirror.c 16 MiB buffer, block/stream.c and block/commit.c 512 KiB,
// block-copy 1 MiB) and include/qemu/ratelimit.h's formula with 100 ms slices.
import { beforeEach, describe, expect, test } from 'vitest';
import { MiB, Scenario } from './scenario.test-helper.js';

let s: Scenario;

beforeEach(() => {
  s = new Scenario();
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

  // Recorded on qemu-storage-daemon 7.2 (conformance scenario
  // active-commit-throttled-copies-one-stretch-per-wake): each mirror iteration copies one
  // contiguous dirty stretch; converging flushes the base's image file, so READY follows the
  // reply of the command that woke it.
  test('a throttled active commit copies one dirty stretch per wake; READY after the reply', () => {
    s.nullNode('base', 4 * MiB);
    // mid holds its second MiB (clusters 16..31), top its fourth (clusters 48..63).
    s.overlay(
      'mid',
      4 * MiB,
      'base',
      [...Array(16).keys()].map((i) => i + 16),
    );
    s.overlay(
      'top',
      4 * MiB,
      'mid',
      [...Array(16).keys()].map((i) => i + 48),
    );
    s.take();
    s.run('block-commit', { device: 'top', 'job-id': 'c1', speed: 1 });
    s.step(1000);
    expect(s.peek('c1')).toMatchObject({ len: 2 * MiB, offset: MiB, busy: false });
    s.run('job-pause', { id: 'c1' });
    s.run('job-resume', { id: 'c1' });
    s.step(1000);
    expect(s.peek('c1')).toMatchObject({ offset: 2 * MiB, ready: false });
    s.take();
    s.run('job-pause', { id: 'c1' });
    s.run('job-resume', { id: 'c1' });
    s.step(1000);
    expect(s.take()).toEqual([
      'c1 paused',
      'R',
      'c1 running',
      'R',
      'c1 ready',
      'READY c1 2097152/2097152',
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

  // Recorded on qemu-storage-daemon 7.2.22 and 10.0.2 (conformance scenario
  // commit-drops-the-committed-image-from-the-chain).
  test('a finished commit makes the base the backing file of the image above top', () => {
    s.nullNode('base', 4 * MiB);
    s.overlay('mid', 4 * MiB, 'base', [0]);
    s.overlay('top', 4 * MiB, 'mid');
    s.run('block-commit', {
      device: 'top',
      'top-node': 'mid',
      'base-node': 'base',
      'job-id': 'c1',
    });
    s.step(100);
    expect(s.take()).toContain(`COMPLETED c1 ${4 * MiB}/${4 * MiB}`);
    expect(s.layer.findNode('top')?.backing?.nodeName).toBe('base');
    s.run('blockdev-del', { 'node-name': 'mid' });
    expect(s.fail('blockdev-del', { 'node-name': 'base' })).toBe(
      "GenericError: Node 'base' is busy: node is used as backing hd of 'top'",
    );
  });
});
