// The job runtime: how qmpkit runs a job the way QEMU 7.2 runs its coroutine. A job is entered
// (job_enter: start, resume, cancel, complete, a faster speed), runs until it yields — on a
// timer (job_sleep_ns), waiting for work (job_yield), at a pause point, or by returning — and
// every command first brings every job up to now, then carries out what the job engine says
// happened. The copy loop that moves a job's progress is in copy-loop.ts, drained sections in
// drain.ts, job creation (what a command's driver holds on the graph) in job-registry.ts. This
// module is the bottom of the runtime: it reaches a job's copy loop only through the job's
// driver (JobDriver.syncTo, JobDriver.follow), so the loop can call back into it.
//
// Time is lazy: a job holds a Plan (jobs/schedule.ts) that says when each chunk is done, sets a
// timer only for the next thing that changes the job's state (the end of its run, an injected
// I/O error, a pause landing at a chunk boundary), and works out its progress on demand, before
// every command. A terabyte mirror therefore costs two timers, not sixty thousand.

import { type Effect, type EnterReason, JobEngine, type JobResult } from '@qmpkit/job-engine';
import { CommandError } from '@qmpkit/protocol';
import type { EventName } from '@qmpkit/qapi-types/7.2';
import type { CommandContext, EventBroadcast, EventData } from '@qmpkit/server';
import type { BlockLayer, BlockNode } from '../block-layer.js';
import { RealClock, type SimClock } from '../clock/clock.js';
import { genericError } from '../errors.js';
import type { JobRun } from '../jobs/driver.js';
import { rateLimitAfter } from '../jobs/schedule.js';
import type { QemuProfile } from '../profile/profile.js';
import { qemu72Profile } from '../profile/qemu-7.2.js';
import type { JobPace } from './pace.js';

/**
 * The default speed of unthrottled I/O: unlimited, as QEMU's null-co (what the conformance
 * scenarios run on): an unthrottled job's copying takes no simulated time.
 */
export const DEFAULT_THROUGHPUT = Number.POSITIVE_INFINITY;

/**
 * The part of @qmpkit/server's CommandContext the runtime uses: work that QEMU does in a later
 * main-loop turn is handed to `afterReply`, so its events follow the command's reply.
 */
export type AfterReplyContext = Pick<CommandContext, 'afterReply'>;

export interface JobRuntimeOptions {
  readonly blockLayer: BlockLayer;
  readonly engine?: JobEngine | undefined;
  readonly clock?: SimClock | undefined;
  readonly throughput?: number | undefined;
  readonly onEvent?: EventBroadcast | undefined;
  readonly onInternalError?: ((error: unknown) => void) | undefined;
  readonly profile?: QemuProfile | undefined;
}

/** Everything the runtime's functions share: the jobs, the graph's job marks, the command. */
export class JobRuntime {
  readonly blockLayer: BlockLayer;
  readonly engine: JobEngine;
  readonly clock: SimClock;
  readonly ownsClock: boolean;
  /** Nanoseconds per byte of unthrottled I/O (0: unthrottled copying takes no time). */
  readonly nsPerByte: number;
  readonly throughput: number;
  /** The QEMU version whose behaviour the jobs follow where versions differ (../profile). */
  readonly profile: QemuProfile;
  readonly drivers = new Map<string, JobRun>();
  /** Job op blockers per node, newest first (the reasons QEMU would print). */
  readonly jobBlockers = new Map<BlockNode, string[]>();
  /** Nodes with a job's filter inserted above them (no longer root nodes), with a count. */
  readonly filtered = new Map<BlockNode, number>();
  /** Where events go: the QMP server's `emit`. */
  broadcast: EventBroadcast | undefined;
  /** Where a failure inside a timer or after-reply work goes (a simulator bug). */
  readonly onInternalError: (error: unknown) => void;
  /**
   * The most bytes per second a job's storage moves (0: its requests never complete), set from
   * outside — slow or stalled storage, bandwidth shared with other VMs — given the rate the job
   * would copy at otherwise (its speed or the throughput; Infinity when neither limits it).
   * Undefined (for every job or for one): no limit beyond those.
   */
  paceOf: JobPace | undefined;
  seq = 0;
  /** While a command runs: the work it hands to after its reply. */
  deferred: Array<() => void> | undefined;
  /** While a command runs: work for the end of the command, still before its reply. */
  soon: Array<() => void> | undefined;
  closed = false;
  /**
   * A change of the block graph, `times` times (drain.ts `graphChange`, which the simulator puts
   * here: drain.ts builds on this module, so this one cannot import it). Nothing until then.
   */
  graphChange: (times: number) => void = () => {};

  constructor(options: JobRuntimeOptions) {
    this.blockLayer = options.blockLayer;
    this.engine = options.engine ?? new JobEngine();
    this.ownsClock = options.clock === undefined;
    this.clock = options.clock ?? new RealClock();
    const throughput = options.throughput ?? DEFAULT_THROUGHPUT;
    if (!(throughput > 0)) throw new RangeError('throughput must be positive');
    this.throughput = throughput;
    this.profile = options.profile ?? qemu72Profile;
    this.nsPerByte = Number.isFinite(throughput) ? 1e9 / throughput : 0;
    this.broadcast = options.onEvent;
    this.onInternalError =
      options.onInternalError ??
      ((error) => console.error('block-job-sim: internal error in a job driver:', error));
  }
}

/**
 * Runs one command: due timers first, every job's progress brought up to now, the command,
 * then every driver brought in line with what the command did to its job. Work the command
 * defers goes to `context.afterReply` (or runs right after, without a context).
 */
export function command(
  rt: JobRuntime,
  context: AfterReplyContext | undefined,
  run: () => unknown,
): unknown {
  if (rt.closed) throw genericError('The simulator is closed');
  if (rt.deferred !== undefined) throw genericError('A command is already running');
  rt.clock.runDue();
  syncAll(rt);
  const deferred: Array<() => void> = [];
  const soon: Array<() => void> = [];
  rt.deferred = deferred;
  rt.soon = soon;
  let result: unknown;
  try {
    try {
      result = run();
    } finally {
      // Main-loop work the command's own polling runs (a backup's block-copy requests).
      rt.soon = undefined;
      for (let i = 0; i < soon.length; i++) (soon[i] as () => void)();
    }
  } finally {
    // Every job follows what the command did to it while the command is still running: work
    // that goes after the reply (file I/O a woken job issues) still waits for the reply.
    try {
      reconcileAll(rt);
    } finally {
      rt.deferred = undefined;
    }
    const after = guarded(rt, () => {
      // Deferred work may defer more (it then runs at once: we are past the reply).
      for (let i = 0; i < deferred.length; i++) (deferred[i] as () => void)();
      reconcileAll(rt);
    });
    if (deferred.length > 0) {
      if (context !== undefined) context.afterReply(after);
      else after();
    }
  }
  return result ?? {};
}

/** `fn`, with a failure reported instead of thrown into the host's event loop. */
export function guarded(rt: JobRuntime, fn: () => void): () => void {
  return () => {
    if (rt.closed) return;
    try {
      fn();
    } catch (error) {
      rt.onInternalError(error);
    }
  };
}

/** Runs `fn` after the reply of the command being handled, or now outside a command. */
export function defer(rt: JobRuntime, fn: () => void): void {
  if (rt.deferred !== undefined) rt.deferred.push(fn);
  else fn();
}

export function emit<E extends EventName>(rt: JobRuntime, event: E, data: EventData<E>): void {
  rt.broadcast?.(event, data);
}

/** Carries out an engine result's effects; throws its error as the command's. */
export function apply(rt: JobRuntime, result: JobResult): void {
  applyEffects(rt, result.effects);
  if (!result.ok) throw new CommandError(result.error.class, result.error.desc);
}

export function applyEffects(rt: JobRuntime, effects: readonly Effect[]): void {
  const queue = [...effects];
  for (let i = 0; i < queue.length; i++) {
    const effect = queue[i] as Effect;
    switch (effect.type) {
      case 'event':
        emit(rt, effect.event, effect.data);
        if (effect.event === 'JOB_STATUS_CHANGE' && effect.data.status === 'null') {
          // block_job_free: the job lets go of its nodes.
          const d = rt.drivers.get(effect.data.id);
          if (d !== undefined) rt.graphChange(d.driver.graphChangesWhenFreed);
        }
        break;
      case 'halt': {
        const d = rt.drivers.get(effect.id);
        if (d !== undefined) stopPlan(rt, d);
        break;
      }
      case 'clean': {
        const d = rt.drivers.get(effect.id);
        if (d === undefined) break;
        const changes = d.driver.graphChangesAtEnd(d, effect.failed);
        if (changes > 0 && rt.profile.graphChangesDrainAll) {
          if (hoistCancelledExits(queue, i)) {
            i--;
            break;
          }
        }
        if (!effect.failed) d.driver.prepare(rt, d);
        d.driver.clean(rt, d, effect.failed);
        endDriver(d);
        // The job lets go of its nodes in its clean (block_job_remove_all_bdrv, the filter
        // dropped): a node only it kept (a drive-* target) is closed there.
        if (d.driver.releasesNodes === 'at-conclusion') releaseDriver(rt, d);
        rt.graphChange(changes);
        break;
      }
      case 'enter': {
        const d = rt.drivers.get(effect.id);
        if (d === undefined) break;
        const reason = effect.reason;
        if (effect.when === 'after-reply') defer(rt, () => enter(rt, d, reason, true));
        else enter(rt, d, reason, false);
        break;
      }
    }
  }
}

/**
 * A transaction that aborts cancels its other members and then finalizes them one by one; the
 * engine hands over all of it at once. When the first member's end drains every node (graph
 * changes, QEMU 8.2 on), the drain enters each cancelled member still running, which sees its
 * cancel and ends there (aborting) — before the first one's terminal event. Moves those exits
 * (`halt` … `aborting` of another job, later in the batch, with the status change of a member
 * leaving its pause point just before them) in front of the `clean` at `at`;
 * true when it moved any.
 */
function hoistCancelledExits(queue: Effect[], at: number): boolean {
  const moved: Effect[] = [];
  for (let i = at + 1; i < queue.length; i++) {
    const halt = queue[i] as Effect;
    if (halt.type !== 'halt') continue;
    const end = queue.findIndex(
      (e, j) =>
        j > i &&
        e.type === 'event' &&
        e.event === 'JOB_STATUS_CHANGE' &&
        e.data.id === halt.id &&
        e.data.status === 'aborting',
    );
    if (end < 0) continue;
    // A member parked at its pause point leaves it (paused → running) before it sees the cancel.
    const before = queue[i - 1] as Effect;
    const from =
      i - 1 > at &&
      before.type === 'event' &&
      before.event === 'JOB_STATUS_CHANGE' &&
      before.data.id === halt.id
        ? i - 1
        : i;
    moved.push(...queue.splice(from, end - from + 1));
    i = from - 1;
  }
  if (moved.length === 0) return false;
  queue.splice(at, 0, ...moved);
  return true;
}

// ---- the drivers ----------------------------------------------------------------------------
/** The job's coroutine was entered (start, resume, cancel, complete, a faster speed). */
export function enter(rt: JobRuntime, d: JobRun, reason: EnterReason, afterReply: boolean): void {
  const snap = rt.engine.job(d.id);
  if (snap === undefined || snap.run !== 'busy' || !rt.drivers.has(d.id)) return;
  d.driver.enter(rt, d, reason, afterReply);
}

/**
 * The job's coroutine gives up the CPU until it is entered again: on a timer (job_sleep_ns) or
 * waiting for work (job_yield: a new speed does not enter it), as its driver says.
 */
export function idle(rt: JobRuntime, d: JobRun): void {
  const result = d.driver.waitsOn === 'work' ? rt.engine.jobYield(d.id) : rt.engine.sleep(d.id);
  applyEffects(rt, result.effects);
}

/** The run returns, unless it has already (later main-loop work of a job that was ended). */
export function finishIfBusy(rt: JobRuntime, d: JobRun, error?: string): void {
  const snap = rt.engine.job(d.id);
  if (snap !== undefined && (snap.run === 'busy' || snap.run === 'sleeping')) {
    finish(rt, d, error);
  }
}

/** The job's run returned (with `error`, it failed). */
export function finish(rt: JobRuntime, d: JobRun, error: string | undefined): void {
  stopPlan(rt, d);
  const snap = rt.engine.job(d.id);
  if (snap === undefined || (snap.run !== 'busy' && snap.run !== 'sleeping')) return;
  syncGroup(rt, d, rt.clock.now());
  applyEffects(rt, rt.engine.runFinished(d.id, error !== undefined ? { error } : {}).effects);
  reconcile(rt, d);
  reconcileGroup(rt, d);
}

export function syncAll(rt: JobRuntime): void {
  const now = rt.clock.now();
  for (const d of rt.drivers.values()) d.driver.syncTo(rt, d, now);
}

export function syncGroup(rt: JobRuntime, d: JobRun, t: number): void {
  if (d.group === undefined) return;
  for (const other of d.group) if (other !== d) other.driver.syncTo(rt, other, t);
}

export function reconcileAll(rt: JobRuntime): void {
  for (const d of [...rt.drivers.values()]) reconcile(rt, d);
}

export function reconcileGroup(rt: JobRuntime, d: JobRun): void {
  if (d.group === undefined) {
    reconcile(rt, d);
    return;
  }
  for (const member of [...d.group]) reconcile(rt, member);
}

/** Brings a driver in line with its job: gone, finalized, parked, or still running. */
export function reconcile(rt: JobRuntime, d: JobRun): void {
  const snap = rt.engine.job(d.id);
  if (snap === undefined) {
    stopPlan(rt, d);
    releaseDriver(rt, d);
    rt.drivers.delete(d.id);
    d.group?.delete(d);
    return;
  }
  if (snap.status === 'concluded' && d.driver.releasesNodes === 'at-conclusion') {
    releaseDriver(rt, d);
  }
  if (snap.run !== 'busy' && snap.run !== 'sleeping') {
    if (d.plan !== undefined) stopPlan(rt, d);
    return;
  }
  d.driver.follow(rt, d, snap);
}

/** Ends the current plan at the job's frontier, keeping the limiter's accounting. */
export function stopPlan(_rt: JobRuntime, d: JobRun): void {
  cancelTimer(_rt, d);
  if (d.plan !== undefined && d.planLive) {
    d.limiter = rateLimitAfter(d.plan, d.frontier, d.planLimiter);
  }
  d.plan = undefined;
  d.planLive = false;
  d.landing = undefined;
}

/** Cancels the job's pending timer, if any. */
export function cancelTimer(_rt: JobRuntime, d: JobRun): void {
  if (d.timer !== undefined) {
    d.timer();
    d.timer = undefined;
  }
}

export function releaseDriver(_rt: JobRuntime, d: JobRun): void {
  if (d.released) return;
  d.released = true;
  endDriver(d);
  for (const release of d.release) release();
}

/** What the job drops at its end (its filter node), once. */
function endDriver(d: JobRun): void {
  for (const drop of d.atEnd.splice(0)) drop();
}
