// Found by the differential tester (helper "difftest", finding drain-order): the order in which a
// drain of everything pauses and resumes idle jobs. Expected values: QEMU 7.2.22; the 10.0 steps
// (graph changes that drain everything, see common.ts graphChanges): QEMU 10.0.2.

import { cancelled, idleAt, ok, type Scenario, send, status } from '../src/scenario.js';
import {
  backupEndsBeside,
  backupStarts,
  backupStartsBeside,
  endsCancelled,
  MiB,
  nullCo,
} from './common.js';

const SIZE = 64 * MiB;

export const drainOrderScenarios: Scenario[] = [
  {
    name: 'drain-pauses-in-node-order-resumes-oldest-first',
    about:
      'a drain (empty transaction) pauses idle jobs in the order of their nodes in the blockdev list (each pauses when its first node is drained) and resumes them oldest job first (each resumes when its own filter node, made when it started, leaves the drain): job a on the later nodes was started first',
    // Node order: src1, dst1, src2, dst2. Job a runs on src2 → dst2 and starts first.
    blockdevs: [
      nullCo('src1', SIZE),
      nullCo('dst1', SIZE),
      nullCo('src2', SIZE),
      nullCo('dst2', SIZE),
    ],
    steps: [
      ...backupStarts({
        'job-id': 'a',
        device: 'src2',
        target: 'dst2',
        sync: 'full',
        speed: 1,
      }),
      idleAt('a', MiB),
      send('blockdev-backup', {
        'job-id': 'b',
        device: 'src1',
        target: 'dst1',
        sync: 'full',
        speed: 4096,
      }),
      backupStartsBeside('a', 'b'),
      ok(),
      idleAt('b', MiB),
      send('transaction', { actions: [] }),
      status('b', 'paused'),
      status('a', 'paused'),
      status('a', 'running'),
      status('b', 'running'),
      ok(),
      send('job-cancel', { id: 'a' }),
      status('a', 'aborting'),
      backupEndsBeside('b', 'a', cancelled('backup', 'a', SIZE, MiB, 1)),
      ok(),
      send('job-cancel', { id: 'b' }),
      ...endsCancelled('backup', 'b', SIZE, MiB, 4096),
      ok(),
    ],
  },
];
