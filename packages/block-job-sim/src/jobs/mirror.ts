// The mirror job (block/mirror.c), also behind an active commit: it copies the source's dirty
// areas to the target, 16 MiB at a time, then converges — READY — and waits in its ready loop
// until it is completed (pivot) or cancelled (soft from ready: it completes without pivoting).
//
// - Start: a source and target of different sizes make the run fail at once, after the reply.
//   With nothing dirty it is READY before blockdev-mirror's reply.
// - Its first chunk is issued inside the command (so an injected error precedes the reply); the
//   rest of the loop continues after the reply.
// - It reads only data its source has (a null-co source has none: no reads, no read errors).
// - The end of the copy comes after the rate-limit delay of its last chunk (the loop sleeps
//   before it sees the source clean).
// - Cancel and complete wind it down after the reply: its exit drains the source.

import type { EnterReason } from '@qmpkit/job-engine';
import { beginRun, progressAt, reachEnd, resumeRun, setProgress } from '../runtime/copy-loop.js';
import { errorAction } from '../runtime/io-errors.js';
import { copyJobDriver, enterCopyJob, type JobDriver } from '../runtime/job-driver.js';
import {
  applyEffects,
  defer,
  finish,
  finishIfBusy,
  idle,
  type JobRuntime,
} from '../runtime/job-runtime.js';
import type { JobRun, MirrorState } from './driver.js';
import { MIRROR_MAX_IN_FLIGHT, MIRROR_MAX_IO_BYTES } from './sizes.js';

export function mirrorState(options: {
  startError?: string | undefined;
  replaces?: string | undefined;
  writeBlocking?: boolean;
  granularity?: number;
}): MirrorState {
  return {
    kind: 'mirror',
    phase: 'copy',
    startError: options.startError,
    replaces: options.replaces,
    pivots: false,
    writeBlocking: options.writeBlocking ?? false,
    granularity: options.granularity ?? 65536,
  };
}

function stateOf(d: JobRun): MirrorState {
  if (d.state.kind !== 'mirror') throw new Error(`job '${d.id}' is not a mirror`);
  return d.state;
}

/** mirror_run() up to its first wait. */
function run(rt: JobRuntime, d: JobRun): void {
  const state = stateOf(d);
  if (state.startError !== undefined) {
    d.started = true;
    const message = state.startError;
    defer(rt, () => finishIfBusy(rt, d, message));
    return;
  }
  beginRun(rt, d);
  if (d.work.totalCopy === 0) {
    // Nothing dirty: READY before the reply.
    converge(rt, d);
    return;
  }
  resumeRun(rt, d, true);
}

/** The mirror converged: READY, then it waits in its ready loop. */
function converge(rt: JobRuntime, d: JobRun): void {
  stateOf(d).phase = 'ready';
  applyEffects(rt, rt.engine.converged(d.id).effects);
  const snap = rt.engine.job(d.id);
  if (snap?.run === 'busy') {
    if (snap.cancelled) {
      defer(rt, () => finishIfBusy(rt, d));
      return;
    }
    idle(rt, d);
  }
}

/** In the ready loop a completion or a cancel ends the run (after the reply: it drains). */
function enter(rt: JobRuntime, d: JobRun, reason: EnterReason, afterReply: boolean): void {
  if (stateOf(d).phase !== 'ready') {
    enterCopyJob(rt, d, reason, afterReply);
    return;
  }
  const snap = rt.engine.job(d.id);
  if (snap?.completeRequested || snap?.cancelRequested) {
    // job-complete: the target takes the source's place when the job ends.
    stateOf(d).pivots = snap.completeRequested && !snap.cancelRequested;
    if (afterReply) finish(rt, d, undefined);
    else defer(rt, () => finishIfBusy(rt, d));
  } else {
    idle(rt, d);
  }
}

export const mirrorDriver: JobDriver = {
  ...copyJobDriver,
  kind: 'mirror',
  // mirror_exit_common(): the mirror_top filter dropped, its nodes let go (four), and on
  // completion the target put in the source's place (one more); block_job_free: one.
  graphChangesAtEnd: (d, failed) => (stateOf(d).pivots && !failed ? 5 : 4),
  graphChangesWhenFreed: 1,
  prepare: (rt, d) => {
    // mirror_exit_common(): on completion the target takes the place of the source (or of the
    // node `replaces` named): their parents (an export's BlockBackend) now use the target.
    const state = stateOf(d);
    if (!state.pivots || d.writeNode === undefined) return;
    const from = state.replaces !== undefined ? rt.blockLayer.findNode(state.replaces) : d.readNode;
    if (from !== undefined) rt.blockLayer.replaceNode(from, d.writeNode);
  },
  // mirror_iteration() reads only what block status calls data; zeroes are written as such.
  reads: 'data',
  // Its buffer goes out as requests of buf_size / MAX_IN_FLIGHT, at least MAX_IO_BYTES (1 MiB).
  readRequestBytes: (d) => Math.max(d.work.chunkSize / MIRROR_MAX_IN_FLIGHT, MIRROR_MAX_IO_BYTES),
  requestFailed: (rt, d, index, failure) => {
    // The chunk's other reads complete before the job stops or fails: they count.
    if (failure.failedBytes !== undefined) {
      const copied = d.work.chunk(index).bytes - failure.failedBytes;
      if (copied > 0) setProgress(rt, d, progressAt(rt, d, d.frontier, true) + copied);
    }
    return errorAction(rt, d, failure, index);
  },
  enter,
  run,
  kickoff: (rt) => (rt.deferred !== undefined ? 'first-chunk-now' : 'after-reply'),
  waitsOutLastDelay: () => true,
  copyDone: (rt, d) => {
    reachEnd(rt, d);
    converge(rt, d);
  },
  missingReplacesNode: (rt, d) => {
    const replaces = stateOf(d).replaces;
    return replaces !== undefined && rt.blockLayer.findNode(replaces) === undefined
      ? replaces
      : undefined;
  },
};
