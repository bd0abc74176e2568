// qmp_transaction() and its backup actions (blockdev.c: blockdev_backup_prepare,
// drive_backup_prepare, do_backup_common; backup.c backup_job_create). blockdev-backup and
// drive-backup are one-action transactions, as in QEMU.

import type { JobTransaction } from '@qmpkit/job-engine';
import { CommandError } from '@qmpkit/protocol';
import type {
  BackupCommon,
  BlockdevBackup,
  DriveBackup,
  QmpEmpty,
  TransactionAction,
  TransactionArgs,
} from '@qmpkit/qapi-types/7.2';
import {
  abandonBackupBitmap,
  type BackupSyncBitmap,
  beginBackupBitmap,
  bitmapCopyExtents,
  resolveBackupBitmap,
} from '../../bitmaps/backup-sync.js';
import { BitmapCommands } from '../../bitmaps/commands.js';
import { addBackupBitmaps } from '../../bitmaps/job-bitmaps.js';
import type { BlockNode } from '../../block-layer.js';
import type { GraphChanges } from '../../runtime/drain.js';
import { backupDriver, backupState } from '../backup.js';
import type { JobRun } from '../driver.js';
import { allocatedInNode, copyOnly } from '../io.js';
import { WorkList } from '../schedule.js';
import { BACKUP_CHUNK_SIZE } from '../sizes.js';
import { type ActionState, blockNode, generic, type JobFactory } from './context.js';
import { closeImage, createImage, openImage } from './images.js';

/**
 * backup_job_create(): bdrv_cbw_append opens the copy-before-write filter with its children
 * and puts it above the source (four graph changes), block_job_create attaches the filter to
 * the job (one); a job refused by block_job_create drops the filter again (two). Measured on
 * qemu-storage-daemon 10.0.2, where each drains every other job.
 */
const BACKUP_GRAPH_CHANGES: GraphChanges = { beforeJob: 4, afterJob: 1, onRefusal: 2 };

/**
 * qmp_transaction(), also behind blockdev-backup: drain everything, prepare each action
 * (a backup is created on its drained source), start the jobs, or roll back on the first
 * failure; then end each action's drained section.
 */
export function transaction(jobs: JobFactory, a: TransactionArgs): QmpEmpty {
  const mode = a.properties?.['completion-mode'] ?? 'individual';
  const txn = mode === 'grouped' ? jobs.engine.newTransaction() : undefined;
  const group = mode === 'grouped' ? new Set<JobRun>() : undefined;
  // bdrv_drain_all(): a drained section over every node, begun and ended.
  jobs.drainEnd(jobs.drainBegin(undefined), false);
  const states: ActionState[] = [];
  let failure: unknown;
  for (const action of a.actions) {
    const state: ActionState = {};
    states.push(state);
    try {
      prepareAction(jobs, action, mode, txn, group, state);
    } catch (error) {
      failure = error;
      break;
    }
  }
  // 7.2 commits and cleans the actions in their order; 10.0 (the Transaction API) newest first.
  const inCommitOrder = jobs.profile.transactionCommitsNewestFirst ? [...states].reverse() : states;
  if (failure === undefined) {
    for (const state of inCommitOrder) {
      state.bitmapAction?.commit?.();
      if (state.jobId !== undefined) jobs.start(state.jobId);
    }
  } else {
    for (const state of [...states].reverse()) {
      state.bitmapAction?.abort?.();
      if (state.jobId !== undefined && jobs.engine.has(state.jobId)) {
        jobs.applyEffects(jobs.engine.rollback(state.jobId).effects);
        jobs.discard(state.jobId);
      }
    }
  }
  for (const state of inCommitOrder) if (state.drained) jobs.drainEnd(state.drained, true);
  if (failure !== undefined) throw failure;
  return {};
}

function prepareAction(
  jobs: JobFactory,
  action: TransactionAction,
  mode: string,
  txn: JobTransaction | undefined,
  group: Set<JobRun> | undefined,
  state: ActionState,
): void {
  switch (action.type) {
    case 'abort':
      throw generic('Transaction aborted using Abort action');
    case 'blockdev-backup':
      prepareBackup(jobs, action.data, txn, group, state);
      return;
    case 'drive-backup':
      prepareDriveBackup(jobs, action.data, txn, group, state);
      return;
    default: {
      const bitmapAction = new BitmapCommands(jobs.layer, jobs.layer.dirtyBitmaps).prepare(
        action.type,
        action.data,
        mode,
      );
      if (bitmapAction !== undefined) {
        state.bitmapAction = bitmapAction;
        return;
      }
      if (mode !== 'individual') {
        throw generic(
          `Action '${action.type}' does not support Transaction property completion-mode = ${mode}`,
        );
      }
      throw generic(`qmpkit does not simulate the transaction action '${action.type}'`);
    }
  }
}

function prepareBackup(
  jobs: JobFactory,
  b: BlockdevBackup,
  txn: JobTransaction | undefined,
  group: Set<JobRun> | undefined,
  state: ActionState,
): void {
  const layer = jobs.layer;
  const bs = blockNode(layer, b.device);
  const target = blockNode(layer, b.target);
  // bdrv_drained_begin(bs), ended by the action's clean().
  state.drained = jobs.drainBegin(bs);
  backupCommon(jobs, b, bs, target, txn, group, state, undefined);
}

/** drive_backup_prepare(): the target image is created (unless existing) and opened. */
function prepareDriveBackup(
  jobs: JobFactory,
  b: DriveBackup,
  txn: JobTransaction | undefined,
  group: Set<JobRun> | undefined,
  state: ActionState,
): void {
  const mode = b.mode ?? 'absolute-paths';
  const bs = blockNode(jobs.layer, b.device);
  state.drained = jobs.drainBegin(bs);
  const format = b.format ?? (mode === 'existing' ? undefined : bs.driver);
  // Early check to avoid creating the target.
  jobs.assertOpenToJobs(bs);
  let sync = b.sync;
  let source: BlockNode | undefined;
  if (sync === 'top') {
    source = bs.backing;
    if (source === undefined) sync = 'full';
  }
  if (sync === 'none') source = bs;
  if (mode !== 'existing') createImage(jobs, b.target, format as string, bs.length, source);
  const target = openImage(jobs, b.target, format, undefined);
  try {
    backupCommon(jobs, { ...b, sync }, bs, target, txn, group, state, () =>
      closeImage(jobs, target),
    );
  } catch (error) {
    if (state.jobId === undefined) closeImage(jobs, target);
    throw error;
  }
}

/** do_backup_common() and backup_job_create(). */
function backupCommon(
  jobs: JobFactory,
  b: BackupCommon,
  bs: BlockNode,
  target: BlockNode,
  txn: JobTransaction | undefined,
  group: Set<JobRun> | undefined,
  state: ActionState,
  onRelease: (() => void) | undefined,
): void {
  const layer = jobs.layer;
  const resolved = resolveBackupBitmap(layer, bs, b);
  if (bs === target) throw generic('Source and target cannot be the same');
  if (b.compress === true && target.driver !== 'qcow2') {
    throw generic('Compression is not supported for this drive ');
  }
  jobs.assertOpenToJobs(bs);
  jobs.assertOpenToJobs(target);
  const perf = b['x-perf'];
  const maxWorkers = perf?.['max-workers'] ?? 64;
  if (maxWorkers < 1 || maxWorkers > 2147483647) {
    throw generic('max-workers must be between 1 and 2147483647');
  }
  const maxChunk = perf?.['max-chunk'] ?? 0;
  if (maxChunk < 0) {
    throw generic('max-chunk must be zero (which means no limit) or positive');
  }
  const syncBitmap =
    resolved.bitmap && beginBackupBitmap(layer, bs, resolved.bitmap.bitmap, resolved.bitmap.mode);
  try {
    backupJob(jobs, b, bs, target, txn, group, state, onRelease, resolved.sync, syncBitmap);
  } catch (error) {
    if (syncBitmap !== undefined && state.jobId === undefined) {
      abandonBackupBitmap(layer, syncBitmap);
    }
    throw error;
  }
}

/** backup_job_create() from the bitmap's successor on: sizes, the filter, the job. */
function backupJob(
  jobs: JobFactory,
  b: BackupCommon,
  bs: BlockNode,
  target: BlockNode,
  txn: JobTransaction | undefined,
  group: Set<JobRun> | undefined,
  state: ActionState,
  onRelease: (() => void) | undefined,
  sync: BackupCommon['sync'],
  syncBitmap: BackupSyncBitmap | undefined,
): void {
  const layer = jobs.layer;
  const maxChunk = b['x-perf']?.['max-chunk'] ?? 0;
  const maxWorkers = b['x-perf']?.['max-workers'] ?? 64;
  if (bs.length !== target.length) {
    throw generic('Source and target image have different sizes');
  }
  if (b['filter-node-name'] !== undefined) {
    try {
      layer.checkNewNodeName(b['filter-node-name']);
    } catch (e) {
      // The half-made filter node is closed again (one graph change); backup inserts its filter
      // with bdrv_insert_node, which prefixes the error.
      jobs.graphChange();
      if (!CommandError.isInstance(e)) throw e;
      throw generic(`Could not create node: ${e.desc}`);
    }
  }
  const cluster = Math.max(64 * 1024, target.qcow2?.clusterSize ?? 0);
  if (maxChunk !== 0 && maxChunk < cluster) {
    // Checked once the filter is in (its block-copy state knows the cluster size); refused,
    // the filter goes again.
    jobs.graphChange(BACKUP_GRAPH_CHANGES.beforeJob + BACKUP_GRAPH_CHANGES.onRefusal);
    throw generic(`Required max-chunk (${maxChunk}) is less than backup cluster size (${cluster})`);
  }
  const id = jobs.createJob({
    id: b['job-id'],
    type: 'backup',
    transaction: txn,
    autoFinalize: b['auto-finalize'],
    autoDismiss: b['auto-dismiss'],
    speed: b.speed,
    graphChanges: BACKUP_GRAPH_CHANGES,
  });
  state.jobId = id;
  const chunk = Math.max(
    cluster,
    maxChunk !== 0 ? Math.min(BACKUP_CHUNK_SIZE, maxChunk) : BACKUP_CHUNK_SIZE,
  );
  let work: WorkList;
  let total: number;
  if (sync === 'bitmap' && syncBitmap !== undefined) {
    work = new WorkList(bitmapCopyExtents(syncBitmap.bitmap, cluster, bs.length), chunk);
    total = work.totalCopy;
  } else if (sync === 'top') {
    // Only what the top node holds itself (block_copy_reset_unallocated): nothing from a null-co
    // node without read-zeroes.
    work = new WorkList(copyOnly(allocatedInNode(layer, bs), bs.length), chunk);
    total = work.totalCopy;
  } else if (sync === 'none') {
    work = new WorkList([], chunk);
    total = bs.length;
  } else {
    work = new WorkList(bs.length > 0 ? [{ copy: true, length: bs.length }] : [], chunk);
    total = bs.length;
  }
  const d = jobs.newDriver(id, backupDriver, {
    state: backupState({ endless: sync === 'none', syncBitmap }),
    work,
    total,
    lazyStart: sync === 'top' && bs.backing !== undefined,
    // block-copy keeps max-workers requests in flight, and has one more ready to go.
    wave: maxWorkers + 1,
    read: { node: bs, policy: b['on-source-error'] ?? 'report' },
    write: { node: target, policy: b['on-target-error'] ?? 'report' },
    attached: [{ node: bs, blocker: false }, { node: target }],
    filterOn: bs,
    group,
  });
  if (onRelease !== undefined) d.release.push(onRelease);
  addBackupBitmaps({
    layer,
    profile: jobs.profile,
    d,
    source: bs,
    filterName: b['filter-node-name'],
    cluster,
    endless: sync === 'none',
    failedChunks: () => (d.state.kind === 'backup' ? d.state.failures.map((f) => f.chunk) : []),
  });
  // A job that never ran (a transaction rolled back) gives the successor back.
  if (syncBitmap !== undefined) d.release.push(() => abandonBackupBitmap(layer, syncBitmap));
  // The job's nodes are drained: it holds that pause from its creation.
  jobs.applyEffects(jobs.engine.pauseInternal(id).effects);
  state.drained?.push(d);
}
