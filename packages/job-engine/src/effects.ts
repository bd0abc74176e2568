// What an engine operation returns: the things that happened, as plain data, in order.
import type { JobError } from './errors.js';
import type { BlockErrorAction, JobEventMap } from './qapi.js';

export type JobEventName = keyof JobEventMap;

/** An event to send to every client, now (before the reply of the command being handled). */
export type EventEffect = {
  [K in JobEventName]: { type: 'event'; event: K; data: JobEventMap[K] };
}[JobEventName];

/**
 * Why the engine re-entered a job's coroutine (QEMU's job_enter) — the driver picks up its work.
 * - `start`: the job was started; run until the first wait.
 * - `resume`: the last pause was released; the job is running again (its sleep is forgotten).
 * - `cancel`: a cancel reached a mirror or active commit; it winds down (hard) or finishes
 *   without pivoting (soft, from ready) and then reports `runFinished`.
 * - `complete`: `job-complete` reached an idle ready job; it finishes and reports `runFinished`.
 * - `set-speed`: the speed was raised or set to 0 while the job slept on its rate limit. It
 *   runs on at once: a backup to null-co at speed 1 set to 0 finished (waiting … null) before
 *   the reply on qemu-storage-daemon 7.2.22.
 */
export type EnterReason = 'start' | 'resume' | 'cancel' | 'complete' | 'set-speed';

/**
 * An instruction to the job's driver (the simulator): its coroutine is running again.
 * `when` says where the driver's reaction lands relative to the reply of the command being
 * handled: `before-reply` (start, resume, set-speed) = act now, inside the command: QEMU runs
 * the coroutine synchronously up to its next real wait, so a job with nothing left to wait for
 * finishes before the reply; `after-reply` (cancel and complete of a mirror or active commit) =
 * schedule it: the mirror drains its source on the way out, so its end comes after the reply.
 */
export interface EnterEffect {
  type: 'enter';
  id: string;
  reason: EnterReason;
  when: 'before-reply' | 'after-reply';
}

/** The engine ended the job's run itself (cancelled while idle, or aborted with its
 * transaction): the driver drops any timer or I/O it still has for this job. */
export interface HaltEffect {
  type: 'halt';
  id: string;
}

/**
 * The job's clean step runs now (QEMU's JobDriver.clean, after commit or abort and before the
 * terminal BLOCK_JOB_* event): the driver undoes its graph changes, e.g. a backup drops its
 * copy-before-write filter inside a drained section of its source, which pauses and resumes
 * the other jobs on that node. Events the driver emits here come before the terminal event.
 */
export interface CleanEffect {
  type: 'clean';
  id: string;
  /** The job ends aborted (job_abort ran before job_clean) rather than committed. */
  failed: boolean;
}

export type Effect = EventEffect | EnterEffect | HaltEffect | CleanEffect;

/** Outcome of an operation. On failure `effects` holds what happened before the error
 * (only job creation with a negative speed has any: `created`, then `null`). */
export type JobResult =
  | { ok: true; effects: Effect[] }
  | { ok: false; error: JobError; effects: Effect[] };

/** Outcome of `ioError`: also the action QEMU chose (`report` means the run should fail). */
export type IoErrorResult =
  | { ok: true; effects: Effect[]; action: BlockErrorAction }
  | { ok: false; error: JobError; effects: Effect[] };
