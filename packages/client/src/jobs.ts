/**
 * Job helpers: `runJob`, `runTransaction`, `waitForJob`.
 *
 * Race-free by construction: a job's driver registers its event listener before the creating
 * command is sent, so it sees `created`, `running` and whatever else QEMU writes before the
 * reply (a zero-length job can finish entirely before it; reference job-semantics §6.9).
 *
 * The driver follows QEMU 7.2's sequences (job-semantics §5–§6): on `ready` it completes or
 * cancels as asked; on `pending` with auto-finalize off it runs the `beforeFinalize` hook, then
 * `job-finalize`; on `concluded` with auto-dismiss off it reads the job's `error` from
 * `query-jobs` (the only place a `create` job's failure is reported), then `job-dismiss`. The
 * outcome comes from `BLOCK_JOB_COMPLETED` (with or without `error`) / `BLOCK_JOB_CANCELLED` for
 * block jobs, and from `query-jobs` for the others.
 */
import {
  ExecInterruptedError,
  ExecuteError,
  type QmpEvent,
  StateError,
  TimeoutError,
} from '@qmpkit/protocol';
import type { JobInfo, JobStatus } from '@qmpkit/qapi-types/7.2';
import { EventOverflowError, JobLostError } from './errors.js';
import type { ClientListener } from './event-stream.js';
import type { JobClient } from './job-client.js';
import { JOB_EVENT_NAMES, jobIdOfEvent } from './job-ids.js';
import type { JobTracker } from './job-tracker.js';
import { type JobProgress, ProgressMeter } from './progress.js';
import { AsyncQueue } from './queue.js';
import type { CommandName } from './types.js';

/** The commands that create one job (QEMU 7.2, qemu-storage-daemon schema). */
export type JobStartCommand = Extract<
  CommandName,
  | 'block-stream'
  | 'block-commit'
  | 'drive-mirror'
  | 'blockdev-mirror'
  | 'drive-backup'
  | 'blockdev-backup'
  | 'blockdev-create'
  | 'x-blockdev-amend'
>;

/** Commands whose jobs are not block jobs: no BLOCK_JOB_* events, auto-dismiss always off. */
const NON_BLOCK_JOB_COMMANDS: ReadonlySet<string> = new Set([
  'blockdev-create',
  'x-blockdev-amend',
  'snapshot-save',
  'snapshot-load',
  'snapshot-delete',
]);

/** What to do when a job becomes ready (mirror, active commit). */
export type ReadyAction =
  /** `job-complete`: pivot to the target; outcome `completed`. */
  | 'complete'
  /** `job-cancel` (hard cancel); outcome `cancelled`. */
  | 'cancel'
  /**
   * `block-job-cancel` without force: QEMU finishes the mirror successfully without pivoting
   * (`BLOCK_JOB_COMPLETED` without error), so the outcome is `completed`.
   */
  | 'soft-cancel';

/** What a hook is told about the job. */
export interface JobView {
  readonly id: string;
  /** The last status seen. */
  readonly status: JobStatus | undefined;
}

/** Options of `runJob` / `runTransaction`. */
export interface RunJobOptions {
  /**
   * The job id (runJob only). Default: the `job-id` argument, else `device` (QEMU's default id
   * is the drive name, job-semantics §5.3).
   */
  jobId?: string;
  /** On `ready`: an action, or a function choosing one. Default `'complete'`. */
  onReady?: ReadyAction | ((job: JobView) => ReadyAction | Promise<ReadyAction>);
  /** Runs when the job is `pending` and auto-finalize is off, before `job-finalize`. */
  beforeFinalize?: (job: JobView) => void | Promise<void>;
  /** Dismiss a concluded job whose auto-dismiss is off, after reading its result; default true. */
  dismiss?: boolean;
  /** Progress reports (monotonic; see `ProgressMeter`). Turns on `query-jobs` polling. */
  onProgress?: (progress: JobProgress, job: JobView) => void;
  /** Polling period of `query-jobs` for `onProgress`; default 1000 ms. */
  progressIntervalMs?: number;
  /** Every status change of the job, as seen. */
  onStatus?: (status: JobStatus, job: JobView) => void;
  /** Aborting cancels the job (`job-cancel`); the outcome is then `cancelled`. */
  signal?: AbortSignal;
}

/** How a job ended. */
export interface JobOutcome {
  id: string;
  status: 'completed' | 'cancelled' | 'failed';
  /** QEMU's error text (a failure's message, or `Operation canceled` from `query-jobs`). */
  error?: string;
  /** What was done when the job was ready, if it was. */
  readyAction?: ReadyAction;
  /** Final progress. */
  progress: JobProgress;
  /**
   * Every status seen, in order (including statuses learned from `query-jobs` after a
   * reconnect); the most recent 1024.
   */
  statuses: JobStatus[];
  /** `BLOCK_JOB_ERROR` events seen (each failed I/O). */
  ioErrors: number;
}

/** Options of `waitForJob`. */
export interface WaitForJobOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** One job a command is expected to create. */
interface JobSpec {
  id: string;
  autoFinalize: boolean;
  autoDismiss: boolean;
}

type DriverItem =
  | { kind: 'event'; event: QmpEvent }
  | { kind: 'reconnected'; jobs: readonly JobInfo[] }
  | { kind: 'abort' }
  | { kind: 'end'; cause: Error | undefined };

/** The outcome keeps at most this many statuses (the most recent ones). */
const MAX_STATUS_HISTORY = 1024;

/** A job's events are few; anything beyond this means the driver is stuck. */
const MAX_DRIVER_BACKLOG = 65_536;

const JOB_EVENT_SET: ReadonlySet<string> = new Set(JOB_EVENT_NAMES);

function flag(value: unknown, fallback: boolean): boolean {
  return typeof value === 'boolean' ? value : fallback;
}

function specFor(command: string, args: Record<string, unknown>, jobId: string | undefined) {
  const id =
    jobId ??
    (typeof args['job-id'] === 'string' ? args['job-id'] : undefined) ??
    (typeof args.device === 'string' ? args.device : undefined);
  if (id === undefined) {
    throw new TypeError(`runJob(${command}): cannot tell the job id (pass job-id or jobId)`);
  }
  const nonBlock = NON_BLOCK_JOB_COMMANDS.has(command);
  return {
    id,
    autoFinalize: nonBlock ? true : flag(args['auto-finalize'], true),
    autoDismiss: nonBlock ? false : flag(args['auto-dismiss'], true),
  };
}

function specsOfTransaction(args: Record<string, unknown>): JobSpec[] {
  const actions = Array.isArray(args.actions) ? args.actions : [];
  const specs: JobSpec[] = [];
  for (const action of actions as Array<{ type?: unknown; data?: Record<string, unknown> }>) {
    const data = action.data;
    if (typeof data?.['job-id'] !== 'string') continue;
    specs.push(specFor(String(action.type), data, undefined));
  }
  return specs;
}

/** Creates the drivers, sends the command, and waits for every job to end. */
export async function runJobs(
  client: JobClient,
  tracker: JobTracker,
  command: string,
  args: unknown,
  options: RunJobOptions,
): Promise<JobOutcome[]> {
  const record = (args ?? {}) as Record<string, unknown>;
  const specs =
    command === 'transaction'
      ? specsOfTransaction(record)
      : [specFor(command, record, options.jobId)];
  const drivers = specs.map((spec) => new JobDriver(client, tracker, spec, options));
  const results = drivers.map((driver) => driver.run());
  // Whatever happens below, a driver's rejection must not go unhandled.
  for (const result of results) result.catch(() => {});
  try {
    await client.executeUntyped(command, record);
  } catch (error) {
    for (const driver of drivers) driver.stop();
    throw error;
  }
  return Promise.all(results);
}

class JobDriver implements ClientListener {
  readonly names = JOB_EVENT_SET;
  private readonly queue = new AsyncQueue<DriverItem>();
  private readonly meter = new ProgressMeter();
  private status: JobStatus | undefined;
  private readonly statuses: JobStatus[] = [];
  /** `JOB_STATUS_CHANGE` events of this job received, and handled so far. */
  private statusEvents = 0;
  private statusHandled = 0;
  private readyAction: ReadyAction | undefined;
  private readyHandled = false;
  private finalizeSent = false;
  private cancelRequested = false;
  private sawAborting = false;
  private blockResult: { status: 'completed' | 'cancelled' | 'failed'; error?: string } | undefined;
  private queried: { error: string | undefined } | undefined;
  private ioErrors = 0;
  private stopped = false;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private readonly onAbort: (() => void) | undefined;
  private readonly unsubscribe: () => void;
  private readonly stopReconcile: () => void;

  constructor(
    private readonly client: JobClient,
    tracker: JobTracker,
    private readonly spec: JobSpec,
    private readonly options: RunJobOptions,
  ) {
    this.unsubscribe = client.subscribe(this);
    this.stopReconcile = tracker.onReconcile((jobs) => this.reconciled(jobs));
    const signal = options.signal;
    if (signal !== undefined) {
      this.onAbort = () => this.queue.push({ kind: 'abort' });
      if (signal.aborted) this.onAbort();
      else signal.addEventListener('abort', this.onAbort, { once: true });
    }
    if (options.onProgress !== undefined) {
      const period = options.progressIntervalMs ?? 1000;
      this.pollTimer = setInterval(() => this.poll(), period);
    }
  }

  private get view(): JobView {
    return { id: this.spec.id, status: this.status };
  }

  // ClientListener ----------------------------------------------------------------------------------

  deliver(event: QmpEvent): void {
    if (jobIdOfEvent(event) !== this.spec.id) return;
    if (event.event === 'JOB_STATUS_CHANGE') this.statusEvents++;
    this.enqueue({ kind: 'event', event });
  }

  end(cause: Error | undefined): void {
    this.enqueue({ kind: 'end', cause });
  }

  private reconciled(jobs: readonly JobInfo[]): void {
    this.enqueue({ kind: 'reconnected', jobs });
  }

  private enqueue(item: DriverItem): void {
    if (this.queue.size >= MAX_DRIVER_BACKLOG) {
      this.queue.fail(
        new EventOverflowError(
          `job ${this.spec.id}: more than ${MAX_DRIVER_BACKLOG} events behind`,
          {
            limit: MAX_DRIVER_BACKLOG,
          },
        ),
      );
      return;
    }
    this.queue.push(item);
  }

  // ---------------------------------------------------------------------------------------------

  /** Ends the driver without an outcome (the creating command failed). */
  stop(): void {
    this.stopped = true;
    this.cleanup();
    this.queue.end();
  }

  async run(): Promise<JobOutcome> {
    try {
      for (;;) {
        const next = await this.queue.take();
        if (next.done) {
          throw new StateError(`job ${this.spec.id}: the driver was stopped`, { state: 'stopped' });
        }
        const outcome = await this.handle(next.value);
        if (outcome !== undefined) return outcome;
      }
    } finally {
      this.cleanup();
    }
  }

  private cleanup(): void {
    this.unsubscribe();
    this.stopReconcile();
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    if (this.onAbort !== undefined) this.options.signal?.removeEventListener('abort', this.onAbort);
  }

  private async handle(item: DriverItem): Promise<JobOutcome | undefined> {
    switch (item.kind) {
      case 'event':
        return this.onEvent(item.event);
      case 'abort':
        if (this.status !== 'aborting' && this.status !== 'concluded' && this.status !== 'null') {
          this.cancelRequested = true;
          await this.command('job-cancel', { id: this.spec.id });
        }
        return undefined;
      case 'reconnected': {
        const info = item.jobs.find((job) => job.id === this.spec.id);
        if (info === undefined) {
          if (this.status === 'null' || this.blockResult !== undefined) return this.outcome();
          throw new JobLostError(
            `job ${this.spec.id} vanished while the client was disconnected (last seen ${this.status ?? 'never'}); its outcome is unknown`,
            {
              jobId: this.spec.id,
              ...(this.status === undefined ? {} : { lastStatus: this.status }),
            },
          );
        }
        this.progress(info['current-progress'], info['total-progress']);
        if (info.status !== this.status) return this.onStatus(info.status);
        // Same status as before the disconnect: the verb sent for it may have been lost with
        // the connection, so act again (repeating job-complete, job-finalize or job-dismiss is
        // harmless: a refusal caused by an earlier success is followed by status changes).
        return this.act(info.status, true);
      }
      case 'end':
        if (this.stopped) return undefined;
        if (item.cause === undefined) {
          throw new StateError(`job ${this.spec.id}: the client was closed`, { state: 'closed' });
        }
        throw new ExecInterruptedError(
          `job ${this.spec.id}: the connection ended while the job was being driven`,
          { cause: item.cause },
        );
    }
  }

  private async onEvent(event: QmpEvent): Promise<JobOutcome | undefined> {
    const data = (event.data ?? {}) as Record<string, unknown>;
    switch (event.event) {
      case 'JOB_STATUS_CHANGE':
        this.statusHandled++;
        return this.onStatus(data.status as JobStatus);
      case 'BLOCK_JOB_READY':
        this.progress(data.offset, data.len);
        return undefined;
      case 'BLOCK_JOB_COMPLETED':
        this.progress(data.offset, data.len);
        this.blockResult =
          typeof data.error === 'string'
            ? { status: 'failed', error: data.error }
            : { status: 'completed' };
        return undefined;
      case 'BLOCK_JOB_CANCELLED':
        this.progress(data.offset, data.len);
        this.blockResult = { status: 'cancelled' };
        return undefined;
      case 'BLOCK_JOB_ERROR':
        this.ioErrors++;
        return undefined;
      default:
        return undefined;
    }
  }

  private async onStatus(status: JobStatus): Promise<JobOutcome | undefined> {
    this.status = status;
    if (this.statuses.length >= MAX_STATUS_HISTORY) this.statuses.shift();
    this.statuses.push(status);
    this.options.onStatus?.(status, this.view);
    return this.act(status, false);
  }

  /** What the driver does in `status`; `again` after a reconnect found the job unchanged. */
  private async act(status: JobStatus, again: boolean): Promise<JobOutcome | undefined> {
    switch (status) {
      case 'ready':
        if (!this.readyHandled) {
          this.readyHandled = true;
          await this.onReady();
        } else if (again && this.readyAction !== undefined) {
          await this.sendReadyAction(this.readyAction);
        }
        return undefined;
      case 'pending':
        if (this.spec.autoFinalize) return undefined;
        if (!this.finalizeSent) {
          this.finalizeSent = true;
          await this.options.beforeFinalize?.(this.view);
          await this.command('job-finalize', { id: this.spec.id });
        } else if (again) {
          await this.command('job-finalize', { id: this.spec.id });
        }
        return undefined;
      case 'aborting':
        this.sawAborting = true;
        return undefined;
      case 'concluded':
        if (this.spec.autoDismiss) return undefined; // `null` follows at once
        await this.readResult();
        if (this.options.dismiss === false) return this.outcome();
        await this.command('job-dismiss', { id: this.spec.id });
        return undefined;
      case 'null':
        return this.outcome();
      default:
        return undefined;
    }
  }

  private async onReady(): Promise<void> {
    const choice = this.options.onReady ?? 'complete';
    const action = typeof choice === 'function' ? await choice(this.view) : choice;
    this.readyAction = action;
    await this.sendReadyAction(action);
  }

  private async sendReadyAction(action: ReadyAction): Promise<void> {
    if (action === 'complete') {
      await this.command('job-complete', { id: this.spec.id });
    } else if (action === 'cancel') {
      this.cancelRequested = true;
      await this.command('job-cancel', { id: this.spec.id });
    } else {
      this.cancelRequested = true;
      await this.command('block-job-cancel', { device: this.spec.id });
    }
  }

  /** Reads the concluded job's `error` (and progress) from `query-jobs`. */
  private async readResult(): Promise<void> {
    let jobs: JobInfo[];
    try {
      jobs = await this.client.execute('query-jobs');
    } catch (error) {
      if (ExecInterruptedError.isInstance(error) || StateError.isInstance(error)) return;
      throw error;
    }
    const info = jobs.find((job) => job.id === this.spec.id);
    if (info === undefined) return;
    this.progress(info['current-progress'], info['total-progress']);
    this.queried = { error: info.error };
  }

  /**
   * Sends a job verb. A refusal is ignored when the job has status changes this driver has not
   * handled yet (QEMU writes a command's events before its reply, so they are already queued:
   * e.g. a grouped transaction finalized by a sibling's `job-finalize`, or a job that finished
   * on its own); otherwise it fails the run. A lost connection is left to the reconnect logic.
   */
  private async command(name: string, args: Record<string, unknown>): Promise<void> {
    try {
      await this.client.executeUntyped(name, args);
    } catch (error) {
      if (ExecInterruptedError.isInstance(error) || StateError.isInstance(error)) return;
      if (ExecuteError.isInstance(error) && this.statusEvents > this.statusHandled) return;
      throw error;
    }
  }

  private poll(): void {
    if (this.client.state !== 'connected') return;
    this.client.execute('query-jobs').then(
      (jobs) => {
        const info = jobs.find((job) => job.id === this.spec.id);
        if (info !== undefined) this.progress(info['current-progress'], info['total-progress']);
      },
      () => {},
    );
  }

  private progress(current: unknown, total: unknown): void {
    if (
      (typeof current !== 'number' && typeof current !== 'bigint') ||
      (typeof total !== 'number' && typeof total !== 'bigint')
    ) {
      return;
    }
    const report = this.meter.update(current, total, Date.now());
    if (report !== undefined) this.options.onProgress?.(report, this.view);
  }

  private outcome(): JobOutcome {
    let status: JobOutcome['status'];
    let error: string | undefined;
    if (this.blockResult !== undefined) {
      status = this.blockResult.status;
      error = this.blockResult.error ?? this.queried?.error;
    } else if (this.queried !== undefined) {
      error = this.queried.error;
      status = error === undefined ? 'completed' : this.cancelRequested ? 'cancelled' : 'failed';
    } else {
      status = this.sawAborting ? (this.cancelRequested ? 'cancelled' : 'failed') : 'completed';
    }
    return {
      id: this.spec.id,
      status,
      ...(error === undefined ? {} : { error }),
      ...(this.readyAction === undefined ? {} : { readyAction: this.readyAction }),
      progress: this.meter.latest,
      statuses: [...this.statuses],
      ioErrors: this.ioErrors,
    };
  }
}

/** See `QmpClient.waitForJob`. */
export function waitForJob(
  client: JobClient,
  tracker: JobTracker,
  id: string,
  statuses: readonly JobStatus[],
  options: WaitForJobOptions,
): Promise<JobStatus> {
  const wanted = new Set<string>(statuses);
  return new Promise<JobStatus>((resolve, reject) => {
    let settled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (error: unknown, status?: JobStatus) => {
      if (settled) return;
      settled = true;
      unsubscribe();
      stopReconcile();
      if (timer !== undefined) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (status !== undefined) resolve(status);
      else reject(error);
    };
    let unsubscribe = () => {};
    let stopReconcile = () => {};
    const sink: ClientListener = {
      names: new Set(['JOB_STATUS_CHANGE']),
      deliver(event) {
        const data = event.data as { id?: unknown; status?: unknown } | undefined;
        if (data?.id === id && typeof data.status === 'string' && wanted.has(data.status)) {
          finish(undefined, data.status as JobStatus);
        }
      },
      end(cause) {
        finish(
          cause === undefined
            ? new StateError(`the client closed while waiting for job ${id}`, { state: 'closed' })
            : new ExecInterruptedError(`the connection ended while waiting for job ${id}`, {
                cause,
              }),
        );
      },
    };
    const reconciled = (jobs: readonly JobInfo[]) => {
      const info = jobs.find((job) => job.id === id);
      if (info !== undefined && wanted.has(info.status)) finish(undefined, info.status);
      else if (info === undefined && wanted.has('null')) finish(undefined, 'null');
    };
    const onAbort = () => finish(options.signal?.reason);
    if (options.signal?.aborted) {
      finish(options.signal.reason);
      return;
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.timeoutMs !== undefined) {
      const timeoutMs = options.timeoutMs;
      timer = setTimeout(
        () =>
          finish(
            new TimeoutError(
              `job ${id} did not reach ${statuses.join('/')} within ${timeoutMs} ms`,
              {
                timeoutMs,
              },
            ),
          ),
        timeoutMs,
      );
    }
    unsubscribe = client.subscribe(sink);
    stopReconcile = tracker.onReconcile(reconciled);
    if (settled) {
      unsubscribe();
      stopReconcile();
      return;
    }
    // The job may already be there: ask. Events decoded meanwhile are seen by the sink.
    client.execute('query-jobs').then(
      (jobs) => {
        const info = jobs.find((job) => job.id === id);
        if (info !== undefined && wanted.has(info.status)) finish(undefined, info.status);
        else if (info === undefined && wanted.has('null')) finish(undefined, 'null');
      },
      (error: unknown) => finish(error),
    );
  });
}
