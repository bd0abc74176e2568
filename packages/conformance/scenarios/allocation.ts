// What a job copies depends on what bdrv_is_allocated() says the nodes hold: a null-co node holds
// nothing unless it reads zeroes (its block status is BDRV_BLOCK_ZERO only with read-zeroes), a
// file all of it (holes read as zeroes). Recorded on qemu-storage-daemon 7.2.

import { completed, ok, type Scenario, send, statuses } from '../src/scenario.js';
import { MiB, nullCo } from './common.js';

const SIZE = 64 * MiB;

const backupTop = (id: string, device: string) =>
  send('blockdev-backup', { 'job-id': id, device, target: 'dst', sync: 'top' });

export const allocationScenarios: Scenario[] = [
  {
    name: 'backup-sync-top-of-null-co-copies-nothing-unless-read-zeroes',
    about:
      'sync=top copies what the top node holds itself: a null-co node without read-zeroes holds nothing (len 0), one with read-zeroes everything; both end before the reply',
    blockdevs: [
      nullCo('src', SIZE),
      nullCo('zeroes', SIZE, { 'read-zeroes': true }),
      nullCo('dst', SIZE),
    ],
    steps: [
      backupTop('j1', 'src'),
      ...statuses('j1', 'created', 'running', 'paused', 'running', 'waiting', 'pending'),
      completed('backup', 'j1', 0),
      ...statuses('j1', 'concluded', 'null'),
      ok(),
      backupTop('j2', 'zeroes'),
      ...statuses('j2', 'created', 'running', 'paused', 'running', 'waiting', 'pending'),
      completed('backup', 'j2', SIZE),
      ...statuses('j2', 'concluded', 'null'),
      ok(),
    ],
  },
  {
    name: 'stream-throttled-over-null-co-base-completes-at-once',
    about:
      'a stream at speed 1 over a null-co base (no read-zeroes) has nothing to copy: it completes right after its reply, the whole length counted as done',
    setup: [{ qemuImg: ['create', '-q', '-f', 'qcow2', 'top.qcow2', '64M'] }],
    blockdevs: [
      nullCo('base', SIZE),
      JSON.stringify({
        driver: 'qcow2',
        'node-name': 'top',
        backing: 'base',
        file: { driver: 'file', filename: 'top.qcow2' },
      }),
    ],
    steps: [
      send('block-stream', { 'job-id': 's1', device: 'top', speed: 1 }),
      ...statuses('s1', 'created', 'running'),
      ok(),
      ...statuses('s1', 'waiting', 'pending'),
      completed('stream', 's1', SIZE, SIZE, 1),
      ...statuses('s1', 'concluded', 'null'),
    ],
  },
];
