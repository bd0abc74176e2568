// Issues 12 and 15, found by the differential tester on 10.0 (seeds 1447, 1656, …: class C of
// finding 10.0-wide-session5): how many graph changes a stream's or a commit's end makes depends
// on how it ends. Succeeded, stream_prepare drops the copy-on-read filter and cuts the chain
// (three changes), commit_prepare drops the base's BlockBackend and the committed image (four
// with commit_clean). Cancelled or failed there is no prepare: a stream's clean only drops its
// filter (two), while a commit's abort also lets go of the job's nodes and drops and closes its
// commit_top filter (five). On 10.0 each change drains every node, so a throttled backup beside
// them pauses and resumes once per change, before the BLOCK_JOB_CANCELLED / _COMPLETED; freeing
// the job makes two more (stream) or one (commit) after `null`. 7.2's graph lock drains nothing.
// Expected values: QEMU 7.2.22 and 10.0.2.

import {
  byVersion,
  cancelled,
  completed,
  generic,
  idleAt,
  jobInfo,
  ok,
  pendingEvent,
  type Scenario,
  type Step,
  send,
  status,
  statuses,
} from '../src/scenario.js';
import { backupStarts, graphChanges, MiB, nullCo, threeLayerChain } from './common.js';

const SIZE = 64 * MiB;
/** 34 characters: node names are at most 31. */
const LONG_NAME = 'a234567890123456789012345678901234';

/** Refused filter-node-names (an existing node's, an invalid one, a too long one) and QEMU's reason. */
const BAD_FILTER_NAMES: readonly (readonly [string, string])[] = [
  ['src1', "Duplicate nodes with node-name='src1'"],
  ['f b', "Invalid node-name: 'f b'"],
  [LONG_NAME, 'Node name too long'],
];

/** Before the reply of a stream or commit `id` started beside the running backup b1. */
function startsBesideB1(id: string, beforeJob: number, afterJob: number): Step[] {
  return [
    byVersion({
      '7.2': statuses(id, 'created', 'running'),
      '10.0': [
        ...graphChanges('b1', beforeJob),
        status(id, 'created'),
        ...graphChanges('b1', afterJob),
        status(id, 'running'),
      ],
    }),
    ok(),
  ];
}

/** A stream of top (auto-finalize off) beside b1, up to its BLOCK_JOB_PENDING. */
function streamPending(id: string): Step[] {
  return [
    send('block-stream', { 'job-id': id, device: 'top', 'auto-finalize': false }),
    ...startsBesideB1(id, 3, 2),
    ...statuses(id, 'waiting', 'pending'),
    pendingEvent('stream', id),
  ];
}

/** A commit of mid into base (auto-finalize off) beside b1, up to its BLOCK_JOB_PENDING. */
function commitPending(id: string): Step[] {
  return [
    send('block-commit', {
      'job-id': id,
      device: 'top',
      'top-node': 'mid',
      'base-node': 'base',
      'auto-finalize': false,
    }),
    ...startsBesideB1(id, 1, 4),
    ...statuses(id, 'waiting', 'pending'),
    pendingEvent('commit', id),
  ];
}

/** The end of `id` (`end`: its CANCELLED or COMPLETED event) beside b1, then concluded, null. */
function endsBesideB1(id: string, atEnd: number, whenFreed: number, end: Step): Step {
  return byVersion({
    '7.2': [end, ...statuses(id, 'concluded', 'null')],
    '10.0': [
      ...graphChanges('b1', atEnd),
      end,
      ...statuses(id, 'concluded', 'null'),
      ...graphChanges('b1', whenFreed),
    ],
  });
}

export const chainJobsEndBesideABackupScenarios: Scenario[] = [
  {
    name: 'stream-and-commit-cancelled-or-finalized-beside-a-throttled-backup',
    about:
      'a pending stream and a pending commit, cancelled and then finalized, beside a throttled backup: on 10.0 a cancelled stream drains it twice before its BLOCK_JOB_CANCELLED (a finalized one three times), a cancelled commit five times (a finalized one four); freeing them drains it twice (stream) or once (commit)',
    setup: threeLayerChain.setup,
    blockdevs: [...threeLayerChain.blockdevs, nullCo('src1', SIZE), nullCo('dst1', SIZE)],
    steps: [
      ...backupStarts({
        'job-id': 'b1',
        device: 'src1',
        target: 'dst1',
        sync: 'full',
        speed: 512,
      }),
      idleAt('b1', MiB),
      ...streamPending('j1'),
      send('block-job-cancel', { device: 'j1' }),
      status('j1', 'aborting'),
      endsBesideB1('j1', 2, 2, cancelled('stream', 'j1', SIZE, SIZE)),
      ok(),
      ...commitPending('j2'),
      send('job-cancel', { id: 'j2' }),
      status('j2', 'aborting'),
      endsBesideB1('j2', 5, 1, cancelled('commit', 'j2', SIZE, SIZE)),
      ok(),
      ...commitPending('j3'),
      send('job-finalize', { id: 'j3' }),
      endsBesideB1('j3', 4, 1, completed('commit', 'j3', SIZE)),
      ok(),
      ...streamPending('j4'),
      send('job-finalize', { id: 'j4' }),
      endsBesideB1('j4', 3, 2, completed('stream', 'j4', SIZE)),
      ok(),
    ],
  },
  {
    name: 'stream-and-commit-filter-node-name-refused-beside-a-throttled-backup',
    about:
      "a refused filter-node-name (an existing node's, invalid, too long): stream inserts its copy-on-read filter with bdrv_insert_node ('Could not create node: ' before the reason); a commit's job exists when its commit_top filter is refused (created, then null); an active commit's mirror_top is refused before its job; on 10.0 the half-made filter's closing drains the backup beside them once (the commit's freeing once more)",
    setup: threeLayerChain.setup,
    blockdevs: [...threeLayerChain.blockdevs, nullCo('src1', SIZE), nullCo('dst1', SIZE)],
    steps: [
      ...backupStarts({
        'job-id': 'b1',
        device: 'src1',
        target: 'dst1',
        sync: 'full',
        speed: 512,
      }),
      idleAt('b1', MiB),
      ...BAD_FILTER_NAMES.flatMap(([name, reason]) => [
        send('block-stream', { 'job-id': 's', device: 'top', 'filter-node-name': name }),
        byVersion({ '7.2': [], '10.0': graphChanges('b1', 1) }),
        generic(`Could not create node: ${reason}`),
      ]),
      ...BAD_FILTER_NAMES.flatMap(([name, reason]) => [
        send('block-commit', {
          'job-id': 'c',
          device: 'top',
          'top-node': 'mid',
          'base-node': 'base',
          'filter-node-name': name,
        }),
        byVersion({
          '7.2': statuses('c', 'created', 'null'),
          '10.0': [
            ...graphChanges('b1', 1),
            status('c', 'created'),
            ...graphChanges('b1', 1),
            status('c', 'null'),
            ...graphChanges('b1', 1),
          ],
        }),
        generic(reason),
      ]),
      ...BAD_FILTER_NAMES.flatMap(([name, reason]) => [
        send('block-commit', { 'job-id': 'a', device: 'top', 'filter-node-name': name }),
        byVersion({ '7.2': [], '10.0': graphChanges('b1', 1) }),
        generic(reason),
      ]),
      send('query-jobs'),
      ok([jobInfo('backup', 'b1', 'running', MiB, SIZE)]),
    ],
  },
];
