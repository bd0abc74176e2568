/**
 * The dashboard's state: one job timeline per QMP target, the event log, and the counters behind
 * `/metrics`. Pure (time is passed in); the Node server feeds it and sends what it returns.
 *
 * Bounded: `maxJobs` runs per target (the timeline's bound), `maxLog` log entries, at most
 * `MAX_EVENT_NAMES` distinct event names counted per target, log data cut to `MAX_LOG_DATA`
 * characters.
 */
import {
  type JobTimeline,
  JobTimelineModel,
  type StatusInterval,
  type TimelineBlockJobInfo,
  type TimelineJobInfo,
} from '@qmpkit/client';
import type { HelloMessage, JobRow, LogEntry, TargetState, UpdateMessage } from './messages.js';

export interface HubOptions {
  /** Runs kept per target (default 1000). */
  maxJobs?: number;
  /** Event log entries kept (default 500). */
  maxLog?: number;
  /** Progress samples kept per job (default 256). */
  maxSamples?: number;
  /**
   * Status intervals a page keeps per job (default 64): the first, and the newest. Updates carry
   * at most this many newest intervals per job, however many a flood of status changes made.
   */
  maxIntervals?: number;
  /** A running job without progress this long is flagged stalled (default 10 000 ms). */
  stallAfterMs?: number;
}

const MAX_EVENT_NAMES = 128;
const MAX_LOG_DATA = 400;
const MAX_LOG_PER_UPDATE = 100;
/** Upper bounds (seconds) of the QMP round-trip histogram's buckets. */
export const ROUND_TRIP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Per-target counters for `/metrics`. */
export interface TargetCounters {
  events: Map<string, number>;
  /** `BLOCK_JOB_ERROR` by job type and action, and failed jobs (action `failed`). */
  errors: Map<string, number>;
  /** Runs that ended, by type and outcome. */
  finished: Map<string, number>;
  roundTrips: { buckets: number[]; count: number; sum: number };
}

interface Target {
  index: number;
  state: TargetState;
  timeline: JobTimelineModel;
  counters: TargetCounters;
  /** Samples already sent, per run seq (the newest sample time sent). */
  sentSampleTime: Map<number, number>;
  /**
   * The last status interval sent, per run seq: the model's own object, so its end is known
   * even after the model dropped it from a long list.
   */
  sentInterval: Map<number, StatusInterval>;
  /** Runs changed since the last update, with the receipt time of the first change. */
  dirty: Map<number, number>;
  /** Runs kept at the last update, to tell which were evicted. */
  keptSeqs: Set<number>;
  /** Outcomes already counted. */
  counted: Set<number>;
}

export class DashboardHub {
  readonly stallAfterMs: number;
  readonly maxLog: number;
  readonly maxSamples: number;
  readonly maxIntervals: number;
  private readonly maxJobs: number;
  private readonly targets = new Map<string, Target>();
  private readonly log: LogEntry[] = [];
  private pendingLog: LogEntry[] = [];
  private logCount = 0;
  private targetsChanged = false;

  constructor(options: HubOptions = {}) {
    this.maxJobs = options.maxJobs ?? 1000;
    this.maxLog = options.maxLog ?? 500;
    this.maxSamples = options.maxSamples ?? 256;
    this.maxIntervals = Math.max(2, options.maxIntervals ?? 64);
    this.stallAfterMs = options.stallAfterMs ?? 10_000;
  }

  /** Adds a target (names must be unique). */
  addTarget(name: string, now: number): void {
    if (this.targets.has(name)) throw new Error(`duplicate target name '${name}'`);
    this.targets.set(name, {
      index: this.targets.size,
      state: { name, state: 'connecting', detail: null, since: now },
      timeline: new JobTimelineModel({
        maxJobs: this.maxJobs,
        maxSamples: this.maxSamples,
        stallAfterMs: this.stallAfterMs,
      }),
      counters: {
        events: new Map(),
        errors: new Map(),
        finished: new Map(),
        roundTrips: { buckets: ROUND_TRIP_BUCKETS.map(() => 0), count: 0, sum: 0 },
      },
      sentSampleTime: new Map(),
      sentInterval: new Map(),
      dirty: new Map(),
      keptSeqs: new Set(),
      counted: new Set(),
    });
    this.targetsChanged = true;
  }

  targetNames(): string[] {
    return [...this.targets.keys()];
  }

  setTargetState(name: string, state: TargetState['state'], detail: string | null, now: number) {
    const target = this.target(name);
    if (target.state.state === state && target.state.detail === detail) return;
    target.state = { name, state, detail, since: now };
    this.targetsChanged = true;
  }

  /** A QMP event from `target`, received at `now`. */
  applyEvent(name: string, event: string, data: unknown, now: number): void {
    const target = this.target(name);
    const events = target.counters.events;
    const key = events.has(event) || events.size < MAX_EVENT_NAMES ? event : 'other';
    events.set(key, (events.get(key) ?? 0) + 1);
    let text = safeJson(data);
    if (text.length > MAX_LOG_DATA) text = `${text.slice(0, MAX_LOG_DATA - 1)}…`;
    const isError =
      event === 'BLOCK_JOB_ERROR' ||
      (event === 'BLOCK_JOB_COMPLETED' && typeof (data as { error?: unknown })?.error === 'string');
    this.addLog({
      n: 0,
      time: now,
      target: name,
      event,
      data: text,
      level: isError ? 'error' : 'info',
    });
    const changed = target.timeline.applyEvent(event, data, now);
    if (event === 'BLOCK_JOB_ERROR' && changed.length > 0) {
      const job = target.timeline.peek(changed[0] as number, now);
      const action = String((data as { action?: unknown })?.action ?? 'unknown');
      bump(target.counters.errors, `${job?.type ?? 'unknown'}\u0000${action}`);
    }
    this.markDirty(target, changed, now);
  }

  /** A mark for `applySnapshot`: take it before sending the queries. */
  mark(name: string): number {
    return this.target(name).timeline.mark();
  }

  /** The answers of `query-jobs` / `query-block-jobs` from `target`. */
  applySnapshot(
    name: string,
    jobs: readonly TimelineJobInfo[],
    blockJobs: readonly TimelineBlockJobInfo[] | undefined,
    mark: number,
    now: number,
  ): void {
    const target = this.target(name);
    this.markDirty(target, target.timeline.applySnapshot(jobs, blockJobs, mark, now), now);
  }

  /** A QMP command's round trip, in seconds. */
  recordRoundTrip(name: string, seconds: number): void {
    const rt = this.target(name).counters.roundTrips;
    rt.count++;
    rt.sum += seconds;
    ROUND_TRIP_BUCKETS.forEach((bound, i) => {
      if (seconds <= bound) rt.buckets[i] = (rt.buckets[i] as number) + 1;
    });
  }

  /** Re-evaluates stall flags (call periodically). */
  tick(now: number): void {
    for (const target of this.targets.values())
      this.markDirty(target, target.timeline.tick(now), now);
  }

  /** Everything, for a new page. */
  hello(now: number): HelloMessage {
    const jobs: JobRow[] = [];
    for (const target of this.targets.values()) {
      for (const job of target.timeline.all(now)) {
        const intervals = firstAndNewest(job.intervals, this.maxIntervals);
        jobs.push(this.row(target, { ...job, intervals }, job.samples, now));
      }
    }
    return {
      type: 'hello',
      now,
      stallAfterMs: this.stallAfterMs,
      maxSamples: this.maxSamples,
      maxIntervals: this.maxIntervals,
      maxLog: this.maxLog,
      targets: [...this.targets.values()].map((t) => t.state),
      jobs,
      log: this.log.slice(),
    };
  }

  /** What changed since the last call, or undefined when nothing did. */
  takeUpdate(now: number): UpdateMessage | undefined {
    const jobs: JobRow[] = [];
    const removed: string[] = [];
    for (const target of this.targets.values()) {
      for (const [seq, at] of target.dirty) {
        // The model's own lists (not copied): only their newest entries are sent.
        const job = target.timeline.peek(seq, now);
        if (job === undefined) continue;
        const sent = target.sentSampleTime.get(seq) ?? Number.NEGATIVE_INFINITY;
        const fresh = tailFrom(job.samples, (s) => s.time > sent);
        const last = job.samples.at(-1);
        if (last !== undefined) target.sentSampleTime.set(seq, last.time);
        // Intervals from the last one sent on (it may have closed since): under a flood of
        // status changes (QEMU 10.0's drains flap ready mirrors) whole lists would swamp pages.
        // At most maxIntervals (a page keeps no more): the one sent before, and the newest.
        const sentBefore = target.sentInterval.get(seq);
        const from = sentBefore?.start ?? Number.NEGATIVE_INFINITY;
        let tail = tailFrom(job.intervals, (i) => i.start >= from);
        // (An open one missing from the list was not dropped but replaced: the model started
        // the run's list over when its `created` event came after a query answer.)
        if (sentBefore?.end !== undefined && !tail.includes(sentBefore)) {
          tail = [sentBefore, ...tail];
        }
        const intervals = firstAndNewest(tail, this.maxIntervals);
        const lastInterval = job.intervals.at(-1);
        if (lastInterval !== undefined) target.sentInterval.set(seq, lastInterval);
        jobs.push(this.row(target, { ...job, intervals }, fresh, at));
      }
      target.dirty.clear();
      for (const job of jobs) if (job.target === target.state.name) target.keptSeqs.add(job.seq);
      if (target.keptSeqs.size > target.timeline.size.kept) {
        for (const seq of target.keptSeqs) {
          if (target.timeline.has(seq)) continue;
          removed.push(`${target.index}/${seq}`);
          target.keptSeqs.delete(seq);
          target.sentSampleTime.delete(seq);
          target.sentInterval.delete(seq);
          target.counted.delete(seq);
        }
      }
    }
    const log = this.pendingLog;
    this.pendingLog = [];
    const targets = this.targetsChanged ? [...this.targets.values()].map((t) => t.state) : [];
    this.targetsChanged = false;
    if (jobs.length === 0 && removed.length === 0 && log.length === 0 && targets.length === 0) {
      return undefined;
    }
    return { type: 'update', now, targets, jobs, removed, log };
  }

  /** The state the metrics are rendered from. */
  metricsView(
    now: number,
  ): Array<{ state: TargetState; jobs: JobTimeline[]; counters: TargetCounters }> {
    return [...this.targets.values()].map((t) => ({
      state: t.state,
      jobs: t.timeline.all(now),
      counters: t.counters,
    }));
  }

  /** The timelines of every target, for the NDJSON and OpenTelemetry exports. */
  timelines(now: number): Array<{ target: string; jobs: JobTimeline[] }> {
    return [...this.targets.values()].map((t) => ({
      target: t.state.name,
      jobs: t.timeline.all(now),
    }));
  }

  private target(name: string): Target {
    const target = this.targets.get(name);
    if (target === undefined) throw new Error(`unknown target '${name}'`);
    return target;
  }

  private markDirty(target: Target, seqs: readonly number[], now: number): void {
    for (const seq of seqs) {
      if (!target.dirty.has(seq)) target.dirty.set(seq, now);
      if (target.counted.has(seq)) continue;
      const job = target.timeline.peek(seq, now);
      if (job?.ended != null) {
        target.counted.add(seq);
        bump(target.counters.finished, `${job.type ?? 'unknown'}\u0000${job.outcome ?? 'unknown'}`);
        if (job.outcome === 'failed')
          bump(target.counters.errors, `${job.type ?? 'unknown'}\u0000failed`);
      }
    }
  }

  private addLog(entry: LogEntry): void {
    entry.n = ++this.logCount;
    this.log.push(entry);
    if (this.log.length > this.maxLog) this.log.shift();
    this.pendingLog.push(entry);
    // A page shows the newest entries; under a flood, one update carries the newest 100.
    if (this.pendingLog.length > Math.min(this.maxLog, MAX_LOG_PER_UPDATE)) this.pendingLog.shift();
  }

  private row(
    target: Target,
    job: JobTimeline,
    samples: JobTimeline['samples'],
    at: number,
  ): JobRow {
    return {
      key: `${target.index}/${job.seq}`,
      target: target.state.name,
      seq: job.seq,
      id: job.id,
      type: job.type,
      status: job.status,
      current: job.current,
      total: job.total,
      fraction: job.fraction,
      rate: job.rate,
      etaMs: job.etaMs,
      speed: job.speed,
      stalled: job.stalled,
      outcome: job.outcome,
      error: job.error,
      errorCount: job.errors.length,
      firstSeen: job.firstSeen,
      ended: job.ended,
      intervals: job.intervals.map((i) => [i.status, i.start, i.end ?? null]),
      samples: samples.map((s) => [s.time, s.current, s.total]),
      at,
    };
  }
}

/** The newest entries of a time-ordered list that satisfy `keep` (scanned from the end). */
function tailFrom<T>(list: readonly T[], keep: (entry: T) => boolean): T[] {
  let i = list.length;
  while (i > 0 && keep(list[i - 1] as T)) i--;
  return list.slice(i);
}

/** The first entry and the newest, `max` in all. */
function firstAndNewest<T>(list: readonly T[], max: number): readonly T[] {
  if (list.length <= max) return list;
  return [list[0] as T, ...list.slice(list.length - max + 1)];
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function safeJson(data: unknown): string {
  try {
    return (
      JSON.stringify(data, (_key, value) =>
        typeof value === 'bigint' ? value.toString() : value,
      ) ?? 'null'
    );
  } catch {
    return '"(unprintable)"';
  }
}
