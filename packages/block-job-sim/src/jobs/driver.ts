// The state the job runtime keeps for one job: what its command resolved (nodes, work list,
// error policies) and where its run is (the lazy time plan, the rate limiter, timers).

import type { BlockdevCreateOptions, BlockdevOnError } from '@qmpkit/qapi-types';
import type { BlockNode } from '../block-layer.js';
import type { InjectionPoint } from './io.js';
import type { Plan, RateLimitState, WorkList } from './schedule.js';

export type Kind = 'mirror' | 'stream' | 'commit' | 'backup' | 'create';

/** What a command hands the runtime to make a job's driver. */
export interface DriverParts {
  work?: WorkList;
  total?: number;
  immediate?: boolean;
  startError?: string;
  endless?: boolean;
  read?: { node: BlockNode; policy: BlockdevOnError } | undefined;
  write?: { node: BlockNode; policy: BlockdevOnError } | undefined;
  writesReportAsRead?: boolean;
  createOptions?: BlockdevCreateOptions;
  replaces?: string | undefined;
  attached?: readonly { node: BlockNode; blocker?: boolean; backend?: boolean }[];
  filterOn?: BlockNode | undefined;
  group?: Set<Driver> | undefined;
  lazyStart?: boolean;
  wave?: number;
}

export interface Driver {
  readonly id: string;
  readonly kind: Kind;
  readonly seq: number;
  phase: 'copy' | 'ready';
  /** The run has begun (set-up done); a job started inside a drain begins on its first resume. */
  started: boolean;
  work: WorkList;
  /** Progress total set at start. */
  readonly total: number;
  /** Run finishes before the reply with nothing done (stream with nothing to stream). */
  readonly immediate: boolean;
  /** Mirror: the job starts and fails with this message (different sizes). */
  readonly startError: string | undefined;
  /** Backup sync=none: copies nothing and runs until cancelled. */
  readonly endless: boolean;
  readonly readNode: BlockNode | undefined;
  readonly writeNode: BlockNode | undefined;
  readonly readPoints: readonly InjectionPoint[];
  readonly writePoints: readonly InjectionPoint[];
  readonly readPolicy: BlockdevOnError;
  readonly writePolicy: BlockdevOnError;
  /** Stream reports every failure as a read. */
  readonly writesReportAsRead: boolean;
  readonly createOptions: BlockdevCreateOptions | undefined;
  readonly replaces: string | undefined;
  /** Nodes whose drained sections pause this job. */
  readonly attached: readonly BlockNode[];
  readonly release: Array<() => void>;
  released: boolean;
  group: Set<Driver> | undefined;
  /** Copy position reached (chunk boundary) and progress reported to the engine. */
  frontier: number;
  applied: number;
  limiter: RateLimitState;
  plan: Plan | undefined;
  planLive: boolean;
  /** Limiter state at the plan's first chunk, after its slice check. */
  planLimiter: RateLimitState;
  /** Chunk at which a pause or hard cancel takes effect (the one in flight). */
  landing: number | undefined;
  /** Chunks below this index were checked for injected errors. */
  errorsClearedTo: number;
  /** Stream: an ignored error fails the job at its end. */
  ignoredError: string | undefined;
  /** Progress from earlier work lists (a backup retrying its failed chunks). */
  progressBase: number;
  /** Backup: chunks whose request failed in this block-copy call, and their bytes. */
  failures: Array<{ chunk: number; iotype: 'read' | 'write'; errno: number }>;
  failedBytes: number;
  /** Backup: stopped by an error at backup_loop's pause point, between two block-copy calls. */
  betweenCalls: boolean;
  /** Backup sync=top and stream: the first chunk waits for a main-loop turn (after the reply). */
  readonly lazyStart: boolean;
  /** Mirror: only the first chunk of the plan may run now; the rest after the reply. */
  firstOnly: boolean;
  /** A plan of this job has started (the first one may start lazily). */
  kicked: boolean;
  /** Mirror: whether its source has data to read (null-co has none: no reads, no read errors). */
  readonly sourceHasData: boolean;
  /** Nanoseconds one request takes on its nodes (null-co's latency-ns), and how many go together. */
  readonly latency: number;
  /** Its requests complete at once, inside the call that makes them (null-co, no files). */
  readonly instantIo: boolean;
  readonly wave: number;
  speed: number;
  timer: (() => void) | undefined;
  /** When the armed timer fires (to keep it when the next event has not moved). */
  timerAt: number;
}

export interface NextEvent {
  readonly at: number;
  readonly kind: 'error' | 'land' | 'end';
  readonly chunk: number;
}
