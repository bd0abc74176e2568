/**
 * Job reconciliation: the jobs a client knows of and their last status, kept from
 * `JOB_STATUS_CHANGE` events, and compared with `query-jobs` after a reconnect to find the
 * changes the client missed while it was disconnected. Built on the client's public listener and
 * connect hook only.
 */
import type { QmpEvent } from '@qmpkit/protocol';
import type { JobInfo, JobStatus } from '@qmpkit/qapi-types/7.2';
import type { JobClient } from './job-client.js';
import type { ConnectInfo } from './types.js';

/** A job status change the client did not see because it was disconnected. */
export interface MissedJobTransition {
  id: string;
  /** The last status the client saw; undefined for a job it did not know. */
  from: JobStatus | undefined;
  /** The status `query-jobs` shows now, or `'vanished'` when the job is gone. */
  to: JobStatus | 'vanished';
}

/** What the client found after reconnecting. */
export interface ReconcileReport {
  /** Why the previous connection ended. */
  cause: Error | undefined;
  /** Connection attempts it took. */
  attempts: number;
  /** The jobs `query-jobs` listed after reconnecting. */
  jobs: readonly JobInfo[];
  /** Changes against the jobs the client was tracking. */
  missed: readonly MissedJobTransition[];
}

export interface JobTrackerOptions {
  /** Bound of the table of tracked jobs (id → last status); default 4096. */
  maxTrackedJobs?: number;
  /** Time allowed for the `query-jobs` of seeding and reconciling; default 10000 ms. */
  queryTimeoutMs?: number;
  /** Called after each reconnect with what was reconciled (after the tracker's listeners). */
  onReconcile?: (report: ReconcileReport) => void;
}

/** Tracks a client's jobs; seeds and reconciles with `query-jobs` when the client reconnects. */
export class JobTracker {
  readonly #client: JobClient;
  readonly #options: JobTrackerOptions;
  readonly #tracked = new Map<string, JobStatus>();
  readonly #listeners = new Set<(jobs: readonly JobInfo[]) => void>();

  constructor(client: JobClient, options: JobTrackerOptions = {}) {
    this.#client = client;
    this.#options = options;
    client.subscribe({
      names: new Set(['JOB_STATUS_CHANGE']),
      deliver: (event) => this.#track(event),
      end: () => {},
    });
    client.onConnect((info) => this.#connected(info));
  }

  /** The jobs known and their last status, in order of last change (a job leaves at `null`). */
  get jobs(): ReadonlyMap<string, JobStatus> {
    return this.#tracked;
  }

  /** Calls `listener` with the `query-jobs` answer after each reconciliation. */
  onReconcile(listener: (jobs: readonly JobInfo[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #track(event: QmpEvent): void {
    const data = event.data as { id?: unknown; status?: unknown } | undefined;
    if (typeof data?.id !== 'string' || typeof data.status !== 'string') return;
    this.#tracked.delete(data.id); // re-insert: the table is in order of last change
    if (data.status === 'null') return;
    this.#tracked.set(data.id, data.status as JobStatus);
    const limit = this.#options.maxTrackedJobs ?? 4096;
    while (this.#tracked.size > limit) {
      const oldest = this.#tracked.keys().next().value;
      if (oldest === undefined) break;
      this.#tracked.delete(oldest);
    }
  }

  async #connected(info: ConnectInfo): Promise<void> {
    // Only a client that reconnects needs to know what it missed.
    if (!info.reconnects) return;
    const jobs = await this.#client.execute(
      'query-jobs',
      {},
      { timeoutMs: this.#options.queryTimeoutMs ?? 10_000 },
    );
    if (!info.reconnected) {
      for (const job of jobs) {
        if (!this.#tracked.has(job.id)) this.#tracked.set(job.id, job.status);
      }
      return;
    }
    const report = this.#reconcile(jobs, info);
    for (const listener of [...this.#listeners]) listener(report.jobs);
    this.#options.onReconcile?.(report);
  }

  /** Compares `query-jobs` with the tracked jobs and updates the table. */
  #reconcile(jobs: readonly JobInfo[], info: ConnectInfo): ReconcileReport {
    const missed: MissedJobTransition[] = [];
    const seen = new Set<string>();
    for (const job of jobs) {
      seen.add(job.id);
      const from = this.#tracked.get(job.id);
      if (from !== job.status) missed.push({ id: job.id, from, to: job.status });
      this.#tracked.delete(job.id);
      this.#tracked.set(job.id, job.status);
    }
    for (const [id, from] of [...this.#tracked]) {
      if (seen.has(id)) continue;
      missed.push({ id, from, to: 'vanished' });
      this.#tracked.delete(id);
    }
    return { cause: info.cause, attempts: info.attempts, jobs, missed };
  }
}
