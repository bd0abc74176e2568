// blockdev-add and blockdev-del change the block graph: from QEMU 8.2 on each change takes the
// graph's write lock, a drained section of every node, so a running job shows a paused/running
// pair per change; 7.2's changes drain nothing. Counts measured on qemu-storage-daemon 10.0.2:
// opening a qcow2 node over an inline file attaches one child and probes the format through a
// temporary BlockBackend on the file (attached, dropped): three; closing it closes two nodes.

import { byVersion, idleAt, ok, type Scenario, send } from '../src/scenario.js';
import { backupStarts, endsCancelled, graphChanges, MiB, nullCo } from './common.js';

const SIZE = 64 * MiB;

export const blockdevGraphChangeScenarios: Scenario[] = [
  {
    name: 'blockdev-add-and-del-of-a-qcow2-node-drain-a-running-job-per-graph-change',
    about:
      'beside a throttled backup, blockdev-add of a qcow2 node over an inline file node and its blockdev-del: on 10.0 three and two paused/running pairs of the backup before the replies (graph write lock), none on 7.2',
    setup: [{ qemuImg: ['create', '-q', '-f', 'qcow2', 'img.qcow2', '64M'] }],
    blockdevs: [nullCo('src', SIZE), nullCo('dst', SIZE)],
    steps: [
      ...backupStarts({
        'job-id': 'b1',
        device: 'src',
        target: 'dst',
        sync: 'full',
        speed: 1,
      }),
      idleAt('b1', MiB),
      send('blockdev-add', {
        driver: 'qcow2',
        'node-name': 'q',
        file: { driver: 'file', filename: 'img.qcow2' },
      }),
      byVersion({ '7.2': [], '10.0': graphChanges('b1', 3) }),
      ok(),
      send('blockdev-del', { 'node-name': 'q' }),
      byVersion({ '7.2': [], '10.0': graphChanges('b1', 2) }),
      ok(),
      send('job-cancel', { id: 'b1' }),
      ...endsCancelled('backup', 'b1', SIZE, MiB, 1),
      ok(),
    ],
  },
];
