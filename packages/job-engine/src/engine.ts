// QEMU 7.2's job machinery (job.c, job-qmp.c, blockjob.c, the block-job commands of blockdev.c
// and the cancel/complete rules of block/mirror.c and block/backup.c) as a synchronous model.
//
// The engine owns what QEMU's job core owns: statuses, pause accounting, cancel and complete
// requests, transactions, finalization, dismissal, progress and the block-job extras (speed,
// io-status). It does no I/O and knows no clock. Its driver (the simulator) tells it what the
// job's coroutine does — started, slept, woke, reached a pause point, converged, hit an I/O
// error, finished its run — and every operation returns the resulting effects, in order.
//
// One piece on purpose (about 1,000 lines, like QEMU's job.c): every verb, transition and
// transaction step reads and writes the same private job records and the effect list of the
// operation under way; split into files, they would reach each other's state through
// package-wide accessors. What is data lives apart: the transition and verb tables (tables.ts),
// the error texts (errors.ts), the effects (effects.ts), job-id rules (job-id.ts).
import type { Effect, EnterReason, IoErrorResult, JobResult } from './effects.js';
import { JobEngineInvariantError, type JobError, jobErrorText } from './errors.js';
import { isWellFormedJobId } from './job-id.js';
import type {
  BlockDeviceIoStatus,
  BlockdevOnError,
  BlockErrorAction,
  BlockJobInfo,
  IoOperationType,
  JobCommandArgs,
  JobInfo,
  JobStatus,
  JobType,
  JobVerb,
} from './qapi.js';
import { isTransitionAllowed, isVerbAllowed } from './tables.js';

/** The job types `block-job-*`, `query-block-jobs` and the BLOCK_JOB_* events know. */
const BLOCK_JOB_TYPES: ReadonlySet<JobType> = new Set<JobType>([
  'backup',
  'commit',
  'mirror',
  'stream',
]);

/**
 * Where the job's coroutine is.
 * - `unstarted`: created, `start` not called yet.
 * - `busy`: running, or waiting for its own I/O (`busy: true` in query-block-jobs).
 * - `sleeping`: yielded on a timer or for work to arrive (rate limit, a ready mirror).
 * - `parked`: sitting at a pause point (status paused or standby).
 * - `exited`: its run has returned; the job is being completed or is completed.
 */
export type JobRunState = 'unstarted' | 'busy' | 'sleeping' | 'parked' | 'exited';

interface Transaction {
  /** Newest member first, as QEMU's head-inserted list: members are processed in this order. */
  members: JobRecord[];
  aborting: boolean;
}

interface JobRecord {
  readonly id: string;
  readonly type: JobType;
  readonly isBlockJob: boolean;
  /** Mirror and active commit: a ready phase, `complete`, soft cancel, a drain at exit. */
  readonly hasReadyPhase: boolean;
  status: JobStatus;
  run: JobRunState;
  /** While sleeping: in job_sleep_ns (a timer pending) rather than job_yield (waiting for work). */
  timerPending: boolean;
  started: boolean;
  /** The status a parked job returns to (running or ready). */
  parkedFrom: JobStatus;
  pauseCount: number;
  userPaused: boolean;
  cancelRequested: boolean;
  forceCancel: boolean;
  completeRequested: boolean;
  readonly autoFinalize: boolean;
  readonly autoDismiss: boolean;
  failed: boolean;
  error: string | undefined;
  current: number;
  total: number;
  speed: number;
  ioStatus: BlockDeviceIoStatus;
  /** A mirror keeps its source drained (one pause count) from the end of its run until it is
   * finalized; this is why a pending mirror shows `paused: true`. */
  holdsExitDrain: boolean;
  txn: Transaction | undefined;
}

/** A group of jobs that complete or fail together (`completion-mode: grouped`). */
export interface JobTransaction {
  readonly __brand: 'JobTransaction';
}

export interface CreateJobOptions {
  id: string;
  type: JobType;
  /** For `commit`: the top is the active layer, so it runs the mirror engine (ready phase). */
  activeCommit?: boolean;
  /** Join this grouped transaction; without it the job is alone in its own transaction. */
  transaction?: JobTransaction;
  /** Block jobs only; other types are always auto-finalize and never auto-dismiss. */
  autoFinalize?: boolean;
  /** Block jobs only; other types are always auto-finalize and never auto-dismiss. */
  autoDismiss?: boolean;
  /** Block jobs only: bytes per second, 0 = unlimited. Negative fails as QEMU fails it. */
  speed?: number;
}

export interface IoErrorOptions {
  operation: IoOperationType;
  /** The job's `on-error` (or `on-source-error`/`on-target-error`) setting. */
  policy: BlockdevOnError;
  /** The failed request's errno was ENOSPC. */
  nospace?: boolean;
}

/** Applied in the order setRemaining, increaseRemaining, workDone. */
export interface ProgressUpdate {
  /** job_progress_set_remaining: total becomes current + this. */
  setRemaining?: number;
  /** job_progress_increase_remaining: total grows by this. */
  increaseRemaining?: number;
  /** job_progress_update: this much more work is done (current grows). */
  workDone?: number;
}

/** What the driver (and tests) can see of a job. A copy: it does not change afterwards. */
export interface JobSnapshot {
  id: string;
  type: JobType;
  status: JobStatus;
  run: JobRunState;
  hasReadyPhase: boolean;
  isBlockJob: boolean;
  pauseCount: number;
  userPaused: boolean;
  /** A cancel was requested (soft or hard). */
  cancelRequested: boolean;
  /** The job is being cancelled for real (hard cancel): its run should end. */
  cancelled: boolean;
  completeRequested: boolean;
  autoFinalize: boolean;
  autoDismiss: boolean;
  speed: number;
  ioStatus: BlockDeviceIoStatus;
  current: number;
  total: number;
  error: string | undefined;
  /** Members of its transaction still in it, itself included (0 once finalized). */
  transactionSize: number;
}

const GENERIC = 'GenericError';

function fail(desc: string, cls: JobError['class'] = GENERIC): JobResult {
  return { ok: false, error: { class: cls, desc }, effects: [] };
}

function isCompleted(status: JobStatus): boolean {
  return (
    status === 'waiting' ||
    status === 'pending' ||
    status === 'aborting' ||
    status === 'concluded' ||
    status === 'null'
  );
}

function isReady(status: JobStatus): boolean {
  return status === 'ready' || status === 'standby';
}

function isCount(n: number | undefined): boolean {
  return n === undefined || (Number.isSafeInteger(n) && n >= 0);
}

/**
 * QEMU's job list, one instance per simulated QEMU process. Verbs are the QMP commands; the
 * driver methods are what a job's coroutine reports. Nothing here throws except a transition
 * QEMU's table forbids ({@link JobEngineInvariantError}).
 */
export class JobEngine {
  /** Insertion order = creation order; queries list it reversed (newest first). */
  private readonly jobs = new Map<string, JobRecord>();
  private readonly transactions = new WeakMap<JobTransaction, Transaction>();
  private out: Effect[] = [];

  // ---------------------------------------------------------------------------------------------
  // Transactions and creation

  /** A new grouped transaction to pass to {@link create} for each of its jobs. */
  newTransaction(): JobTransaction {
    const handle = Object.freeze({ __brand: 'JobTransaction' as const });
    this.transactions.set(handle, { members: [], aborting: false });
    return handle;
  }

  /**
   * Create a job (status `created`). Checks the ID as QEMU does: `Invalid job ID`, then
   * `Job ID … already in use` (a concluded job still holds its ID). A block job with a negative
   * speed is created and destroyed at once: effects `created`, `null`, and the speed error.
   */
  create(options: CreateJobOptions): JobResult {
    const { id, type } = options;
    if (!isWellFormedJobId(id)) return fail(jobErrorText.invalidJobId(id));
    if (this.jobs.has(id)) return fail(jobErrorText.jobIdInUse(id));
    let txn: Transaction | undefined;
    if (options.transaction !== undefined) {
      txn = this.transactions.get(options.transaction);
      if (txn === undefined) return fail('Unknown job transaction');
    } else {
      txn = { members: [], aborting: false };
    }
    const isBlockJob = BLOCK_JOB_TYPES.has(type);
    const job: JobRecord = {
      id,
      type,
      isBlockJob,
      hasReadyPhase: type === 'mirror' || (type === 'commit' && options.activeCommit === true),
      status: 'undefined',
      run: 'unstarted',
      timerPending: false,
      started: false,
      parkedFrom: 'running',
      pauseCount: 1,
      userPaused: false,
      cancelRequested: false,
      forceCancel: false,
      completeRequested: false,
      autoFinalize: isBlockJob ? options.autoFinalize !== false : true,
      autoDismiss: isBlockJob ? options.autoDismiss !== false : false,
      failed: false,
      error: undefined,
      current: 0,
      total: 0,
      speed: 0,
      ioStatus: 'ok',
      holdsExitDrain: false,
      txn,
    };
    const out = this.begin();
    this.transition(job, 'created');
    this.jobs.set(id, job);
    txn.members.unshift(job);
    if (isBlockJob) {
      // block_job_create sets the speed after the job exists; a refusal destroys it (C→N).
      const speed = options.speed ?? 0;
      if (!Number.isSafeInteger(speed) || speed < 0) {
        this.dismiss(job);
        return {
          ok: false,
          error: { class: GENERIC, desc: jobErrorText.negativeSpeed },
          effects: out,
        };
      }
      job.speed = speed;
    }
    return { ok: true, effects: out };
  }

  /**
   * Start a created job (created → running). Its coroutine first passes a pause point, so a job
   * started inside a drained section (a transaction) goes on to `paused` at once. Otherwise an
   * `enter` effect (`start`, before the reply) tells the driver to run until its first wait.
   */
  start(id: string): JobResult {
    const job = this.jobs.get(id);
    if (job === undefined) return fail(jobErrorText.jobNotFound);
    const out = this.begin();
    this.transition(job, 'running');
    job.started = true;
    job.run = 'busy';
    job.pauseCount--;
    if (job.pauseCount > 0) this.park(job);
    else out.push({ type: 'enter', id, reason: 'start', when: 'before-reply' });
    return { ok: true, effects: out };
  }

  /** job_early_fail: a created job that could not be set up goes straight to `null`. */
  earlyFail(id: string): JobResult {
    const job = this.jobs.get(id);
    if (job === undefined) return fail(jobErrorText.jobNotFound);
    const out = this.begin();
    this.dismiss(job);
    return { ok: true, effects: out };
  }

  /**
   * job_cancel_sync(force): how a failing transaction rolls back the jobs it already created
   * (created → aborting → concluded → null, no BLOCK_JOB_* event). No verb check: it is internal.
   */
  rollback(id: string): JobResult {
    const job = this.jobs.get(id);
    if (job === undefined) return fail(jobErrorText.jobNotFound);
    const out = this.begin();
    this.cancelJob(job, true);
    return { ok: true, effects: out };
  }

  // ---------------------------------------------------------------------------------------------
  // QMP verbs

  /** Run one of the job commands by its QMP name, with its (already validated) arguments. */
  execute<C extends keyof JobCommandArgs>(command: C, args: JobCommandArgs[C]): JobResult {
    // Tolerate a missing arguments object from an untyped caller rather than throw.
    const a = (args ?? {}) as Partial<{
      id: string;
      device: string;
      force: boolean;
      speed: number;
    }>;
    switch (command) {
      case 'job-pause':
        return this.jobPause(a.id ?? '');
      case 'job-resume':
        return this.jobResume(a.id ?? '');
      case 'job-cancel':
        return this.jobCancel(a.id ?? '');
      case 'job-complete':
        return this.jobComplete(a.id ?? '');
      case 'job-finalize':
        return this.jobFinalize(a.id ?? '');
      case 'job-dismiss':
        return this.jobDismiss(a.id ?? '');
      case 'block-job-pause':
        return this.blockJobPause(a.device ?? '');
      case 'block-job-resume':
        return this.blockJobResume(a.device ?? '');
      case 'block-job-cancel':
        return this.blockJobCancel(a.device ?? '', a.force ?? false);
      case 'block-job-complete':
        return this.blockJobComplete(a.device ?? '');
      case 'block-job-finalize':
        return this.blockJobFinalize(a.id ?? '');
      case 'block-job-dismiss':
        return this.blockJobDismiss(a.id ?? '');
      case 'block-job-set-speed':
        return this.blockJobSetSpeed(a.device ?? '', a.speed ?? 0);
      default:
        return fail(`The command ${String(command)} has not been found`, 'CommandNotFound');
    }
  }

  jobPause(id: string): JobResult {
    const job = this.jobs.get(id);
    return job === undefined ? fail(jobErrorText.jobNotFound) : this.userPause(job);
  }

  blockJobPause(device: string): JobResult {
    const job = this.blockJob(device);
    return job === undefined ? blockJobNotFound(device) : this.userPause(job);
  }

  jobResume(id: string): JobResult {
    const job = this.jobs.get(id);
    return job === undefined ? fail(jobErrorText.jobNotFound) : this.userResume(job);
  }

  blockJobResume(device: string): JobResult {
    const job = this.blockJob(device);
    return job === undefined ? blockJobNotFound(device) : this.userResume(job);
  }

  /** `job-cancel` is always a hard cancel. */
  jobCancel(id: string): JobResult {
    const job = this.jobs.get(id);
    if (job === undefined) return fail(jobErrorText.jobNotFound);
    return this.userCancel(job, true);
  }

  /** `block-job-cancel`: soft by default, refused for a user-paused job unless forced. */
  blockJobCancel(device: string, force = false): JobResult {
    const job = this.blockJob(device);
    if (job === undefined) return blockJobNotFound(device);
    if (job.userPaused && !force) return fail(jobErrorText.currentlyPaused(device));
    return this.userCancel(job, force);
  }

  /**
   * `job-complete`. `missingReplacesNode` is for the mirror's `replaces` check, which only the
   * simulator can make: pass the node name if it no longer exists.
   */
  jobComplete(id: string, options: { missingReplacesNode?: string } = {}): JobResult {
    const job = this.jobs.get(id);
    return job === undefined ? fail(jobErrorText.jobNotFound) : this.complete(job, options);
  }

  blockJobComplete(device: string, options: { missingReplacesNode?: string } = {}): JobResult {
    const job = this.blockJob(device);
    return job === undefined ? blockJobNotFound(device) : this.complete(job, options);
  }

  jobFinalize(id: string): JobResult {
    const job = this.jobs.get(id);
    return job === undefined ? fail(jobErrorText.jobNotFound) : this.userFinalize(job);
  }

  blockJobFinalize(id: string): JobResult {
    const job = this.blockJob(id);
    return job === undefined ? blockJobNotFound(id) : this.userFinalize(job);
  }

  jobDismiss(id: string): JobResult {
    const job = this.jobs.get(id);
    return job === undefined ? fail(jobErrorText.jobNotFound) : this.userDismiss(job);
  }

  blockJobDismiss(id: string): JobResult {
    const job = this.blockJob(id);
    return job === undefined ? blockJobNotFound(id) : this.userDismiss(job);
  }

  blockJobSetSpeed(device: string, speed: number): JobResult {
    const job = this.blockJob(device);
    if (job === undefined) return blockJobNotFound(device);
    if (!isVerbAllowed('set-speed', job.status)) return verbRefused(job, 'set-speed');
    if (!Number.isSafeInteger(speed)) {
      return fail("Invalid parameter type for 'speed', expected: integer");
    }
    if (speed < 0) return fail(jobErrorText.negativeSpeed);
    const out = this.begin();
    const old = job.speed;
    job.speed = speed;
    // A faster (or unlimited) speed wakes a job sleeping on its rate limit: job_enter_cond(job,
    // job_timer_pending) enters only a job in job_sleep_ns, never one in job_yield (a backup
    // waiting for block-copy, whose own rate limit the driver's set_speed kicks).
    if ((speed === 0 || speed > old) && job.run === 'sleeping' && job.timerPending) {
      this.enterIdle(job, 'set-speed');
    }
    return { ok: true, effects: out };
  }

  // ---------------------------------------------------------------------------------------------
  // Driver signals: what the job's coroutine does

  /**
   * The job sleeps on a timer (job_sleep_ns): a rate-limit delay, a ready mirror's idle loop. A
   * job with a pause pending parks instead; a hard-cancelled job does not sleep at all (it stays
   * busy and should end its run). Entered early by pause, resume, cancel, complete and a faster
   * speed.
   */
  sleep(id: string): JobResult {
    return this.idle(id, true);
  }

  /**
   * The job waits for work without a timer (job_yield): a backup while block-copy runs. Like
   * `sleep`, except that a new speed does not enter it.
   */
  jobYield(id: string): JobResult {
    return this.idle(id, false);
  }

  private idle(id: string, timer: boolean): JobResult {
    const job = this.jobs.get(id);
    if (job === undefined) return fail(jobErrorText.jobNotFound);
    if (job.run !== 'busy' && job.run !== 'sleeping') return notRunning(job);
    const out = this.begin();
    if (job.forceCancel) return { ok: true, effects: out };
    if (job.pauseCount > 0) this.park(job);
    else {
      job.run = 'sleeping';
      job.timerPending = timer;
    }
    return { ok: true, effects: out };
  }

  /** The job's sleep ended (its timer fired, or work arrived). Ignored unless it sleeps. */
  wake(id: string): JobResult {
    const job = this.jobs.get(id);
    if (job === undefined) return fail(jobErrorText.jobNotFound);
    const out = this.begin();
    if (job.run === 'sleeping') {
      job.run = 'busy';
      if (job.pauseCount > 0 && !job.forceCancel) this.park(job);
    }
    return { ok: true, effects: out };
  }

  /** The busy job passes a pause point (between chunks): it parks if a pause is pending. */
  pausePoint(id: string): JobResult {
    const job = this.jobs.get(id);
    if (job === undefined) return fail(jobErrorText.jobNotFound);
    const out = this.begin();
    if (job.run === 'busy' && job.pauseCount > 0 && !job.forceCancel) this.park(job);
    return { ok: true, effects: out };
  }

  /** A mirror or active commit converged: running → ready, then BLOCK_JOB_READY. */
  converged(id: string): JobResult {
    const job = this.jobs.get(id);
    if (job === undefined) return fail(jobErrorText.jobNotFound);
    if (!job.hasReadyPhase) return fail(`Job '${id}' of type '${job.type}' has no ready phase`);
    const out = this.begin();
    this.transition(job, 'ready');
    out.push({
      type: 'event',
      event: 'BLOCK_JOB_READY',
      data: { type: job.type, device: id, len: job.total, offset: job.current, speed: job.speed },
    });
    return { ok: true, effects: out };
  }

  /**
   * An I/O request of the block job failed (block_job_error_action). Emits BLOCK_JOB_ERROR with
   * the action the policy picks. `stop` turns into a user pause (unless one is already in force)
   * and sets io-status; the job then parks at its next pause point. `report` means the driver's
   * run should now fail with the errno text; `ignore` means carry on.
   */
  ioError(id: string, options: IoErrorOptions): IoErrorResult {
    const job = this.jobs.get(id);
    if (job === undefined || !job.isBlockJob) return blockJobNotFound(id) as IoErrorResult;
    if (!job.started || job.run === 'exited') return notRunning(job) as IoErrorResult;
    const nospace = options.nospace === true;
    let action: BlockErrorAction;
    switch (options.policy) {
      case 'enospc':
      case 'auto':
        action = nospace ? 'stop' : 'report';
        break;
      case 'stop':
        action = 'stop';
        break;
      case 'ignore':
        action = 'ignore';
        break;
      default:
        action = 'report';
    }
    const out = this.begin();
    out.push({
      type: 'event',
      event: 'BLOCK_JOB_ERROR',
      data: { device: id, operation: options.operation, action },
    });
    if (action === 'stop') {
      if (!job.userPaused) {
        job.pauseCount++;
        job.userPaused = true;
      }
      if (job.ioStatus === 'ok') job.ioStatus = nospace ? 'nospace' : 'failed';
    }
    return { ok: true, effects: out, action };
  }

  /**
   * The job's run returned (and its exit bottom half runs): with `error`, it failed with that
   * message; otherwise it succeeded — unless it was hard-cancelled, which makes it
   * `Operation canceled`. The engine then completes it: waiting/pending/finalize, or aborting
   * and the transaction's abort, with every event in QEMU's order.
   */
  runFinished(id: string, outcome: { error?: string } = {}): JobResult {
    const job = this.jobs.get(id);
    if (job === undefined) return fail(jobErrorText.jobNotFound);
    if (job.run !== 'busy' && job.run !== 'sleeping') return notRunning(job);
    const out = this.begin();
    if (outcome.error !== undefined) {
      job.failed = true;
      job.error = outcome.error;
    }
    this.exitRun(job);
    this.completed(job);
    return { ok: true, effects: out };
  }

  /** Progress as QEMU's progress meter moves: current only grows, total may move both ways. */
  progress(id: string, update: ProgressUpdate): JobResult {
    const job = this.jobs.get(id);
    if (job === undefined) return fail(jobErrorText.jobNotFound);
    const { workDone, setRemaining, increaseRemaining } = update;
    if (!isCount(workDone) || !isCount(setRemaining) || !isCount(increaseRemaining)) {
      return fail('Progress amounts must be non-negative integers');
    }
    // Applied in this order, so `{ setRemaining: n, workDone: n }` means "n of n done".
    if (setRemaining !== undefined) job.total = job.current + setRemaining;
    if (increaseRemaining !== undefined) job.total += increaseRemaining;
    if (workDone !== undefined) {
      job.current += workDone;
      // QEMU's meter does not stop work done from passing the estimate; neither does this.
    }
    return { ok: true, effects: [] };
  }

  /**
   * An internal pause (a drained section on a node the job uses): one more pause count. An
   * idle job parks at once (`paused`/`standby`); a busy one parks at its next pause point (a
   * drain waits for it, so the driver should bring it there before the drain proceeds).
   */
  pauseInternal(id: string): JobResult {
    const job = this.jobs.get(id);
    if (job === undefined) return fail(jobErrorText.jobNotFound);
    const out = this.begin();
    this.pauseJob(job);
    return { ok: true, effects: out };
  }

  /** The drained section ended: one pause count less; at zero a parked job runs again. */
  resumeInternal(id: string): JobResult {
    const job = this.jobs.get(id);
    if (job === undefined) return fail(jobErrorText.jobNotFound);
    if (job.pauseCount <= 0) return fail(`Job '${id}' has no pause to release`);
    const out = this.begin();
    this.resumeJob(job);
    return { ok: true, effects: out };
  }

  // ---------------------------------------------------------------------------------------------
  // Queries

  has(id: string): boolean {
    return this.jobs.has(id);
  }

  /** A copy of the job's state, or undefined once it is dismissed (or never existed). */
  job(id: string): JobSnapshot | undefined {
    const j = this.jobs.get(id);
    if (j === undefined) return undefined;
    return {
      id: j.id,
      type: j.type,
      status: j.status,
      run: j.run,
      hasReadyPhase: j.hasReadyPhase,
      isBlockJob: j.isBlockJob,
      pauseCount: j.pauseCount,
      userPaused: j.userPaused,
      cancelRequested: j.cancelRequested,
      cancelled: j.forceCancel,
      completeRequested: j.completeRequested,
      autoFinalize: j.autoFinalize,
      autoDismiss: j.autoDismiss,
      speed: j.speed,
      ioStatus: j.ioStatus,
      current: j.current,
      total: j.total,
      error: j.failed ? j.error : undefined,
      transactionSize: j.txn?.members.length ?? 0,
    };
  }

  /** Job IDs, newest first. */
  ids(): string[] {
    return [...this.jobs.keys()].reverse();
  }

  /** `query-jobs`: every job, newest first. */
  queryJobs(): JobInfo[] {
    const list: JobInfo[] = [];
    for (const j of this.jobs.values()) {
      const info: JobInfo = {
        id: j.id,
        type: j.type,
        status: j.status,
        'current-progress': j.current,
        'total-progress': j.total,
      };
      if (j.failed && j.error !== undefined) info.error = j.error;
      list.push(info);
    }
    return list.reverse();
  }

  /** `query-block-jobs`: block jobs only, newest first. */
  queryBlockJobs(): BlockJobInfo[] {
    const list: BlockJobInfo[] = [];
    for (const j of this.jobs.values()) {
      if (!j.isBlockJob) continue;
      const info: BlockJobInfo = {
        type: j.type,
        device: j.id,
        len: j.total,
        offset: j.current,
        busy: j.run === 'busy',
        paused: j.pauseCount > 0,
        speed: j.speed,
        'io-status': j.ioStatus,
        ready: isReady(j.status),
        status: j.status,
        'auto-finalize': j.autoFinalize,
        'auto-dismiss': j.autoDismiss,
      };
      if (j.failed && j.error !== undefined) info.error = j.error;
      list.push(info);
    }
    return list.reverse();
  }

  // ---------------------------------------------------------------------------------------------
  // The verbs' bodies, in QEMU's check order

  private blockJob(id: string): JobRecord | undefined {
    const job = this.jobs.get(id);
    return job?.isBlockJob === true ? job : undefined;
  }

  private userPause(job: JobRecord): JobResult {
    if (!isVerbAllowed('pause', job.status)) return verbRefused(job, 'pause');
    if (job.userPaused) return fail(jobErrorText.alreadyPaused);
    const out = this.begin();
    job.userPaused = true;
    this.pauseJob(job);
    return { ok: true, effects: out };
  }

  private userResume(job: JobRecord): JobResult {
    // QEMU checks "was it paused" before the verb table.
    if (!job.userPaused || job.pauseCount <= 0) return fail(jobErrorText.notPaused);
    if (!isVerbAllowed('resume', job.status)) return verbRefused(job, 'resume');
    const out = this.begin();
    if (job.isBlockJob) job.ioStatus = 'ok';
    job.userPaused = false;
    this.resumeJob(job);
    return { ok: true, effects: out };
  }

  private userCancel(job: JobRecord, force: boolean): JobResult {
    if (!isVerbAllowed('cancel', job.status)) return verbRefused(job, 'cancel');
    const out = this.begin();
    this.cancelJob(job, force);
    return { ok: true, effects: out };
  }

  private complete(job: JobRecord, options: { missingReplacesNode?: string }): JobResult {
    if (!isVerbAllowed('complete', job.status)) return verbRefused(job, 'complete');
    if (job.cancelRequested || !job.hasReadyPhase) return fail(jobErrorText.cannotComplete(job.id));
    if (options.missingReplacesNode !== undefined) {
      return fail(jobErrorText.replacesNotFound(options.missingReplacesNode));
    }
    const out = this.begin();
    // Repeating it is accepted silently; a parked job acts on it once resumed.
    job.completeRequested = true;
    if (job.run === 'sleeping') this.enterIdle(job, 'complete');
    return { ok: true, effects: out };
  }

  private userFinalize(job: JobRecord): JobResult {
    if (!isVerbAllowed('finalize', job.status)) return verbRefused(job, 'finalize');
    const out = this.begin();
    this.finalizeTransaction(job);
    return { ok: true, effects: out };
  }

  private userDismiss(job: JobRecord): JobResult {
    if (!isVerbAllowed('dismiss', job.status)) return verbRefused(job, 'dismiss');
    const out = this.begin();
    this.dismiss(job);
    return { ok: true, effects: out };
  }

  // ---------------------------------------------------------------------------------------------
  // The job core

  private begin(): Effect[] {
    const out: Effect[] = [];
    this.out = out;
    return out;
  }

  /** The single place a status changes: checked against the table, announced when it differs. */
  private transition(job: JobRecord, to: JobStatus): void {
    const from = job.status;
    if (!isTransitionAllowed(from, to)) {
      throw new JobEngineInvariantError(
        `job '${job.id}': transition ${from} → ${to} is forbidden by QEMU's table`,
        job.id,
        from,
        to,
      );
    }
    job.status = to;
    if (from !== to) {
      this.out.push({
        type: 'event',
        event: 'JOB_STATUS_CHANGE',
        data: { id: job.id, status: to },
      });
    }
  }

  /** The coroutine stops at a pause point: running → paused, ready → standby. */
  private park(job: JobRecord): void {
    const from = job.status;
    this.transition(job, from === 'ready' ? 'standby' : 'paused');
    job.parkedFrom = from;
    job.run = 'parked';
  }

  /** job_pause: one more pause; an idle (sleeping) job is woken and parks at once. */
  private pauseJob(job: JobRecord): void {
    job.pauseCount++;
    if (job.run === 'sleeping') {
      job.run = 'busy';
      if (!job.forceCancel) this.park(job);
    }
  }

  /** job_resume: one pause less; when none is left a parked job is re-entered. A sleeping job
   * keeps sleeping (its timer is pending), a busy one simply does not stop. */
  private resumeJob(job: JobRecord): void {
    job.pauseCount--;
    if (job.pauseCount === 0 && job.run === 'parked') this.enterIdle(job, 'resume');
  }

  /**
   * job_enter on an idle (sleeping or parked) job. A parked job leaves its pause point and
   * returns to the status it paused from; a sleeping job forgets the rest of its sleep. Then:
   * a woken job with a pause pending parks; a hard-cancelled job that does not drain on exit
   * (everything but mirror and active commit) ends its run on the spot, so its whole teardown
   * precedes the reply; anything else goes back to the driver as an `enter` effect.
   */
  private enterIdle(job: JobRecord, reason: EnterReason): void {
    const wasParked = job.run === 'parked';
    job.run = 'busy';
    if (wasParked) {
      this.transition(job, job.parkedFrom);
    } else if (job.pauseCount > 0 && !job.forceCancel) {
      this.park(job);
      return;
    }
    if (job.forceCancel && !job.hasReadyPhase) {
      this.out.push({ type: 'halt', id: job.id });
      this.exitRun(job);
      this.completed(job);
      return;
    }
    // A woken coroutine runs at once, inside the command, up to its next real wait. Only the
    // mirror's way out (complete, cancel) waits on a drain, so what follows lands after the reply.
    const when = reason === 'cancel' || reason === 'complete' ? 'after-reply' : 'before-reply';
    this.out.push({ type: 'enter', id: job.id, reason, when });
  }

  /** The run returned: the coroutine is gone. A mirror drains its source on the way out. */
  private exitRun(job: JobRecord): void {
    job.run = 'exited';
    if (job.hasReadyPhase) {
      job.pauseCount++;
      job.holdsExitDrain = true;
    }
  }

  /** job_cancel_locked (the part after the verb check). */
  private cancelJob(job: JobRecord, force: boolean): void {
    if (job.status === 'concluded') {
      this.dismiss(job);
      return;
    }
    this.requestCancel(job, force);
    if (!job.started) {
      this.completed(job);
    } else if (job.run === 'exited') {
      // Finished running (waiting, pending): a hard cancel aborts the transaction right now.
      if (job.forceCancel) this.abortTransaction(job);
    } else if (job.run !== 'busy') {
      this.enterIdle(job, 'cancel');
    }
  }

  /** job_cancel_async: record the cancel; clear a user pause (and io-status). */
  private requestCancel(job: JobRecord, force: boolean): void {
    // Only mirror and active commit can stay soft, and only while ready/standby.
    const hard = force || !job.hasReadyPhase || !isReady(job.status);
    if (job.userPaused) {
      if (job.isBlockJob) job.ioStatus = 'ok';
      job.userPaused = false;
      job.pauseCount--;
    }
    // A soft cancel after the run already returned is ignored.
    if (hard || job.run !== 'exited') {
      job.cancelRequested = true;
      if (hard) job.forceCancel = true;
    }
  }

  /** job_update_rc: a hard-cancelled job that did not fail fails as `Operation canceled`; a
   * failed job moves to aborting (aborting → aborting is silent). */
  private updateResult(job: JobRecord): void {
    if (!job.failed && job.forceCancel) {
      job.failed = true;
      job.error ??= jobErrorText.canceled;
    }
    if (job.failed) {
      job.error ??= jobErrorText.canceled;
      this.transition(job, 'aborting');
    }
  }

  /** job_completed: the run is over; succeed or abort with the transaction. */
  private completed(job: JobRecord): void {
    this.updateResult(job);
    if (job.failed) this.abortTransaction(job);
    else this.succeedInTransaction(job);
  }

  /** job_completed_txn_success: wait for the others; when all are done, all go pending (newest
   * first) and, unless one needs a manual finalize, all are finalized. */
  private succeedInTransaction(job: JobRecord): void {
    this.transition(job, 'waiting');
    const txn = job.txn;
    if (txn === undefined) return;
    for (const member of txn.members) if (!isCompleted(member.status)) return;
    let manual = false;
    for (const member of txn.members) {
      this.transition(member, 'pending');
      if (!member.autoFinalize) {
        manual = true;
        if (member.isBlockJob) {
          this.out.push({
            type: 'event',
            event: 'BLOCK_JOB_PENDING',
            data: { type: member.type, id: member.id },
          });
        }
      }
    }
    if (!manual) this.finalizeTransaction(job);
  }

  /** job_do_finalize: finalize every member of the job's transaction, newest first. (Graph
   * changes in `prepare` never fail in this model, so the abort branch is not taken here.) */
  private finalizeTransaction(job: JobRecord): void {
    const txn = job.txn;
    if (txn === undefined) return;
    for (const member of [...txn.members]) this.finalizeOne(member);
  }

  /** job_finalize_single: the terminal block-job event, concluded, and null if auto-dismiss. */
  private finalizeOne(job: JobRecord): void {
    this.updateResult(job);
    if (job.holdsExitDrain) {
      // The mirror's exit drain ends in its prepare/abort.
      job.holdsExitDrain = false;
      job.pauseCount--;
    }
    this.out.push({ type: 'clean', id: job.id, failed: job.failed });
    if (job.started && job.isBlockJob) {
      const base = {
        type: job.type,
        device: job.id,
        len: job.total,
        offset: job.current,
        speed: job.speed,
      };
      if (job.forceCancel) {
        this.out.push({ type: 'event', event: 'BLOCK_JOB_CANCELLED', data: base });
      } else {
        this.out.push({
          type: 'event',
          event: 'BLOCK_JOB_COMPLETED',
          data: job.failed && job.error !== undefined ? { ...base, error: job.error } : base,
        });
      }
    }
    this.leaveTransaction(job);
    this.transition(job, 'concluded');
    if (job.autoDismiss || !job.started) this.dismiss(job);
  }

  /**
   * job_completed_txn_abort: every other member is hard-cancelled; then, newest first, each
   * member still running is brought to its end (aborting) and finalized.
   */
  private abortTransaction(job: JobRecord): void {
    const txn = job.txn;
    if (txn === undefined || txn.aborting) return;
    txn.aborting = true;
    for (const other of txn.members) if (other !== job) this.requestCancel(other, true);
    while (txn.members.length > 0) {
      const other = txn.members[0] as JobRecord;
      if (!isCompleted(other.status)) this.finishNow(other);
      this.finalizeOne(other);
    }
  }

  /**
   * job_finish_sync for a cancelled member: its run ends at once. A member that never started
   * is completed directly: QEMU 7.2 instead waits for it forever (seen on the binary: a grouped
   * `transaction` of two backups and an `abort` action emits j1 created, j2 created, j2
   * aborting, j2 concluded, j2 null, and then never replies).
   */
  private finishNow(job: JobRecord): void {
    if (job.started && job.run !== 'exited') {
      if (job.run === 'parked') this.transition(job, job.parkedFrom);
      this.out.push({ type: 'halt', id: job.id });
      this.exitRun(job);
    }
    this.completed(job);
  }

  private leaveTransaction(job: JobRecord): void {
    const txn = job.txn;
    if (txn === undefined) return;
    const at = txn.members.indexOf(job);
    if (at >= 0) txn.members.splice(at, 1);
    job.txn = undefined;
  }

  /** job_do_dismiss: → null, out of its transaction and out of the list; its ID is free. */
  private dismiss(job: JobRecord): void {
    if (job.run !== 'unstarted') job.run = 'exited';
    this.leaveTransaction(job);
    this.transition(job, 'null');
    this.jobs.delete(job.id);
  }
}

function blockJobNotFound(device: string): JobResult {
  return fail(jobErrorText.blockJobNotFound(device), 'DeviceNotActive');
}

function verbRefused(job: JobRecord, verb: JobVerb): JobResult {
  return fail(jobErrorText.verbRefused(job.id, job.status, verb));
}

function notRunning(job: JobRecord): JobResult {
  return fail(`Job '${job.id}' is not running (its coroutine is ${job.run})`);
}
