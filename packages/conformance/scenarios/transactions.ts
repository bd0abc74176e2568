// Transactions of backup actions: creation order, grouped success with manual finalize, grouped
// failure (both creation orders), cancel of a member, rollback (abort action, duplicate id,
// unsupported action), individual mode, drains of other jobs.
// job-semantics.md §5.5, §5.8, §6.8, §9 traps 2, 15-17, 24.

import {
  blockJobError,
  byVersion,
  cancelled,
  completed,
  generic,
  idleAt,
  jobInfo,
  ok,
  pendingEvent,
  type Scenario,
  send,
  status,
  statuses,
} from '../src/scenario.js';
import {
  backupEndsBeside,
  backupStartsBeside,
  blkdebug,
  endsCancelled,
  graphChanges,
  MiB,
  nullCo,
} from './common.js';

const SIZE = 64 * MiB;
const CHUNK = MiB;

const nodes = [
  nullCo('src1', SIZE),
  nullCo('dst1', SIZE),
  nullCo('src2', SIZE),
  nullCo('dst2', SIZE),
  // Reads of the 1 MiB chunk at 2 MiB fail with EIO.
  blkdebug('bad', 'src2', [{ event: 'none', iotype: 'read', errno: 5, sector: 4096 }]),
];

const backupAction = (id: string, device: string, target: string, extra = {}) => ({
  type: 'blockdev-backup',
  data: { 'job-id': id, device, target, sync: 'full', ...extra },
});
const grouped = { 'completion-mode': 'grouped' };

/**
 * Two backups created in one transaction: created, created, then each starts inside the drain of
 * its source and resumes when that drained section ends — in action order on 7.2, newest first
 * on 10.0 (its Transaction API commits and cleans up the actions in reverse).
 */
const twoStart = (first: string, second: string) => {
  const startInDrain = (a: string, b: string) => [
    ...statuses(a, 'running', 'paused'),
    ...statuses(b, 'running', 'paused'),
    status(a, 'running'),
    status(b, 'running'),
  ];
  return [
    status(first, 'created'),
    status(second, 'created'),
    byVersion({ '7.2': startInDrain(first, second), '10.0': startInDrain(second, first) }),
  ];
};

export const transactionScenarios: Scenario[] = [
  {
    name: 'txn-grouped-manual-finalize',
    about:
      'grouped: a finished member waits for the other; then all go pending newest first (PENDING only for auto-finalize false), and finalizing one member finalizes both (§6.8)',
    blockdevs: nodes,
    steps: [
      send('transaction', {
        actions: [
          backupAction('j1', 'src1', 'dst1', { speed: 1, 'auto-finalize': false }),
          backupAction('j2', 'src2', 'dst2', { speed: 1 }),
        ],
        properties: grouped,
      }),
      ...twoStart('j1', 'j2'),
      ok(),
      idleAt('j1', CHUNK),
      idleAt('j2', CHUNK),
      send('block-job-set-speed', { device: 'j1', speed: 0 }),
      status('j1', 'waiting'),
      ok(),
      send('block-job-set-speed', { device: 'j2', speed: 0 }),
      status('j2', 'waiting'),
      status('j2', 'pending'),
      status('j1', 'pending'),
      pendingEvent('backup', 'j1'),
      ok(),
      send('job-finalize', { id: 'j2' }),
      completed('backup', 'j2', SIZE),
      ...statuses('j2', 'concluded', 'null'),
      completed('backup', 'j1', SIZE),
      ...statuses('j1', 'concluded', 'null'),
      ok(),
    ],
  },
  {
    name: 'txn-grouped-failure-newest-fails',
    about:
      'grouped, the newer member fails: it is finalized first (COMPLETED with error), then the older one is cancelled (§6.8)',
    blockdevs: nodes,
    steps: [
      send('transaction', {
        actions: [
          backupAction('ok1', 'src1', 'dst1', { speed: 1, 'auto-dismiss': false }),
          backupAction('bad1', 'bad', 'dst2', { 'auto-dismiss': false }),
        ],
        properties: grouped,
      }),
      ...twoStart('ok1', 'bad1'),
      blockJobError('bad1', 'read', 'report'),
      ok(),
      status('bad1', 'aborting'),
      byVersion({
        '7.2': [
          completed('backup', 'bad1', SIZE, SIZE - CHUNK, 0, 'Input/output error'),
          status('bad1', 'concluded'),
          status('ok1', 'aborting'),
        ],
        // bad1's end changes the graph, which drains ok1 too: entered, ok1 sees its cancel and
        // ends there, before bad1's COMPLETED.
        '10.0': [
          status('ok1', 'aborting'),
          completed('backup', 'bad1', SIZE, SIZE - CHUNK, 0, 'Input/output error'),
          status('bad1', 'concluded'),
        ],
      }),
      cancelled('backup', 'ok1', SIZE, CHUNK, 1),
      status('ok1', 'concluded'),
      send('query-jobs'),
      ok([
        jobInfo('backup', 'bad1', 'concluded', SIZE - CHUNK, SIZE, 'Input/output error'),
        jobInfo('backup', 'ok1', 'concluded', CHUNK, SIZE, 'Operation canceled'),
      ]),
    ],
  },
  {
    name: 'txn-grouped-failure-oldest-fails',
    about:
      'grouped, the older member fails: after its aborting, the newer one is cancelled and finalized first, then the failed one (§6.8)',
    blockdevs: nodes,
    steps: [
      send('transaction', {
        actions: [
          backupAction('bad1', 'bad', 'dst2'),
          backupAction('ok1', 'src1', 'dst1', { speed: 1 }),
        ],
        properties: grouped,
      }),
      ...twoStart('bad1', 'ok1'),
      blockJobError('bad1', 'read', 'report'),
      ok(),
      status('bad1', 'aborting'),
      ...endsCancelled('backup', 'ok1', SIZE, CHUNK, 1),
      completed('backup', 'bad1', SIZE, SIZE - CHUNK, 0, 'Input/output error'),
      ...statuses('bad1', 'concluded', 'null'),
    ],
  },
  {
    name: 'txn-grouped-cancel-member',
    about:
      'job-cancel of one running member of a grouped transaction cancels both, all before the reply, newest finalized first (§6.8)',
    blockdevs: nodes,
    steps: [
      send('transaction', {
        actions: [
          backupAction('j1', 'src1', 'dst1', { speed: 1 }),
          backupAction('j2', 'src2', 'dst2', { speed: 1 }),
        ],
        properties: grouped,
      }),
      ...twoStart('j1', 'j2'),
      ok(),
      idleAt('j1', CHUNK),
      idleAt('j2', CHUNK),
      send('job-cancel', { id: 'j1' }),
      status('j1', 'aborting'),
      ...endsCancelled('backup', 'j2', SIZE, CHUNK, 1),
      cancelled('backup', 'j1', SIZE, CHUNK, 1),
      ...statuses('j1', 'concluded', 'null'),
      ok(),
    ],
  },
  {
    name: 'txn-individual-failure-isolated',
    about:
      'the default completion mode (individual): one member failing leaves the other running (§5.5)',
    blockdevs: nodes,
    steps: [
      send('transaction', {
        actions: [
          backupAction('ok1', 'src1', 'dst1', { speed: 1 }),
          backupAction('bad1', 'bad', 'dst2'),
        ],
      }),
      ...twoStart('ok1', 'bad1'),
      blockJobError('bad1', 'read', 'report'),
      ok(),
      status('bad1', 'aborting'),
      backupEndsBeside(
        'ok1',
        'bad1',
        completed('backup', 'bad1', SIZE, SIZE - CHUNK, 0, 'Input/output error'),
      ),
      idleAt('ok1', CHUNK),
      send('query-jobs'),
      ok([jobInfo('backup', 'ok1', 'running', CHUNK, SIZE)]),
    ],
  },
  {
    name: 'txn-rollback',
    about:
      'a failing action rolls back the jobs already created (created, aborting, concluded, null; no BLOCK_JOB_*): abort action, duplicate id, grouped with an unsupported action (§5.5)',
    blockdevs: nodes,
    steps: [
      send('transaction', {
        actions: [backupAction('j1', 'src1', 'dst1', { speed: 1 }), { type: 'abort', data: {} }],
      }),
      ...statuses('j1', 'created', 'aborting', 'concluded', 'null'),
      generic('Transaction aborted using Abort action'),
      send('transaction', {
        actions: [
          backupAction('j1', 'src1', 'dst1', { speed: 1 }),
          backupAction('j1', 'src2', 'dst2', { speed: 1 }),
        ],
      }),
      ...statuses('j1', 'created', 'aborting', 'concluded', 'null'),
      generic("Job ID 'j1' already in use"),
      send('transaction', {
        actions: [
          backupAction('j1', 'src1', 'dst1'),
          { type: 'blockdev-snapshot-internal-sync', data: { device: 'src1', name: 'snap' } },
        ],
        properties: grouped,
      }),
      byVersion({
        // 7.2 refuses the action when it prepares it, after the backup before it was created.
        '7.2': [
          ...statuses('j1', 'created', 'aborting', 'concluded', 'null'),
          generic(
            "Action 'blockdev-snapshot-internal-sync' does not support Transaction property completion-mode = grouped",
          ),
        ],
        // 10.0 checks every action first: no job, no event.
        '10.0': [
          generic(
            "Action 'blockdev-snapshot-internal-sync' does not support transaction property completion-mode = grouped",
          ),
        ],
      }),
      send('query-jobs'),
      ok([]),
    ],
  },
  {
    name: 'txn-drains-other-jobs',
    about:
      'a transaction (even empty, even failing) pauses and resumes every other running job before its reply (§5.5, §5.8)',
    blockdevs: nodes,
    steps: [
      send('transaction', { actions: [backupAction('j1', 'src1', 'dst1', { speed: 1 })] }),
      ...statuses('j1', 'created', 'running', 'paused', 'running'),
      ok(),
      idleAt('j1', CHUNK),
      send('transaction', { actions: [] }),
      ...statuses('j1', 'paused', 'running'),
      ok(),
      send('transaction', {
        actions: [backupAction('j2', 'src2', 'dst2', { speed: 1 }), { type: 'abort', data: {} }],
      }),
      byVersion({
        '7.2': [
          ...statuses('j1', 'paused', 'running'),
          ...statuses('j2', 'created', 'aborting', 'concluded', 'null'),
        ],
        // bdrv_drain_all(), j2's filter put in (four graph changes) and attached (one); rolled
        // back, the filter goes (three) and j2 is freed (one).
        '10.0': [
          ...graphChanges('j1', 5),
          status('j2', 'created'),
          ...graphChanges('j1', 1),
          status('j2', 'aborting'),
          ...graphChanges('j1', 3),
          ...statuses('j2', 'concluded', 'null'),
          ...graphChanges('j1', 1),
        ],
      }),
      generic('Transaction aborted using Abort action'),
      send('transaction', { actions: [backupAction('j2', 'src2', 'dst2', { speed: 1 })] }),
      backupStartsBeside('j1', 'j2'),
      ok(),
    ],
  },
  {
    name: 'txn-grouped-cancel-waiting-member-paused-other',
    about:
      'grouped: one member finished (waiting), the other paused by the user; job-cancel of the finished one cancels the paused one, which leaves its pause point (running) before it ends (aborting); on 10.0 before the first member ends, in the drain of its clean-up — found by the differential tester, 10.0 seed 2676 (§6.8)',
    blockdevs: nodes,
    steps: [
      send('transaction', {
        actions: [
          backupAction('t1', 'src1', 'dst1', { speed: 1 }),
          backupAction('t2', 'src2', 'dst2', { speed: 512 }),
        ],
        properties: grouped,
      }),
      ...twoStart('t1', 't2'),
      ok(),
      idleAt('t1', CHUNK),
      idleAt('t2', CHUNK),
      send('block-job-set-speed', { device: 't2', speed: 0 }),
      status('t2', 'waiting'),
      ok(),
      send('job-pause', { id: 't1' }),
      status('t1', 'paused'),
      ok(),
      send('job-cancel', { id: 't2' }),
      status('t2', 'aborting'),
      byVersion({
        '7.2': [
          cancelled('backup', 't2', SIZE, SIZE, 0),
          ...statuses('t2', 'concluded', 'null'),
          ...statuses('t1', 'running', 'aborting'),
        ],
        // t2's clean-up drains every node: that drain enters t1, which ends there.
        '10.0': [
          ...statuses('t1', 'running', 'aborting'),
          cancelled('backup', 't2', SIZE, SIZE, 0),
          ...statuses('t2', 'concluded', 'null'),
        ],
      }),
      cancelled('backup', 't1', SIZE, CHUNK, 1),
      ...statuses('t1', 'concluded', 'null'),
      ok(),
    ],
  },
];
