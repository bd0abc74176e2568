// What one kind of job does, the way QEMU's JobDriver / BlockJobDriver callbacks say it: how its
// run begins, how it waits between chunks, what it does when its copy is done or a request
// fails, how it reacts to a new speed, a cancel, and its clean step. The runtime (job-runtime,
// copy-loop, io-errors, drain) calls these hooks and never asks which kind of job it runs; each
// job's file in ../jobs/ (mirror, backup, stream, commit, create) holds its driver.

import type { EnterReason, JobSnapshot } from '@qmpkit/job-engine';
import type { JobRun, Kind } from '../jobs/driver.js';
import { follow, resumeAfterOwedDelay, resumeRun, startCopy, syncTo } from './copy-loop.js';
import { errorAction, type RequestFailure } from './io-errors.js';
import { defer, finish, finishIfBusy, type JobRuntime } from './job-runtime.js';

/** Where the first chunk of a plan that may start now is issued. */
export type Kickoff =
  /** Inside the command, the rest of the loop after the reply (mirror). */
  | 'first-chunk-now'
  /** At the end of the command, still before its reply (block-copy on instant I/O). */
  | 'end-of-command'
  /** In a later main-loop turn, after the reply. */
  | 'after-reply';

export interface JobDriver {
  readonly kind: Kind;
  /**
   * How the job's coroutine waits: on a timer (job_sleep_ns, entered early by a faster speed)
   * or for work without a timer (job_yield: a backup waiting for block-copy).
   */
  readonly waitsOn: 'timer' | 'work';
  /** Whether drained sections pause it (a create job works on no node). */
  readonly drainable: boolean;
  /** Whether a throttled job sleeps between its chunks in job_sleep_ns (busy: false). */
  readonly sleepsBetweenChunks: boolean;
  /**
   * Which parts of a chunk its requests read, by the source's block status: all of it (stream's
   * and commit's reads), all but what reads as zeroes (block-copy writes zeroes there instead),
   * or only data (mirror).
   */
  readonly reads: 'all' | 'not-zero' | 'data';
  /**
   * How many bytes one read request of a chunk covers: a mirror reads its buffer as 1 MiB
   * requests in parallel, and the ones that succeed count even when another fails. Undefined:
   * the whole chunk is one request.
   */
  readRequestBytes(d: JobRun): number | undefined;
  /** Whether a failed write is reported as a read (stream reports every failure as a read). */
  readonly reportsWritesAsReads: boolean;
  /**
   * When the job lets go of its nodes (op blockers, BlockBackends): at its end (mirror and
   * backup drop them in their prepare/abort/clean, before the terminal event; at the latest when
   * it concludes), or only when it is dismissed and freed
   * (stream, commit: block_job_free), so a concluded stream kept by auto-dismiss false still
   * makes its node busy.
   */
  readonly releasesNodes: 'at-conclusion' | 'when-dismissed';
  /** The job's coroutine was entered and is busy (start, resume, cancel, complete, speed). */
  enter(rt: JobRuntime, d: JobRun, reason: EnterReason, afterReply: boolean): void;
  /** JobDriver.run: the run begins (the first entry after the job's set-up). */
  run(rt: JobRuntime, d: JobRun): void;
  /** The job is entered again while copying (resume, a faster speed). */
  resume(rt: JobRuntime, d: JobRun): void;
  /** How a plan that may start now gets going. */
  kickoff(rt: JobRuntime, d: JobRun): Kickoff;
  /** Whether the copy ends only after the rate-limit delay of its last chunk. */
  waitsOutLastDelay(d: JobRun): boolean;
  /** Whether its requests read the source (a mirror reads only data the source has). */
  readsSource(d: JobRun): boolean;
  /** The copy loop went through the whole work list. */
  copyDone(rt: JobRuntime, d: JobRun): void;
  /** A chunk's request failed; true when the run stops here. */
  requestFailed(rt: JobRuntime, d: JobRun, index: number, failure: RequestFailure): boolean;
  /** The error policy said ignore. */
  errorIgnored(d: JobRun, message: string): void;
  /** A new speed was set on a running job; true when the driver dealt with it. */
  speedChanged(rt: JobRuntime, d: JobRun): boolean;
  /** JobDriver.cancel, before the engine sees the cancel. */
  cancel(rt: JobRuntime, d: JobRun, force: boolean): void;
  /**
   * JobDriver.prepare, when the job has succeeded, before `clean`: the change of the block
   * graph its success makes (a stream or commit drops the images it copied from the chain).
   */
  prepare(rt: JobRuntime, d: JobRun): void;
  /** JobDriver.clean, after commit or abort, before the terminal event. */
  clean(rt: JobRuntime, d: JobRun, failed: boolean): void;
  /**
   * How many changes of the block graph the job's end makes (its prepare/abort/clean: filter
   * dropped, nodes replaced), after `clean` and before the terminal event; see
   * runtime/drain.ts `graphChange`. Counted on qemu-storage-daemon 10.0.2.
   */
  graphChangesAtEnd(d: JobRun, failed: boolean): number;
  /** How many block_job_free makes when the job goes (`null`): its nodes detached. */
  readonly graphChangesWhenFreed: number;
  /** mirror_complete(): the node `replaces` named, when it no longer exists. */
  missingReplacesNode(rt: JobRuntime, d: JobRun): string | undefined;
  /** Brings the job's progress up to time `t` (before every command; the copy loop's syncTo). */
  syncTo(rt: JobRuntime, d: JobRun, t: number): void;
  /**
   * After a command, the running job follows what the command did to it (a new speed, a pause
   * or cancel landing at a chunk boundary) and its loop goes on (the copy loop's follow).
   */
  follow(rt: JobRuntime, d: JobRun, snap: JobSnapshot): void;
}

/**
 * The coroutine entered: a hard-cancelled job winds down (its exit drains, so after the
 * reply); a job not started yet begins its run; anything else goes back to its copy loop.
 */
export function enterCopyJob(
  rt: JobRuntime,
  d: JobRun,
  _reason: EnterReason,
  afterReply: boolean,
): void {
  const snap = rt.engine.job(d.id);
  if (snap?.cancelled) {
    if (afterReply) finish(rt, d, undefined);
    else defer(rt, () => finishIfBusy(rt, d));
    return;
  }
  if (!d.started) {
    d.driver.run(rt, d);
    return;
  }
  d.driver.resume(rt, d);
}

/** What a job that copies chunk by chunk does unless its driver says otherwise. */
export const copyJobDriver: Omit<
  JobDriver,
  'kind' | 'graphChangesAtEnd' | 'graphChangesWhenFreed'
> = {
  waitsOn: 'timer',
  drainable: true,
  sleepsBetweenChunks: true,
  reads: 'all',
  readRequestBytes: () => undefined,
  reportsWritesAsReads: false,
  releasesNodes: 'at-conclusion',
  enter: enterCopyJob,
  run: (rt, d) => startCopy(rt, d),
  // 7.2: an entered job copies its next chunk at once; later versions wait out the rate-limit
  // delay they still owe (block_job_ratelimit_sleep sleeps again until it has passed).
  resume: (rt, d) =>
    rt.profile.resumeWaitsOutRateLimit ? resumeAfterOwedDelay(rt, d) : resumeRun(rt, d, true),
  kickoff: () => 'after-reply',
  waitsOutLastDelay: (d) => d.work.hasTrailingSkip,
  readsSource: () => true,
  copyDone: (rt, d) => finish(rt, d, undefined),
  requestFailed: (rt, d, index, failure) => errorAction(rt, d, failure, index),
  errorIgnored: () => {},
  speedChanged: () => false,
  cancel: () => {},
  prepare: () => {},
  clean: () => {},
  missingReplacesNode: () => undefined,
  syncTo,
  follow,
};
