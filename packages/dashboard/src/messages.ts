/**
 * What the server sends the page over server-sent events. Every message is one JSON object;
 * the page's script (page/app.js) reads exactly these shapes.
 */

/** A QMP target's connection state. */
export interface TargetState {
  name: string;
  state: 'connecting' | 'connected' | 'disconnected';
  /** Why it is disconnected, or the server's version once connected. */
  detail: string | null;
  since: number;
}

/** One job run as the page shows it. */
export interface JobRow {
  /** `<target index>/<seq>`: unique on the page. */
  key: string;
  target: string;
  seq: number;
  id: string;
  type: string | null;
  status: string;
  current: number;
  total: number;
  fraction: number;
  rate: number | null;
  etaMs: number | null;
  speed: number | null;
  stalled: boolean;
  outcome: string | null;
  error: string | null;
  errorCount: number;
  firstSeen: number;
  ended: number | null;
  /**
   * Status intervals as `[status, start, end]` (end null for the current one): in a `hello`, the
   * first and the newest (`maxIntervals` in all); in an `update`, those starting at or after the
   * last one sent before, the newest `maxIntervals` at most — the page replaces its own from the
   * first one's start on, and keeps its first and newest.
   */
  intervals: Array<[string, number, number | null]>;
  /** Progress samples `[time, current, total]`: all of them in a `hello`, the new ones in an `update`. */
  samples: Array<[number, number, number]>;
  /** When the server received the QMP message behind this change (for latency measurement). */
  at: number;
}

/** One entry of the event log. */
export interface LogEntry {
  n: number;
  time: number;
  target: string;
  event: string;
  /** The event's data as compact JSON, cut to a bounded length. */
  data: string;
  level: 'info' | 'error';
}

/** The first message on a new stream: the whole state. */
export interface HelloMessage {
  type: 'hello';
  now: number;
  stallAfterMs: number;
  maxSamples: number;
  /** Status intervals the page keeps per job: the first and the newest. */
  maxIntervals: number;
  maxLog: number;
  targets: TargetState[];
  jobs: JobRow[];
  log: LogEntry[];
}

/** What changed since the previous update. */
export interface UpdateMessage {
  type: 'update';
  now: number;
  targets: TargetState[];
  jobs: JobRow[];
  /** Keys of runs forgotten (evicted to stay within the bounds). */
  removed: string[];
  log: LogEntry[];
}
