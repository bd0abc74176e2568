/**
 * The job timeline: everything a person wants to see of each job after the fact — its status
 * intervals, speed changes, progress samples, rate and ETA, I/O errors with QEMU's chosen action,
 * its outcome, and whether it stalled.
 *
 * Pure: fed with events and query answers, with the time of each passed in (any millisecond
 * clock; epoch milliseconds if the OpenTelemetry export should carry real times). No timers, no
 * I/O, no `Date.now`.
 *
 * Ordering. QEMU writes the events a command raised before its reply, so a query's answer is
 * never older than the events read before it — but it can be older than events read after the
 * query was sent. A snapshot therefore never overrides the status of a job that had an event
 * after the snapshot's `mark()`, and never brings back a job that ended after it (the same rule as
 * `jobs watch`).
 *
 * Honest rate and ETA. `current` only grows; `total` is QEMU's estimate and grows when the guest
 * writes behind a mirror (in READY, under load, the total keeps running away). The rate is the
 * growth of `current` over a sliding window; the ETA divides what remains (`total - current`) by
 * the rate at which *what remains* shrinks over that window — so a mirror whose total grows as
 * fast as it copies has no ETA (it is not converging) instead of a falsely short one.
 */
import type { JobStatus } from '@qmpkit/qapi-types/7.2';

/** One stretch of time a job spent in one status. `end` is undefined for the current one. */
export interface StatusInterval {
  status: JobStatus;
  start: number;
  end: number | undefined;
}

/** A progress reading (`current-progress`/`offset`, `total-progress`/`len`). */
export interface ProgressSample {
  time: number;
  current: number;
  total: number;
}

/** A speed limit seen for the job (bytes/s, 0 = unlimited). */
export interface SpeedChange {
  time: number;
  speed: number;
}

/**
 * An error of the job: `io` for a `BLOCK_JOB_ERROR` (with QEMU's `operation` and the `action` it
 * took: `report` ends the job, `stop` pauses it, `ignore` goes on), `failed` for the job's final
 * error text (from `BLOCK_JOB_COMPLETED` or `query-jobs`).
 */
export interface JobErrorEntry {
  time: number;
  kind: 'io' | 'failed';
  operation?: 'read' | 'write';
  action?: 'ignore' | 'report' | 'stop';
  message?: string;
}

/** How a job ended, as far as its events and queries tell. */
export type TimelineOutcome = 'completed' | 'cancelled' | 'failed';

/** A read-only view of one job's timeline at a given time. */
export interface JobTimeline {
  /** Unique per job run in this timeline (an id reused after `null` is a new run). */
  seq: number;
  id: string;
  /** QEMU's job type; null until an event or query tells. */
  type: string | null;
  /** The current status; `'null'` once the job is gone. */
  status: JobStatus;
  firstSeen: number;
  lastChange: number;
  /** When it reached `null` (was dismissed); null while it exists. */
  ended: number | null;
  intervals: readonly StatusInterval[];
  samples: readonly ProgressSample[];
  speeds: readonly SpeedChange[];
  errors: readonly JobErrorEntry[];
  /** Entries dropped to keep the lists bounded (oldest intervals/speeds/errors). */
  dropped: number;
  current: number;
  /** QEMU's estimate of the total, never below `current`. */
  total: number;
  /** Done fraction in [0, 1] for a progress bar; never decreases (holds while `total` grows). */
  fraction: number;
  /** Bytes per second over the rate window; null until two samples are apart in time. */
  rate: number | null;
  /** Milliseconds to go at the current convergence rate; 0 when nothing remains; null if unknown or not converging. */
  etaMs: number | null;
  /** The latest speed limit (bytes/s, 0 = unlimited); null if unknown (not a block job). */
  speed: number | null;
  /** Running, yet no progress for `stallAfterMs` (paused, ready and other statuses never stall). */
  stalled: boolean;
  /** Since when it has made no progress while running; null when not stalled. */
  stalledSince: number | null;
  outcome: TimelineOutcome | null;
  /** QEMU's error text for a failed job. */
  error: string | null;
}

/** Options of a `JobTimelineModel`. */
export interface TimelineOptions {
  /** A running job without progress for this long is flagged stalled (default 10 000 ms). */
  stallAfterMs?: number;
  /** The window rate and ETA are measured over (default 5 000 ms). */
  rateWindowMs?: number;
  /** Runs kept; past it the oldest ended run is forgotten (default 1 000). */
  maxJobs?: number;
  /** Progress samples kept per job; past it, every other old sample is dropped (default 512). */
  maxSamples?: number;
  /** Intervals, speed changes and errors kept per job, each (default 256). */
  maxEntries?: number;
}

/** The `query-jobs` members the timeline reads. */
export interface TimelineJobInfo {
  id: string;
  type: string;
  status: JobStatus;
  'current-progress': number | bigint;
  'total-progress': number | bigint;
  error?: string;
}

/** The `query-block-jobs` members the timeline reads. */
export interface TimelineBlockJobInfo {
  device: string;
  type?: string;
  speed?: number | bigint;
  offset?: number | bigint;
  len?: number | bigint;
}

interface Run {
  seq: number;
  id: string;
  type: string | null;
  status: JobStatus;
  firstSeen: number;
  lastChange: number;
  ended: number | null;
  intervals: StatusInterval[];
  samples: ProgressSample[];
  /** Raw recent samples for the rate (not decimated). */
  window: ProgressSample[];
  speeds: SpeedChange[];
  errors: JobErrorEntry[];
  dropped: number;
  current: number;
  total: number;
  fraction: number;
  speed: number | null;
  outcome: TimelineOutcome | null;
  error: string | null;
  sawAborting: boolean;
  /** When `current` last grew, or the job last entered `running`. */
  progressAt: number;
  /** The model's event counter at the job's last event, and at its end. */
  lastEvent: number;
  endedEvent: number;
  /** Last stall flag reported by `tick`. */
  stallReported: boolean;
  /** Ended because a query answer no longer listed it (its `null` event not yet seen). */
  endedBySnapshot: boolean;
  /** The outcome came from BLOCK_JOB_COMPLETED / BLOCK_JOB_CANCELLED. */
  outcomeFromEvent: boolean;
}

function num(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'bigint') return Number(value);
  return undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

const IO_OPERATIONS = new Set(['read', 'write']);
const ERROR_ACTIONS = new Set(['ignore', 'report', 'stop']);

/** The job events the timeline reads, and where each names its job. */
const ID_MEMBER: ReadonlyMap<string, 'id' | 'device'> = new Map([
  ['JOB_STATUS_CHANGE', 'id'],
  ['BLOCK_JOB_PENDING', 'id'],
  ['BLOCK_JOB_READY', 'device'],
  ['BLOCK_JOB_COMPLETED', 'device'],
  ['BLOCK_JOB_CANCELLED', 'device'],
  ['BLOCK_JOB_ERROR', 'device'],
]);

/** Every job's timeline; see the module comment. */
export class JobTimelineModel {
  readonly stallAfterMs: number;
  private readonly rateWindowMs: number;
  private readonly maxJobs: number;
  private readonly maxSamples: number;
  private readonly maxEntries: number;
  /** All runs kept, oldest first. */
  private readonly runs = new Map<number, Run>();
  /** The run of each job id that has not ended. */
  private readonly live = new Map<string, Run>();
  /** The last run of each id that ended (for stale snapshots), bounded like `runs`. */
  private readonly endedById = new Map<string, Run>();
  private seq = 0;
  private events = 0;
  /** Jobs not tracked because `maxJobs` live jobs were already tracked. */
  untracked = 0;

  constructor(options: TimelineOptions = {}) {
    this.stallAfterMs = positive(options.stallAfterMs ?? 10_000, 'stallAfterMs');
    this.rateWindowMs = positive(options.rateWindowMs ?? 5_000, 'rateWindowMs');
    this.maxJobs = positive(options.maxJobs ?? 1_000, 'maxJobs');
    this.maxSamples = Math.max(4, positive(options.maxSamples ?? 512, 'maxSamples'));
    this.maxEntries = positive(options.maxEntries ?? 256, 'maxEntries');
  }

  /** A mark to pass to `applySnapshot()`: take it just before sending the queries. */
  mark(): number {
    return this.events;
  }

  /**
   * A QMP event received at `now`. Returns the `seq` of each run it changed (empty for events
   * that are not about jobs).
   */
  applyEvent(name: string, data: unknown, now: number): number[] {
    const member = ID_MEMBER.get(name);
    if (member === undefined) return [];
    const d = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>;
    const id = str(d[member]);
    if (id === undefined) return [];
    this.events++;
    if (name === 'JOB_STATUS_CHANGE') {
      const status = str(d.status) as JobStatus | undefined;
      if (status === undefined) return [];
      const run = status === 'created' ? this.created(id, now) : this.runOf(id, now);
      if (run === undefined) return [];
      run.lastEvent = this.events;
      this.setStatus(run, status, now);
      return [run.seq];
    }
    const run = this.runOf(id, now);
    if (run === undefined) return [];
    run.lastEvent = this.events;
    const type = str(d.type);
    if (type !== undefined) run.type = type;
    const speed = num(d.speed);
    if (speed !== undefined) this.setSpeed(run, speed, now);
    const offset = num(d.offset);
    const len = num(d.len);
    if (offset !== undefined && len !== undefined) this.sample(run, offset, len, now);
    switch (name) {
      case 'BLOCK_JOB_COMPLETED': {
        const error = str(d.error);
        run.outcome = error === undefined ? 'completed' : 'failed';
        run.outcomeFromEvent = true;
        if (error !== undefined) this.fail(run, error, now);
        break;
      }
      case 'BLOCK_JOB_CANCELLED':
        run.outcome = 'cancelled';
        run.outcomeFromEvent = true;
        break;
      case 'BLOCK_JOB_ERROR': {
        const entry: JobErrorEntry = { time: now, kind: 'io' };
        const operation = str(d.operation);
        const action = str(d.action);
        if (operation !== undefined && IO_OPERATIONS.has(operation)) {
          entry.operation = operation as 'read' | 'write';
        }
        if (action !== undefined && ERROR_ACTIONS.has(action)) {
          entry.action = action as 'ignore' | 'report' | 'stop';
        }
        this.push(run, run.errors, entry);
        break;
      }
    }
    run.lastChange = now;
    return [run.seq];
  }

  /**
   * The answers of `query-jobs` and (optionally) `query-block-jobs`, sent after `mark` was
   * taken and received at `now`. A job no longer listed, with no event since the mark, has
   * ended. Returns the `seq` of each run it changed.
   */
  applySnapshot(
    jobs: readonly TimelineJobInfo[],
    blockJobs: readonly TimelineBlockJobInfo[] | undefined,
    mark: number,
    now: number,
  ): number[] {
    const changed: number[] = [];
    const listed = new Set<string>();
    const blocks = new Map<string, TimelineBlockJobInfo>();
    for (const block of blockJobs ?? []) blocks.set(block.device, block);
    for (const info of jobs) {
      listed.add(info.id);
      if (!this.live.has(info.id) && (this.endedById.get(info.id)?.endedEvent ?? -1) > mark) {
        continue; // it ended after the query was sent: this answer is older than its end
      }
      const run = this.runOf(info.id, now);
      if (run === undefined) continue;
      const before = signature(run);
      run.type = info.type;
      if (run.lastEvent <= mark && run.status !== info.status) {
        this.setStatus(run, info.status, now);
      }
      const current = num(info['current-progress']);
      const total = num(info['total-progress']);
      if (current !== undefined && total !== undefined) this.sample(run, current, total, now);
      if (typeof info.error === 'string' && run.error === null) this.fail(run, info.error, now);
      const block = blocks.get(info.id);
      const speed = num(block?.speed);
      if (speed !== undefined) this.setSpeed(run, speed, now);
      if (signature(run) !== before) {
        run.lastChange = now;
        changed.push(run.seq);
      }
    }
    for (const run of [...this.live.values()]) {
      if (listed.has(run.id) || run.lastEvent > mark) continue;
      this.setStatus(run, 'null', now);
      run.endedBySnapshot = true;
      changed.push(run.seq);
    }
    return changed;
  }

  /**
   * Re-evaluates the stall flags at `now`; returns the `seq` of each run whose flag changed
   * since the last call (call it periodically to notice stalls nobody reports).
   */
  tick(now: number): number[] {
    const changed: number[] = [];
    for (const run of this.live.values()) {
      const stalled = this.stalledSince(run, now) !== null;
      if (stalled !== run.stallReported) {
        run.stallReported = stalled;
        changed.push(run.seq);
      }
    }
    return changed;
  }

  /** The view of run `seq` at `now`, or undefined when it is not kept. */
  get(seq: number, now: number): JobTimeline | undefined {
    const run = this.runs.get(seq);
    return run === undefined ? undefined : this.view(run, now);
  }

  /**
   * Like `get()`, without copying the lists: `intervals`, `samples`, `speeds` and `errors` are
   * the model's own and change with it (read them before feeding the model again). For a live
   * view that reads a few fields or the newest entries of thousands of jobs at every change.
   */
  peek(seq: number, now: number): JobTimeline | undefined {
    const run = this.runs.get(seq);
    return run === undefined ? undefined : this.view(run, now, false);
  }

  /** Whether run `seq` is still kept. */
  has(seq: number): boolean {
    return this.runs.has(seq);
  }

  /** The view of the live run of job `id` (or its last run), or undefined. */
  byId(id: string, now: number): JobTimeline | undefined {
    const run = this.live.get(id) ?? this.endedById.get(id);
    return run === undefined ? undefined : this.view(run, now);
  }

  /** Every run kept, oldest first. */
  all(now: number): JobTimeline[] {
    return [...this.runs.values()].map((run) => this.view(run, now));
  }

  /** How many runs are kept, and how many of them are live. */
  get size(): { kept: number; live: number } {
    return { kept: this.runs.size, live: this.live.size };
  }

  /**
   * The run a `created` event starts. A live run known only from a query answer (read before
   * this event was delivered) is that same job; a live run with events of its own is an earlier
   * job whose `null` was missed, and ends here.
   */
  private created(id: string, now: number): Run | undefined {
    const known = this.live.get(id);
    if (known !== undefined && known.lastEvent === 0) {
      known.intervals = [];
      known.status = 'undefined';
      return known;
    }
    return this.fresh(id, now);
  }

  private runOf(id: string, now: number): Run | undefined {
    return this.live.get(id) ?? this.reopened(id) ?? this.fresh(id, now);
  }

  /**
   * A run a query answer ended, reopened by a later event of the same job: the events QEMU
   * wrote before that answer can be delivered after it, so the inferred end was early.
   */
  private reopened(id: string): Run | undefined {
    const run = this.endedById.get(id);
    if (run === undefined || !run.endedBySnapshot) return undefined;
    const end = run.intervals.at(-1);
    if (end?.status === 'null') run.intervals.pop();
    const last = run.intervals.at(-1);
    if (last !== undefined) last.end = undefined;
    run.status = last?.status ?? 'undefined';
    run.ended = null;
    run.endedBySnapshot = false;
    // An outcome inferred from the statuses is inferred again at the real end.
    if (run.outcomeFromEvent === false) run.outcome = null;
    this.endedById.delete(id);
    this.live.set(id, run);
    return run;
  }

  /** A new run for `id` (ending a live one with the same id: QEMU reused the id). */
  private fresh(id: string, now: number): Run | undefined {
    const old = this.live.get(id);
    if (old !== undefined) this.setStatus(old, 'null', now);
    if (this.runs.size >= this.maxJobs && !this.evictOne()) {
      this.untracked++;
      return undefined;
    }
    const run: Run = {
      seq: ++this.seq,
      id,
      type: null,
      status: 'undefined',
      firstSeen: now,
      lastChange: now,
      ended: null,
      intervals: [],
      samples: [],
      window: [],
      speeds: [],
      errors: [],
      dropped: 0,
      current: 0,
      total: 0,
      fraction: 0,
      speed: null,
      outcome: null,
      error: null,
      sawAborting: false,
      progressAt: now,
      lastEvent: 0,
      endedEvent: 0,
      stallReported: false,
      endedBySnapshot: false,
      outcomeFromEvent: false,
    };
    this.runs.set(run.seq, run);
    this.live.set(id, run);
    return run;
  }

  /** Forgets the oldest ended run; false when every kept run is live. */
  private evictOne(): boolean {
    for (const run of this.runs.values()) {
      if (run.ended === null) continue;
      this.runs.delete(run.seq);
      if (this.endedById.get(run.id) === run) this.endedById.delete(run.id);
      return true;
    }
    return false;
  }

  private setStatus(run: Run, status: JobStatus, now: number): void {
    if (run.ended !== null) return;
    const open = run.intervals.at(-1);
    if (open !== undefined && open.end === undefined) {
      if (open.status === status) return;
      open.end = now;
    }
    run.status = status;
    run.lastChange = now;
    if (status === 'aborting') run.sawAborting = true;
    if (status === 'running') run.progressAt = now;
    if (status === 'null') {
      this.push(run, run.intervals, { status, start: now, end: now });
      run.ended = now;
      run.endedEvent = this.events;
      run.outcome ??= run.sawAborting ? (run.error === null ? 'cancelled' : 'failed') : null;
      if (run.outcome === null && run.intervals.some((i) => i.status === 'concluded')) {
        run.outcome = run.error === null ? 'completed' : 'failed';
      }
      this.live.delete(run.id);
      this.endedById.delete(run.id); // re-inserted last, so the oldest is first
      this.endedById.set(run.id, run);
      if (this.endedById.size > this.maxJobs) {
        const oldest = this.endedById.keys().next().value;
        if (oldest !== undefined) this.endedById.delete(oldest);
      }
      return;
    }
    this.push(run, run.intervals, { status, start: now, end: undefined });
  }

  private setSpeed(run: Run, speed: number, now: number): void {
    if (run.speed === speed) return;
    run.speed = speed;
    this.push(run, run.speeds, { time: now, speed });
  }

  private fail(run: Run, message: string, now: number): void {
    run.error = message;
    if (run.outcome === null && run.sawAborting) run.outcome = 'failed';
    this.push(run, run.errors, { time: now, kind: 'failed', message });
  }

  private sample(run: Run, currentIn: number, totalIn: number, now: number): void {
    const current = Math.max(run.current, Math.max(0, currentIn));
    const total = Math.max(current, Math.max(0, totalIn));
    if (current > run.current) run.progressAt = now;
    const last = run.samples.at(-1);
    if (last !== undefined && last.current === current && last.total === total) {
      // Nothing moved; the rate window still learns that time passed without progress.
      this.windowPush(run, { time: now, current, total });
      return;
    }
    run.current = current;
    run.total = total;
    if (total > 0) run.fraction = Math.max(run.fraction, Math.min(1, current / total));
    const sample = { time: now, current, total };
    this.windowPush(run, sample);
    if (last !== undefined && last.time === now) {
      run.samples[run.samples.length - 1] = sample;
      return;
    }
    run.samples.push(sample);
    if (run.samples.length > this.maxSamples) {
      // Halve the resolution of the older samples; the newest half stays as it was.
      const half = Math.floor(run.samples.length / 2);
      const older = run.samples.slice(0, half).filter((_, i) => i % 2 === 0);
      run.samples = [...older, ...run.samples.slice(half)];
    }
  }

  private windowPush(run: Run, sample: ProgressSample): void {
    const window = run.window;
    const last = window.at(-1);
    if (last !== undefined && last.time === sample.time) window[window.length - 1] = sample;
    else window.push(sample);
    // Keep what lies within the window, and always at least two samples.
    while (
      window.length > 2 &&
      sample.time - (window[1] as ProgressSample).time >= this.rateWindowMs
    ) {
      window.shift();
    }
  }

  private push<T>(run: Run, list: T[], entry: T): void {
    list.push(entry);
    if (list.length > this.maxEntries) {
      // Keep the first entry (how it started) and the newest ones.
      list.splice(1, 1);
      run.dropped++;
    }
  }

  private stalledSince(run: Run, now: number): number | null {
    if (run.status !== 'running' || run.ended !== null) return null;
    if (run.total > 0 && run.current >= run.total) return null;
    return now - run.progressAt >= this.stallAfterMs ? run.progressAt : null;
  }

  private view(run: Run, now: number, copy = true): JobTimeline {
    const first = run.window[0];
    const last = run.window.at(-1);
    let rate: number | null = null;
    let drain: number | null = null;
    if (first !== undefined && last !== undefined && last.time > first.time) {
      const seconds = (last.time - first.time) / 1000;
      rate = (last.current - first.current) / seconds;
      drain = (first.total - first.current - (last.total - last.current)) / seconds;
    }
    const remaining = run.total - run.current;
    let etaMs: number | null = null;
    if (run.ended === null && (run.status === 'running' || run.status === 'ready')) {
      if (remaining === 0 && run.total > 0) etaMs = 0;
      else if (drain !== null && drain > 0) etaMs = Math.round((remaining / drain) * 1000);
    }
    const stalledSince = this.stalledSince(run, now);
    return {
      seq: run.seq,
      id: run.id,
      type: run.type,
      status: run.status,
      firstSeen: run.firstSeen,
      lastChange: run.lastChange,
      ended: run.ended,
      intervals: copy ? run.intervals.map((i) => ({ ...i })) : run.intervals,
      samples: copy ? run.samples.slice() : run.samples,
      speeds: copy ? run.speeds.slice() : run.speeds,
      errors: copy ? run.errors.map((e) => ({ ...e })) : run.errors,
      dropped: run.dropped,
      current: run.current,
      total: run.total,
      fraction: run.fraction,
      rate: run.ended === null ? rate : null,
      etaMs,
      speed: run.speed,
      stalled: stalledSince !== null,
      stalledSince,
      outcome: run.outcome,
      error: run.error,
    };
  }
}

function positive(value: number, name: string): number {
  if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`${name} must be positive`);
  return value;
}

/** What a snapshot may change, to tell whether it did. */
function signature(run: Run): string {
  return `${run.type}|${run.status}|${run.current}|${run.total}|${run.speed}|${run.error}`;
}
