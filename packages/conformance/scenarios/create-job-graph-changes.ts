// Issue 15: blockdev-create formatting a qcow2 image changes the block graph, in the job's
// coroutine after the command's reply: qcow2_co_create() writes the first clusters through a
// BlockBackend on the file, then opens the new image over it and closes it again, twice. On QEMU
// 10.0 each change takes the graph's write lock and so drains every node: a throttled backup
// beside it pauses and resumes once per change, before the create job's `waiting`. A creation
// the driver refuses on its options (a size that is not a multiple of 512) changes nothing.
// 7.2's graph lock drains nothing. Expected values: QEMU 7.2.22 and 10.0.2.

import { byVersion, idleAt, jobInfo, ok, type Scenario, send, statuses } from '../src/scenario.js';
import { backupStarts, graphChanges, MiB, nullCo } from './common.js';

const SIZE = 64 * MiB;

export const createJobGraphChangeScenarios: Scenario[] = [
  {
    name: 'blockdev-create-of-a-qcow2-image-drains-a-running-job-per-graph-change',
    about:
      'blockdev-create of a qcow2 image on a file node beside a throttled backup: on 10.0 the backup pauses and resumes fourteen times after the reply, before the job’s waiting; a creation the driver refuses (a size not a multiple of 512) drains nothing; 7.2 drains nothing',
    setup: [{ qemuImg: ['create', '-q', '-f', 'raw', 'new.qcow2', '0'] }],
    blockdevs: [
      nullCo('src1', SIZE),
      nullCo('dst1', SIZE),
      JSON.stringify({ driver: 'file', 'node-name': 'f', filename: 'new.qcow2' }),
    ],
    steps: [
      ...backupStarts({
        'job-id': 'b1',
        device: 'src1',
        target: 'dst1',
        sync: 'full',
        speed: 512,
      }),
      idleAt('b1', MiB),
      send('blockdev-create', {
        'job-id': 'cr1',
        options: { driver: 'qcow2', file: 'f', size: SIZE },
      }),
      ...statuses('cr1', 'created', 'running'),
      ok(),
      byVersion({ '7.2': [], '10.0': graphChanges('b1', 14) }),
      ...statuses('cr1', 'waiting', 'pending', 'concluded'),
      send('job-dismiss', { id: 'cr1' }),
      ...statuses('cr1', 'null'),
      ok(),
      send('blockdev-create', {
        'job-id': 'cr2',
        options: { driver: 'qcow2', file: 'f', size: 1000 },
      }),
      byVersion({
        '7.2': [...statuses('cr2', 'created', 'running', 'aborting', 'concluded'), ok()],
        '10.0': [
          ...statuses('cr2', 'created', 'running'),
          ok(),
          ...statuses('cr2', 'aborting', 'concluded'),
        ],
      }),
      send('query-jobs'),
      ok([
        jobInfo('create', 'cr2', 'concluded', 1, 1, 'Image size must be a multiple of 512 bytes'),
        jobInfo('backup', 'b1', 'running', MiB, SIZE),
      ]),
    ],
  },
];
