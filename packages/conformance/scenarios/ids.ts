// Job-id rules: grammar, duplicates (across job types, while a concluded job is undismissed),
// the default id on qemu-storage-daemon (no drive names: always the empty string).
// job-semantics.md §5.2, §5.3, §5.5, §9 traps 2, 9, 19.

import {
  byVersion,
  cancelled,
  generic,
  idleAt,
  ok,
  type Scenario,
  type Step,
  send,
  status,
  statuses,
} from '../src/scenario.js';
import { graphChanges, MiB, nullCo, twoLayerChain } from './common.js';

const SIZE = 64 * MiB;
const MIRROR_CHUNK = 16 * MiB;

/** Start a throttled mirror `id` from src to dst, and cancel it once its first chunk is done. */
const mirrorAndCancel = (id: string): Step[] => [
  send('blockdev-mirror', { 'job-id': id, device: 'src', target: 'dst', sync: 'full', speed: 1 }),
  ...statuses(id, 'created', 'running'),
  ok(),
  idleAt(id, MIRROR_CHUNK),
  send('job-cancel', { id }),
  ok(),
  status(id, 'aborting'),
  cancelled('mirror', id, SIZE, MIRROR_CHUNK, 1),
  ...statuses(id, 'concluded', 'null'),
];

const INVALID_IDS = ['1abc', 'a b', 'a:b', 'a/b', 'é', '-a', '_a', '.a', '#x', ''];

export const idScenarios: Scenario[] = [
  {
    name: 'job-id-grammar',
    about:
      'a job id starts with a letter, then letters, digits, - . _; no length limit; anything else is "Invalid job ID" with no job created (§5.2)',
    blockdevs: [nullCo('src', SIZE), nullCo('dst', SIZE)],
    steps: [
      ...INVALID_IDS.flatMap((id) => [
        send('blockdev-mirror', { 'job-id': id, device: 'src', target: 'dst', sync: 'full' }),
        generic(`Invalid job ID '${id}'`),
      ]),
      ...mirrorAndCancel('a-b.c_d'),
      ...mirrorAndCancel('A9'),
      ...mirrorAndCancel(`x${'y'.repeat(999)}`),
    ],
  },
  {
    name: 'job-id-default-is-empty',
    about:
      'without job-id, on a node with no drive name, every job command fails with "Invalid job ID \'\'" (a transaction still drains first) (§5.3)',
    setup: twoLayerChain.setup,
    blockdevs: [...twoLayerChain.blockdevs, nullCo('src', SIZE), nullCo('dst', SIZE)],
    steps: [
      send('block-stream', { device: 'top' }),
      generic("Invalid job ID ''"),
      send('block-commit', { device: 'top' }),
      generic("Invalid job ID ''"),
      send('blockdev-mirror', { device: 'src', target: 'dst', sync: 'full' }),
      generic("Invalid job ID ''"),
      send('blockdev-backup', { device: 'src', target: 'dst', sync: 'full' }),
      generic("Invalid job ID ''"),
      send('transaction', {
        actions: [
          { type: 'blockdev-backup', data: { device: 'src', target: 'dst', sync: 'full' } },
        ],
      }),
      generic("Invalid job ID ''"),
      send('query-jobs'),
      ok([]),
    ],
  },
  {
    name: 'job-id-duplicates',
    about:
      'a job id in use is refused by any job command; a failing blockdev-backup still drains the running job; a job id may equal a node name (§5.2, §5.5)',
    blockdevs: [
      nullCo('src', SIZE),
      nullCo('dst', SIZE),
      nullCo('src2', SIZE),
      nullCo('dst2', SIZE),
    ],
    steps: [
      send('blockdev-mirror', {
        'job-id': 'm1',
        device: 'src',
        target: 'dst',
        sync: 'full',
        speed: 1,
      }),
      ...statuses('m1', 'created', 'running'),
      ok(),
      idleAt('m1', MIRROR_CHUNK),
      send('blockdev-mirror', { 'job-id': 'm1', device: 'src2', target: 'dst2', sync: 'full' }),
      // 10.0: the mirror's filter put in and taken out again (four graph changes).
      byVersion({ '7.2': [], '10.0': graphChanges('m1', 4) }),
      generic("Job ID 'm1' already in use"),
      send('blockdev-backup', { 'job-id': 'm1', device: 'src2', target: 'dst2', sync: 'full' }),
      // bdrv_drain_all(); 10.0: the backup's filter put in and dropped again (six graph changes).
      byVersion({ '7.2': statuses('m1', 'paused', 'running'), '10.0': graphChanges('m1', 7) }),
      generic("Job ID 'm1' already in use"),
      // 7.2: each drain lets the throttled mirror copy one more chunk. 10.0: the woken mirror
      // waits out the rate-limit delay it owes.
      byVersion({
        '7.2': [idleAt('m1', 2 * MIRROR_CHUNK)],
        '10.0': [idleAt('m1', MIRROR_CHUNK)],
      }),
      send('blockdev-mirror', {
        'job-id': 'src2',
        device: 'src2',
        target: 'dst2',
        sync: 'full',
        speed: 1,
      }),
      byVersion({
        '7.2': statuses('src2', 'created', 'running'),
        '10.0': [
          ...graphChanges('m1', 2),
          status('src2', 'created'),
          ...graphChanges('m1', 2),
          status('src2', 'running'),
        ],
      }),
      ok(),
      idleAt('src2', MIRROR_CHUNK),
      send('job-cancel', { id: 'src2' }),
      ok(),
      status('src2', 'aborting'),
      byVersion({
        '7.2': [
          cancelled('mirror', 'src2', SIZE, MIRROR_CHUNK, 1),
          ...statuses('src2', 'concluded', 'null'),
        ],
        // The mirror's filter goes (four graph changes), and the job is freed (one).
        '10.0': [
          ...graphChanges('m1', 4),
          cancelled('mirror', 'src2', SIZE, MIRROR_CHUNK, 1),
          ...statuses('src2', 'concluded', 'null'),
          ...graphChanges('m1', 1),
        ],
      }),
    ],
  },
];
