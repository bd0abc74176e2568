// Found by the differential tester (helper "difftest", finding drain-order): the order in which a
// drain of everything pauses and resumes idle jobs. Expected values: QEMU 7.2.22; the 10.0 steps
// (graph changes that drain everything, see common.ts graphChanges): QEMU 10.0.2.

import {
  byVersion,
  cancelled,
  idleAt,
  ok,
  type Scenario,
  send,
  status,
  statuses,
} from '../src/scenario.js';
import { graphChanges, MiB, nullCo } from './common.js';

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
      send('blockdev-backup', {
        'job-id': 'a',
        device: 'src2',
        target: 'dst2',
        sync: 'full',
        speed: 1,
      }),
      ...statuses('a', 'created', 'running', 'paused', 'running'),
      ok(),
      idleAt('a', MiB),
      send('blockdev-backup', {
        'job-id': 'b',
        device: 'src1',
        target: 'dst1',
        sync: 'full',
        speed: 4096,
      }),
      byVersion({
        '7.2': [
          ...statuses('a', 'paused', 'running'),
          ...statuses('b', 'created', 'running', 'paused', 'running'),
        ],
        // bdrv_drain_all(), then b's filter put in (four graph changes) and attached (one).
        '10.0': [
          ...graphChanges('a', 5),
          status('b', 'created'),
          ...graphChanges('a', 1),
          ...statuses('b', 'running', 'paused', 'running'),
        ],
      }),
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
      byVersion({
        '7.2': [cancelled('backup', 'a', SIZE, MiB, 1), ...statuses('a', 'concluded', 'null')],
        // a's filter goes (three graph changes), and a is freed (one).
        '10.0': [
          ...graphChanges('b', 3),
          cancelled('backup', 'a', SIZE, MiB, 1),
          ...statuses('a', 'concluded', 'null'),
          ...graphChanges('b', 1),
        ],
      }),
      ok(),
      send('job-cancel', { id: 'b' }),
      status('b', 'aborting'),
      cancelled('backup', 'b', SIZE, MiB, 4096),
      ...statuses('b', 'concluded', 'null'),
      ok(),
    ],
  },
];
