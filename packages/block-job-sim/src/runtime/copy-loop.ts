// The copy loop of a job's run: a lazy Plan (jobs/schedule.ts) of when each chunk is done under
// QEMU's rate limiter, a timer only for the next event that changes the job's state (its end, an
// injected error, a pause landing at a chunk boundary), progress worked out on demand.

import type { JobSnapshot } from '@qmpkit/job-engine';
import type { JobRun, NextEvent } from '../jobs/driver.js';
import { subtractRanges } from '../jobs/io.js';
import {
  arriveAt,
  chunkDoneAt,
  chunkInFlightAt,
  lastChunkDoneBy,
  type Plan,
  type RateLimitState,
  rateLimitAfter,
  SLICE_NS,
  sliceQuota,
  type WorkList,
  waveEnd,
} from '../jobs/schedule.js';
import { injectError, predictError } from './io-errors.js';
import { copyChunkData } from './job-data.js';
import type { JobRuntime } from './job-runtime.js';
import {
  applyEffects,
  cancelTimer,
  defer,
  finish,
  guarded,
  idle,
  reconcile,
  reconcileGroup,
  stopPlan,
  syncGroup,
} from './job-runtime.js';

/** The run's set-up: the progress total is known. */
export function beginRun(rt: JobRuntime, d: JobRun): void {
  d.started = true;
  if (d.total > 0) applyEffects(rt, rt.engine.progress(d.id, { setRemaining: d.total }).effects);
}

/** The run begins with the copy loop. */
export function startCopy(rt: JobRuntime, d: JobRun): void {
  beginRun(rt, d);
  resumeRun(rt, d, true);
}

/** A new plan from the job's frontier, now (a pending rate-limit delay kept unless forgotten). */
export function restartPlan(rt: JobRuntime, d: JobRun, forgetSleep: boolean): void {
  stopPlan(rt, d);
  newPlan(rt, d, rt.clock.now(), d.limiter, forgetSleep);
}

/** (Re)starts the copy loop at the job's frontier, now. */
export function resumeRun(rt: JobRuntime, d: JobRun, forgetSleep: boolean): void {
  restartPlan(rt, d, forgetSleep);
  scheduleKickoff(rt, d);
}

/**
 * Entered again while it still owes a rate-limit delay, the copy loop goes back to sleep until
 * the delay has passed (QEMU 10.0's block_job_ratelimit_sleep); with nothing owed it resumes now.
 */
export function resumeAfterOwedDelay(rt: JobRuntime, d: JobRun): void {
  restartPlan(rt, d, false);
  const plan = d.plan;
  if (plan === undefined || plan.start <= rt.clock.now()) {
    scheduleKickoff(rt, d);
    return;
  }
  // As a sleeping job: idle until the delay ends, then the plan runs on from there.
  d.planLive = true;
  process(rt, d);
}

/**
 * The loop's chunks up to copy position `frontier` are done: their data is in the node the job
 * writes into (a later job's allocation walk sees it), except chunks whose request failed.
 */
export function advanceFrontier(rt: JobRuntime, d: JobRun, frontier: number): void {
  d.frontier = frontier;
  const into = d.copiesInto;
  if (into === undefined || frontier <= d.recordedTo) return;
  let written = d.work.deviceRanges(d.recordedTo, frontier);
  d.recordedTo = frontier;
  if (d.unwritten.size > 0) {
    const failed = [...d.unwritten]
      .map((i) => d.work.chunk(i))
      .map((c) => ({ start: c.device, length: c.bytes }))
      .sort((a, b) => a.start - b.start);
    written = subtractRanges(written, failed);
  }
  // The data first: a qcow2 target copies the rest of a cluster it does not hold yet from its
  // backing before the cluster counts as allocated.
  copyChunkData(rt, d, written);
  for (const r of written) rt.blockLayer.recordWrite(into, r.start, r.length);
}

/** A new work list (a backup retrying its failed chunks), its loop at its start. */
export function replaceWork(d: JobRun, work: WorkList): void {
  d.work = work;
  d.frontier = 0;
  d.recordedTo = 0;
  d.unwritten.clear();
}

/** The copy loop went through its work list: all of it done. */
export function reachEnd(rt: JobRuntime, d: JobRun): void {
  stopPlan(rt, d);
  advanceFrontier(rt, d, d.work.totalCopy);
  setProgress(rt, d, d.total > 0 ? progressAt(rt, d, d.work.totalCopy, true) : 0);
}

export function requestsInFlight(_rt: JobRuntime, d: JobRun): boolean {
  return d.plan !== undefined && d.plan.quota === 0 && d.latency > 0;
}

export function quotaFor(rt: JobRuntime, d: JobRun): number {
  const speed = d.speed;
  if (speed <= 0 || speed >= rt.throughput) return 0;
  return sliceQuota(speed);
}

/**
 * The limiter's quota and the time a byte takes for a new plan of the job. Storage slower than
 * the job's speed (a pace from `rt.paceOf`) makes its requests take the time: the job never waits
 * on the limiter then, and with a pace of 0 no request completes (progress stops, the job still
 * running).
 */
function ratesOf(rt: JobRuntime, d: JobRun): { quota: number; nsPerByte: number } {
  const quota = quotaFor(rt, d);
  const fastest = Math.min(d.speed > 0 ? d.speed : Number.POSITIVE_INFINITY, rt.throughput);
  const pace = rt.paceOf?.(d.id, fastest);
  if (pace !== undefined && pace >= 0 && pace < fastest) {
    return { quota: 0, nsPerByte: pace > 0 ? 1e9 / pace : Number.POSITIVE_INFINITY };
  }
  return { quota, nsPerByte: quota > 0 ? 0 : rt.nsPerByte };
}

/**
 * The pace of some jobs changed (`rt.paceOf` answers otherwise): each job copying under a plan
 * built for another pace goes on from its frontier, now, at the new one (a chunk in flight is
 * issued again).
 */
export function paceChanged(rt: JobRuntime): void {
  const now = rt.clock.now();
  for (const d of rt.drivers.values()) {
    const plan = d.plan;
    if (plan === undefined || !d.planLive || d.firstOnly) continue;
    const rates = ratesOf(rt, d);
    if (rates.quota === plan.quota && rates.nsPerByte === plan.nsPerByte) continue;
    syncTo(rt, d, now);
    const limiter = plan.quota > 0 ? rateLimitAfter(plan, d.frontier, d.planLimiter) : d.limiter;
    const start = plan.quota > 0 ? arriveAt(plan, d.frontier) : now;
    cancelTimer(rt, d);
    newPlan(rt, d, Number.isFinite(start) ? Math.max(start, now) : now, limiter, true);
    d.planLive = true;
    process(rt, d);
  }
}

export function newPlan(
  rt: JobRuntime,
  d: JobRun,
  at: number,
  limiter: RateLimitState,
  forgetSleep: boolean,
): void {
  d.speed = rt.engine.job(d.id)?.speed ?? d.speed;
  const { quota, nsPerByte } = ratesOf(rt, d);
  let l: RateLimitState = { ...limiter };
  let start = at;
  if (quota > 0) {
    if (!forgetSleep && l.beforeAdvanceSlice !== undefined && l.sliceStart > at) {
      // The slice opened in advance for a plan that issued nothing: the delay is still owed.
      l = { ...l.beforeAdvanceSlice };
    }
    if (!forgetSleep && l.dispatched >= quota && l.sliceEnd >= at) {
      // block-copy asks the limiter before each request: a pending delay is still owed.
      start = Math.max(at, l.sliceStart + Math.trunc((l.dispatched / quota) * SLICE_NS));
    }
    if (l.sliceEnd < start) {
      const { beforeAdvanceSlice: _, ...accounting } = l;
      l = {
        sliceStart: start,
        sliceEnd: start + SLICE_NS,
        dispatched: 0,
        ...(start > at ? { beforeAdvanceSlice: accounting } : {}),
      };
    }
  }
  d.plan = {
    start,
    base: d.frontier,
    firstChunk: d.work.chunkIndexAt(d.frontier),
    quota,
    sigma: l.sliceStart,
    dispatched0: l.dispatched,
    nsPerByte,
    ...(quota === 0 && d.latency > 0
      ? {
          latency: d.latency,
          wave: d.wave,
          chunkIndexAt: (pos: number) => d.work.chunkIndexAt(pos),
        }
      : {}),
  };
  d.planLimiter = l;
  d.planLive = false;
  d.landing = undefined;
  d.firstOnly = false;
}

export function scheduleKickoff(rt: JobRuntime, d: JobRun): void {
  const plan = d.plan;
  if (plan === undefined) return;
  const kickoff = () => {
    if (d.plan !== plan || d.planLive) return;
    d.timer = undefined;
    d.planLive = true;
    d.kicked = true;
    process(rt, d);
    reconcileGroup(rt, d);
  };
  cancelTimer(rt, d);
  if (plan.start > rt.clock.now()) {
    d.timerAt = plan.start;
    d.timer = rt.clock.setTimer(plan.start, guarded(rt, kickoff));
    return;
  }
  const mode = d.driver.kickoff(rt, d);
  if (mode === 'first-chunk-now') {
    // The first chunk is issued before the job sleeps (so its errors precede the reply); the
    // rest of the loop continues after the reply.
    d.firstOnly = true;
    kickoff();
    defer(rt, () => {
      if (d.plan !== plan || !d.firstOnly) return;
      d.firstOnly = false;
      process(rt, d);
      reconcileGroup(rt, d);
    });
  } else if (mode === 'end-of-command') {
    if (rt.soon !== undefined) rt.soon.push(kickoff);
    else kickoff();
  } else {
    defer(rt, kickoff);
  }
}

/** The next thing that changes the job's state: an injected error, a landing, its end. */
export function nextEvent(rt: JobRuntime, d: JobRun): NextEvent | undefined {
  const plan = d.plan;
  if (plan === undefined) return undefined;
  const work = d.work;
  let best: NextEvent | undefined;
  const consider = (e: NextEvent) => {
    if (best === undefined || e.at < best.at) best = e;
  };
  let error = predictError(rt, d, Math.max(plan.firstChunk, d.errorsClearedTo));
  if (error !== undefined && d.firstOnly && error > plan.firstChunk) error = undefined;
  if (error !== undefined) {
    consider({ at: chunkDoneAt(plan, work.chunk(error)), kind: 'error', chunk: error });
  }
  if (d.landing !== undefined && d.landing < work.chunkCount) {
    const at = chunkDoneAt(plan, work.chunk(d.landing));
    if (error === undefined || d.landing < error) consider({ at, kind: 'land', chunk: d.landing });
  }
  // While only the first chunk may run (before the command's reply), the run can still end if
  // that chunk is all there is and nothing makes the mirror yield: unthrottled, I/O that
  // completes at once. QEMU's loop then reaches its convergence check inside the command,
  // so a mirror of up to one buffer on null-co is ready before blockdev-mirror's reply.
  const endsInFirstChunk =
    d.instantIo && plan.quota === 0 && d.latency === 0 && work.chunkCount <= plan.firstChunk + 1;
  // With every chunk already copied (woken from the delay after its last one), the loop's
  // first check finds nothing left: a mirror converges inside the command that woke it, unless
  // the flush before READY goes to a file (it completes in a later main-loop turn).
  const nothingLeft = work.chunkCount <= plan.firstChunk && d.instantIo;
  if (error === undefined && (!d.firstOnly || endsInFirstChunk || nothingLeft)) {
    consider({ at: endTime(rt, d, plan), kind: 'end', chunk: work.chunkCount });
  }
  return best;
}

export function endTime(_rt: JobRuntime, d: JobRun, plan: Plan): number {
  const work = d.work;
  if (d.driver.waitsOutLastDelay(d)) {
    // A mirror sleeps the delay of its last chunk before it sees the source clean; stream and
    // commit sleep it before passing over a trailing unallocated stretch.
    return arriveAt(plan, work.totalCopy);
  }
  if (work.chunkCount <= plan.firstChunk) return plan.start;
  return chunkDoneAt(plan, work.chunk(work.chunkCount - 1));
}

/** Brings the job's progress up to time `t` (not past an unhandled event). */
export function syncTo(rt: JobRuntime, d: JobRun, t: number): void {
  const plan = d.plan;
  if (plan === undefined || !d.planLive) return;
  const work = d.work;
  let limit = work.chunkCount;
  const error = predictError(rt, d, Math.max(plan.firstChunk, d.errorsClearedTo));
  if (error !== undefined) limit = Math.min(limit, error);
  if (d.landing !== undefined) limit = Math.min(limit, d.landing + 1);
  if (d.firstOnly) limit = Math.min(limit, plan.firstChunk + 1);
  const last = lastChunkDoneBy(work, plan, t, limit);
  let frontier = plan.base;
  if (last >= plan.firstChunk) {
    const c = work.chunk(last);
    frontier = c.pos + c.bytes;
  }
  const atLimit = frontier >= work.totalCopy ? false : work.chunkIndexAt(frontier) >= limit;
  const skipsDone = !atLimit && arriveAt(plan, frontier) <= t;
  if (frontier < d.frontier) return;
  advanceFrontier(rt, d, frontier);
  setProgress(rt, d, progressAt(rt, d, frontier, skipsDone));
}

/** The job's progress with the loop at `frontier` (failed backup chunks not counted). */
export function progressAt(
  _rt: JobRuntime,
  d: JobRun,
  frontier: number,
  skipsDone: boolean,
): number {
  return d.progressBase + d.work.progressAt(frontier, skipsDone) - d.failedBytes;
}

export function setProgress(rt: JobRuntime, d: JobRun, progress: number): void {
  if (progress <= d.applied) return;
  const delta = progress - d.applied;
  d.applied = progress;
  applyEffects(rt, rt.engine.progress(d.id, { workDone: delta }).effects);
}

/** Completes the chunk in flight now (a drain waits for it). */
export function finishChunkInFlight(rt: JobRuntime, d: JobRun): void {
  const plan = d.plan;
  if (plan === undefined) return;
  const now = rt.clock.now();
  if (d.planLive) syncTo(rt, d, now);
  const k = d.planLive ? chunkInFlightAt(d.work, plan, now) : plan.firstChunk;
  if (k >= d.work.chunkCount || k < plan.firstChunk) return;
  const error = predictError(rt, d, Math.max(plan.firstChunk, d.errorsClearedTo));
  if (error !== undefined && error <= k) return;
  // Every request of the wave in flight completes (with a latency, several go together).
  const last = waveEnd(plan, k, d.work.chunkCount);
  const c = d.work.chunk(error !== undefined && error <= last ? error - 1 : last);
  d.planLive = true;
  advanceFrontier(rt, d, c.pos + c.bytes);
  setProgress(rt, d, progressAt(rt, d, d.frontier, false));
}

/** Runs the job's events that are due, then arms a timer for the next one. */
export function process(rt: JobRuntime, d: JobRun): void {
  for (let guard = 0; guard < 1_000_000; guard++) {
    const plan = d.plan;
    if (plan === undefined || !d.planLive || !rt.drivers.has(d.id)) return;
    const now = rt.clock.now();
    const event = nextEvent(rt, d);
    if (event === undefined) {
      afterKickoff(rt, d);
      return;
    }
    if (event.at > now) {
      afterKickoff(rt, d);
      if (d.plan !== plan) return;
      if (event.at === Number.POSITIVE_INFINITY) {
        // Stalled storage: nothing happens until its pace changes (paceChanged).
        cancelTimer(rt, d);
        return;
      }
      if (d.timer !== undefined && d.timerAt === event.at) return;
      cancelTimer(rt, d);
      d.timerAt = event.at;
      d.timer = rt.clock.setTimer(
        event.at,
        guarded(rt, () => {
          d.timer = undefined;
          d.timerAt = Number.NaN;
          process(rt, d);
          reconcileGroup(rt, d);
        }),
      );
      return;
    }
    syncGroup(rt, d, event.at);
    syncTo(rt, d, event.at);
    switch (event.kind) {
      case 'end':
        d.driver.copyDone(rt, d);
        return;
      case 'land': {
        const c = d.work.chunk(event.chunk);
        advanceFrontier(rt, d, c.pos + c.bytes);
        setProgress(rt, d, progressAt(rt, d, d.frontier, false));
        stopPlan(rt, d);
        const snap = rt.engine.job(d.id);
        if (snap?.cancelled) finish(rt, d, undefined);
        else applyEffects(rt, rt.engine.pausePoint(d.id).effects);
        reconcile(rt, d);
        return;
      }
      case 'error':
        // The loop reached the failing chunk: what it passed over before it (a stream's or a
        // commit's unallocated stretch) is counted, whatever the error policy then does.
        setProgress(rt, d, progressAt(rt, d, d.frontier, true));
        if (injectError(rt, d, event.chunk)) return;
        break;
    }
  }
}

/** A throttled job sleeps between its chunks (query-block-jobs shows busy: false). */
export function afterKickoff(rt: JobRuntime, d: JobRun): void {
  if (d.plan === undefined || d.plan.quota === 0 || !d.driver.sleepsBetweenChunks) return;
  const snap = rt.engine.job(d.id);
  if (snap?.run !== 'busy' || snap.cancelled) return;
  idle(rt, d);
  // With a pause pending the job parks instead (its plan then ends).
  if (rt.engine.job(d.id)?.run === 'parked') stopPlan(rt, d);
}

export function updateLanding(rt: JobRuntime, d: JobRun, snap: JobSnapshot): void {
  const plan = d.plan;
  if (plan === undefined) return;
  // Only a job with a request in flight lands at a chunk boundary: an unthrottled one, or
  // one whose first chunk is still being issued. A throttled job between chunks sleeps and
  // the engine parks or wakes it itself.
  const inFlight = !d.planLive || plan.quota === 0;
  const stopping = inFlight && (snap.pauseCount > 0 || snap.cancelled) && snap.run === 'busy';
  if (!stopping) {
    d.landing = undefined;
    return;
  }
  if (d.landing !== undefined) return;
  const k = d.planLive ? chunkInFlightAt(d.work, plan, rt.clock.now()) : plan.firstChunk;
  d.landing = k < d.work.chunkCount ? waveEnd(plan, k, d.work.chunkCount) : undefined;
}

/** A new speed applies from the next chunk the job issues (a faster one also woke it). */
export function speedChanged(rt: JobRuntime, d: JobRun, snap: JobSnapshot): void {
  d.speed = snap.speed;
  const plan = d.plan;
  const now = rt.clock.now();
  if (d.driver.speedChanged(rt, d)) return;
  if (plan === undefined || !d.planLive) return;
  syncTo(rt, d, now);
  let start: number;
  let limiter: RateLimitState;
  if (plan.quota > 0) {
    start = arriveAt(plan, d.frontier);
    limiter = rateLimitAfter(plan, d.frontier, d.planLimiter);
  } else {
    const k = chunkInFlightAt(d.work, plan, now);
    if (k >= d.work.chunkCount) return;
    start = chunkDoneAt(plan, d.work.chunk(k));
    limiter = d.limiter;
    const c = d.work.chunk(k);
    if (c.pos !== d.frontier) return;
  }
  cancelTimer(rt, d);
  newPlan(rt, d, Math.max(start, now), limiter, true);
  d.planLive = true;
  process(rt, d);
}

/**
 * A running job's driver follows what a command did to its job: a new speed, and a pause or
 * cancel that lands at a chunk boundary; then the loop goes on from now.
 */
export function follow(rt: JobRuntime, d: JobRun, snap: JobSnapshot): void {
  if (snap.speed !== d.speed) speedChanged(rt, d, snap);
  if (d.plan === undefined) return;
  updateLanding(rt, d, snap);
  if (d.planLive) process(rt, d);
}
