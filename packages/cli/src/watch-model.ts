/**
 * The state behind `qmpkit jobs watch`: every job's status, progress, speed and error, fed by
 * events (in wire order) and by `query-jobs` / `query-block-jobs` answers, producing one
 * `WatchRecord` per visible change. Time is injected; no I/O here.
 *
 * Ordering. QEMU writes the events a command raises before that command's reply, so a query's
 * answer is never older than the events read before it; but it can be older than events read
 * after the query was sent. A snapshot therefore does not overwrite the status (nor drop the job)
 * of a job that had an event after the snapshot's query was sent. Progress only moves forward
 * (`ProgressMeter`), so stale numbers cannot move it back.
 */
import { ProgressMeter } from '@qmpkit/client';
import { percentOf } from './render.js';

/**
 * One line of `jobs watch --json`: the whole visible state of one job after a change. Every
 * field is always present (null when unknown). Documented in the README.
 */
export interface WatchRecord {
  /** Milliseconds since the epoch when the change was seen. */
  time: number;
  id: string;
  /** JobType (`mirror`, `commit`, `stream`, `backup`, `create`, …); null until known. */
  type: string | null;
  /** QEMU's JobStatus; `"null"` once the job is gone (its last record). */
  status: string;
  /** Work done and QEMU's current estimate of the total (bytes for block jobs). */
  current: number;
  total: number;
  /** Done, in percent with one decimal; never decreases; null while the total is 0. */
  percent: number | null;
  /** Smoothed progress rate in bytes/s; null until measurable. */
  rate: number | null;
  /** Estimated seconds to go (0 when done); null while unknown or while the total is 0. */
  eta: number | null;
  /** Speed limit in bytes/s (0 = unlimited); null for jobs that are not block jobs or unknown. */
  speed: number | null;
  /** QEMU's error text for the job; null when none. */
  error: string | null;
}

/** The `query-jobs` fields the model reads. */
export interface WatchedJob {
  id: string;
  type: string;
  status: string;
  'current-progress': number | bigint;
  'total-progress': number | bigint;
  error?: string;
}

/** The `query-block-jobs` fields the model reads. */
export interface WatchedBlockJob {
  device: string;
  type: string;
  speed: number | bigint;
  error?: string;
}

interface JobState {
  id: string;
  type: string | null;
  status: string;
  meter: ProgressMeter;
  speed: number | null;
  error: string | null;
  /** Value of the model's event counter at this job's last event. */
  lastEvent: number;
  last: WatchRecord | undefined;
}

function num(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  return undefined;
}

/** The job model; see the module comment. */
export class WatchModel {
  private readonly jobs = new Map<string, JobState>();
  private events = 0;
  /** At most this many jobs are tracked (QEMU has no limit; a terminal has). */
  private readonly maxJobs: number;

  constructor(options: { maxJobs?: number } = {}) {
    this.maxJobs = options.maxJobs ?? 10_000;
  }

  /** Types known in advance (a job this program is about to create), by job id. */
  private readonly expectedTypes = new Map<string, string>();

  /** Tells the type of a job about to be created, so that its first records carry it. */
  expectJob(id: string, type: string): void {
    if (this.expectedTypes.size < 1024) this.expectedTypes.set(id, type);
  }

  /** A mark to pass to `snapshot()`: take it just before sending the queries. */
  mark(): number {
    return this.events;
  }

  /** Jobs currently known (in order of first sight). */
  records(): WatchRecord[] {
    return [...this.jobs.values()].map((job) => job.last ?? this.record(job, 0));
  }

  /** True when no known job is active (none, or only concluded ones awaiting dismissal). */
  idle(): boolean {
    for (const job of this.jobs.values()) if (job.status !== 'concluded') return false;
    return true;
  }

  /** True once any job has been seen. */
  get sawJobs(): boolean {
    return this.seen;
  }
  private seen = false;

  /** An event (any name); returns the records it changed. */
  event(name: string, data: unknown, now: number): WatchRecord[] {
    const d = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>;
    this.events++;
    if (name === 'JOB_STATUS_CHANGE') {
      if (typeof d.id !== 'string' || typeof d.status !== 'string') return [];
      const job = this.job(d.id);
      if (job === undefined) return [];
      job.lastEvent = this.events;
      job.status = d.status;
      return this.changed(job, now, d.status === 'null');
    }
    const id = name === 'BLOCK_JOB_PENDING' ? d.id : d.device;
    if (typeof id !== 'string') return [];
    const job = this.jobs.get(id);
    if (job === undefined) return [];
    if (typeof d.type === 'string') job.type = d.type;
    const speed = num(d.speed);
    if (speed !== undefined) job.speed = speed;
    if (name === 'BLOCK_JOB_COMPLETED' && typeof d.error === 'string') job.error = d.error;
    const offset = num(d.offset);
    const len = num(d.len);
    if (offset !== undefined && len !== undefined) job.meter.update(offset, len, now);
    return this.changed(job, now, false);
  }

  /**
   * The answers of `query-jobs` and `query-block-jobs` (sent after `mark` was taken); returns
   * the records they changed, including a last `"null"` record for a job that disappeared.
   */
  snapshot(
    jobs: readonly WatchedJob[],
    blockJobs: readonly WatchedBlockJob[] | undefined,
    mark: number,
    now: number,
  ): WatchRecord[] {
    const out: WatchRecord[] = [];
    const listed = new Set<string>();
    const blocks = new Map<string, WatchedBlockJob>();
    for (const block of blockJobs ?? []) blocks.set(block.device, block);
    for (const info of jobs) {
      listed.add(info.id);
      const known = this.jobs.get(info.id);
      if (known === undefined && (this.recentlyRemoved.get(info.id) ?? -1) > mark) {
        continue; // it reached null after the query was sent
      }
      const job = known ?? this.job(info.id);
      if (job === undefined) continue;
      job.type = info.type;
      if (job.lastEvent <= mark) job.status = info.status;
      job.meter.update(info['current-progress'], info['total-progress'], now);
      if (typeof info.error === 'string') job.error = info.error;
      const block = blocks.get(info.id);
      if (block !== undefined) {
        const speed = num(block.speed);
        if (speed !== undefined) job.speed = speed;
      }
      out.push(...this.changed(job, now, false));
    }
    for (const job of [...this.jobs.values()]) {
      if (listed.has(job.id) || job.lastEvent > mark) continue;
      job.status = 'null';
      out.push(...this.changed(job, now, true));
    }
    return out;
  }

  /** Ids that reached `null` lately, so that a stale snapshot does not bring them back. */
  private readonly recentlyRemoved = new Map<string, number>();

  private job(id: string): JobState | undefined {
    let job = this.jobs.get(id);
    if (job === undefined) {
      if (this.jobs.size >= this.maxJobs) return undefined;
      job = {
        id,
        type: this.expectedTypes.get(id) ?? null,
        status: 'undefined',
        meter: new ProgressMeter(),
        speed: null,
        error: null,
        lastEvent: 0,
        last: undefined,
      };
      this.jobs.set(id, job);
      this.recentlyRemoved.delete(id);
      this.seen = true;
    }
    return job;
  }

  private changed(job: JobState, now: number, remove: boolean): WatchRecord[] {
    const record = this.record(job, now);
    const last = job.last;
    job.last = record;
    if (remove) {
      this.jobs.delete(job.id);
      this.recentlyRemoved.set(job.id, this.events);
      if (this.recentlyRemoved.size > 1024) {
        const oldest = this.recentlyRemoved.keys().next().value;
        if (oldest !== undefined) this.recentlyRemoved.delete(oldest);
      }
    }
    if (last !== undefined && sameVisible(last, record)) return [];
    return [record];
  }

  private record(job: JobState, now: number): WatchRecord {
    const p = job.meter.latest;
    return {
      time: now,
      id: job.id,
      type: job.type,
      status: job.status,
      current: p.current,
      total: p.total,
      percent: p.total > 0 ? percentOf(p.fraction) : null,
      rate: p.rate === undefined ? null : Math.round(p.rate),
      eta: p.etaMs === undefined || p.total === 0 ? null : Math.ceil(p.etaMs / 1000),
      speed: job.speed,
      error: job.error,
    };
  }
}

function sameVisible(a: WatchRecord, b: WatchRecord): boolean {
  return (
    a.type === b.type &&
    a.status === b.status &&
    a.current === b.current &&
    a.total === b.total &&
    a.percent === b.percent &&
    a.speed === b.speed &&
    a.error === b.error
  );
}
