// The backup job (block/backup.c over block/block-copy.c). The job itself does little: it starts
// a block-copy call over the whole image and waits in job_yield until the call is done. The
// copying, 1 MiB per request with up to max-workers requests in flight, is block-copy's, and so
// is the rate limiter: a throttled backup is idle (busy: false) while block-copy sleeps.
//
// - A new speed does not enter the job (it waits without a timer); backup's set_speed kicks
//   block-copy, which asks the limiter again before its next request.
// - On instant I/O (null-co) block-copy's requests complete inside the command that wakes it.
// - A failed request does not stop the call: the other chunks go on, and when the call ends the
//   error action is taken for the first failure; its chunks become a new call's work (retried
//   at once after ignore, after resume from stop).
// - sync=none copies nothing and runs until cancelled.
// - clean: its copy-before-write filter leaves the source in a drained section, pausing every
//   other job on that node before the backup's terminal event.

import { type BackupSyncBitmap, endBackupBitmap } from '../bitmaps/backup-sync.js';
import { uncopiedRanges } from '../bitmaps/job-bitmaps.js';
import {
  beginRun,
  newPlan,
  reachEnd,
  replaceWork,
  requestsInFlight,
  restartPlan,
  scheduleKickoff,
  syncTo,
} from '../runtime/copy-loop.js';
import { drainBegin, drainEnd, graphChange } from '../runtime/drain.js';
import { errorAction } from '../runtime/io-errors.js';
import { copyJobDriver, type JobDriver } from '../runtime/job-driver.js';
import { defer, finish, idle, type JobRuntime, stopPlan } from '../runtime/job-runtime.js';
import type { BackupState, JobRun } from './driver.js';
import { WorkList } from './schedule.js';

export function backupState(options: {
  endless: boolean;
  syncBitmap?: BackupSyncBitmap | undefined;
}): BackupState {
  return {
    kind: 'backup',
    endless: options.endless,
    failures: [],
    betweenCalls: false,
    syncBitmap: options.syncBitmap,
  };
}

/** Device byte ranges the job has not copied: the work past its frontier and failed chunks. */
function uncopied(d: JobRun): Array<{ start: number; end: number }> {
  return uncopiedRanges(
    d,
    stateOf(d).failures.map((f) => f.chunk),
  );
}

function stateOf(d: JobRun): BackupState {
  if (d.state.kind !== 'backup') throw new Error(`job '${d.id}' is not a backup`);
  return d.state;
}

/** backup_loop(): a new block-copy call from the job's frontier; the job waits in job_yield. */
function resume(rt: JobRuntime, d: JobRun, forgetSleep: boolean): void {
  const state = stateOf(d);
  state.betweenCalls = false;
  if (state.endless) {
    idle(rt, d);
    return;
  }
  restartPlan(rt, d, forgetSleep);
  // While block-copy works the job waits in job_yield, unless requests are in flight that a
  // pause must wait for (then it stays busy).
  if (!requestsInFlight(rt, d)) idle(rt, d);
  scheduleKickoff(rt, d);
}

/**
 * The block-copy call ended with failed chunks: the error action for the first, and the failed
 * chunks become the work left (retried at once after ignore, after resume from stop).
 */
function callFailed(rt: JobRuntime, d: JobRun): void {
  const state = stateOf(d);
  const first = state.failures[0] as { chunk: number; iotype: 'read' | 'write'; errno: number };
  const extents = state.failures.map((f) => d.work.chunk(f.chunk));
  stopPlan(rt, d);
  d.progressBase = d.applied;
  replaceWork(
    d,
    new WorkList(
      extents.map((c) => ({ copy: true, length: c.bytes, device: c.device })),
      d.work.chunkSize,
    ),
  );
  state.failures = [];
  d.failedBytes = 0;
  d.errorsClearedTo = 0;
  const stopped = errorAction(rt, d, first, 0);
  state.betweenCalls = stopped;
  if (!stopped) {
    // ignore: backup_loop starts a new block-copy call at once.
    defer(rt, () => {
      const run = rt.engine.job(d.id)?.run;
      if (run === 'sleeping' || run === 'busy') resume(rt, d, false);
    });
  }
}

export const backupDriver: JobDriver = {
  ...copyJobDriver,
  kind: 'backup',
  // bdrv_cbw_drop() after the filter's drained section (see clean): the filter node closed and
  // its children detached (two); block_job_free detaches the filter (one).
  graphChangesAtEnd: () => 2,
  graphChangesWhenFreed: 1,
  // block-copy writes zeroes where block status says the source reads as zeroes.
  reads: 'not-zero',
  waitsOn: 'work',
  sleepsBetweenChunks: false,
  run: (rt, d) => {
    beginRun(rt, d);
    resume(rt, d, true);
  },
  resume: (rt, d) => resume(rt, d, false),
  // block-copy runs its requests within the command that wakes it (a drain's end, a kick on
  // set-speed), once the command's own work is done: on null-co they complete at once, so the
  // work is done before the reply. File I/O completes in later main-loop turns; sync=top first
  // walks the allocation, in a later turn too.
  kickoff: (_rt, d) =>
    d.instantIo && !(d.lazyStart && !d.kicked) ? 'end-of-command' : 'after-reply',
  waitsOutLastDelay: () => false,
  copyDone: (rt, d) => {
    if (stateOf(d).failures.length > 0) {
      callFailed(rt, d);
      return;
    }
    reachEnd(rt, d);
    finish(rt, d, undefined);
  },
  requestFailed: (_rt, d, index, failure) => {
    // block-copy goes on with the other chunks; the call fails when they are done, and the
    // chunk stays to copy.
    stateOf(d).failures.push({ chunk: index, ...failure });
    d.failedBytes += d.work.chunk(index).bytes;
    return false;
  },
  speedChanged: (rt, d) => {
    // backup_set_speed() kicks block-copy, which asks the limiter again (with the new quota)
    // before its next request; a call still waiting out its limiter delay asks again too.
    const plan = d.plan;
    if (plan === undefined) return true;
    const now = rt.clock.now();
    if (d.planLive) syncTo(rt, d, now);
    stopPlan(rt, d);
    newPlan(rt, d, now, d.limiter, false);
    scheduleKickoff(rt, d);
    return true;
  },
  cancel: (rt, d, force) => {
    // Stopped by an I/O error, the backup waits at backup_loop's pause point between two
    // block-copy calls: cancelled, it starts a new call before it sees the cancel, and what
    // that call can copy at once (all of it unthrottled on instant I/O) is copied first. A
    // backup paused inside a call copies nothing more: its cancel cancels the call.
    const state = stateOf(d);
    if (state.endless || !state.betweenCalls) return;
    const snap = rt.engine.job(d.id);
    if (snap === undefined || snap.run !== 'parked' || (!force && snap.userPaused)) return;
    if (snap.status !== 'paused') return;
    newPlan(rt, d, rt.clock.now(), d.limiter, false);
    d.planLive = true;
    syncTo(rt, d, rt.clock.now());
    stopPlan(rt, d);
  },
  clean: (rt, d, failed) => {
    // backup_commit() / backup_abort(): the synced bitmap gets its final content.
    const sync = stateOf(d).syncBitmap;
    if (sync !== undefined) {
      endBackupBitmap(rt.blockLayer, sync, !failed, () => uncopied(d));
    }
    // bdrv_cbw_drop(): the filter leaves the source inside a drained section (a graph change).
    if (d.readNode !== undefined) {
      const drained = drainBegin(rt, d.readNode);
      graphChange(rt);
      drainEnd(rt, drained, true);
    }
  },
};
