import type { BackupSyncBitmap } from '../bitmaps/backup-sync.js';
// The state the job runtime keeps for one job: what its command resolved (nodes, work list,
// error policies) and where its run is (the lazy time plan, the rate limiter, timers).

import type { BlockdevCreateOptions, BlockdevOnError } from '@qmpkit/qapi-types/7.2';
import type { BlockNode } from '../block-layer.js';
import type { Permissions } from '../permissions.js';
import type { JobDriver } from '../runtime/job-driver.js';
import type { InjectionPoint } from './io.js';
import type { Plan, RateLimitState, WorkList } from './schedule.js';

export type Kind = 'mirror' | 'stream' | 'commit' | 'backup' | 'create';

/** A mirror's (or active commit's) own state. */
export interface MirrorState {
  readonly kind: 'mirror';
  phase: 'copy' | 'ready';
  /** The job starts and fails with this message (source and target of different sizes). */
  readonly startError: string | undefined;
  /** The node the mirror replaces on completion. */
  readonly replaces: string | undefined;
  /** Ending on job-complete: the target takes the source's place (a graph change more). */
  pivots: boolean;
  /** copy-mode write-blocking: as started, or since `block-job-change` switched it (10.0). */
  writeBlocking: boolean;
  /** Its dirty bitmap's granularity: what a guest write it copies adds to len, rounded out. */
  readonly granularity: number;
}

/** A backup's own state: its block-copy calls. */
export interface BackupState {
  readonly kind: 'backup';
  /** sync=none: copies nothing and runs until cancelled. */
  readonly endless: boolean;
  /** Chunks whose request failed in this block-copy call. */
  failures: Array<{ chunk: number; iotype: 'read' | 'write'; errno: number }>;
  /** Stopped by an error at backup_loop's pause point, between two block-copy calls. */
  betweenCalls: boolean;
  /**
   * The bitmap the backup syncs (bitmap, bitmap-mode), given its final content at clean.
   * @internal
   */
  readonly syncBitmap: BackupSyncBitmap | undefined;
}

export interface StreamState {
  readonly kind: 'stream';
  /** Nothing between the device and the base: the run returns at once. */
  readonly immediate: boolean;
  /** Where top's chain ends once the stream has succeeded (undefined: top has no backing). */
  readonly base: BlockNode | undefined;
  /** The backing file name the command gave for top's header (`backing-file`). */
  readonly backingFile: string | undefined;
  /** An error the policy ignored fails the job at its end. */
  ignoredError: string | undefined;
}

export interface CommitState {
  readonly kind: 'commit';
  /** The image above top, whose backing becomes the base when the commit has succeeded. */
  readonly overlay: BlockNode;
  readonly base: BlockNode;
  /** The backing file name the command gave for the overlay's header (`backing-file`). */
  readonly backingFile: string | undefined;
}

export interface CreateState {
  readonly kind: 'create';
  readonly options: BlockdevCreateOptions;
}

/** The state only one kind of job has; its driver (../jobs/<kind>.ts) reads it. */
export type KindState = MirrorState | BackupState | StreamState | CommitState | CreateState;

/** What a command hands the runtime to make a job's driver. */
export interface DriverParts {
  state: KindState;
  work?: WorkList;
  total?: number;
  read?: { node: BlockNode; policy: BlockdevOnError } | undefined;
  write?: { node: BlockNode; policy: BlockdevOnError } | undefined;
  /** The node its copied chunks are written into (default: the write node). */
  copiesInto?: BlockNode | undefined;
  /** It reads only data the source has (a mirror: none from null-co). */
  readsOnlyData?: boolean;
  /**
   * The nodes it works on: each gets the job's op blocker unless `blocker` is false, and with
   * `backend` a BlockBackend of the job's own with `permissions` (default: none, sharing all).
   */
  attached?: readonly {
    node: BlockNode;
    blocker?: boolean;
    backend?: boolean;
    permissions?: Permissions;
  }[];
  filterOn?: BlockNode | undefined;
  group?: Set<JobRun> | undefined;
  lazyStart?: boolean;
  wave?: number;
}

export interface JobRun {
  readonly id: string;
  /** What this kind of job does (../jobs/<kind>.ts). */
  readonly driver: JobDriver;
  /** What only this kind of job keeps. */
  readonly state: KindState;
  readonly seq: number;
  /** The run has begun (set-up done); a job started inside a drain begins on its first resume. */
  started: boolean;
  work: WorkList;
  /** Progress total set at start. */
  readonly total: number;
  readonly readNode: BlockNode | undefined;
  readonly writeNode: BlockNode | undefined;
  readonly readPoints: readonly InjectionPoint[];
  readonly writePoints: readonly InjectionPoint[];
  readonly readPolicy: BlockdevOnError;
  readonly writePolicy: BlockdevOnError;
  /** Nodes whose drained sections pause this job. */
  readonly attached: readonly BlockNode[];
  readonly release: Array<() => void>;
  released: boolean;
  /**
   * What goes at the job's end, in its clean (the filter node it put in), also for a stream or
   * commit that keeps its nodes until it is dismissed.
   */
  readonly atEnd: Array<() => void>;
  group: Set<JobRun> | undefined;
  /** Copy position reached (chunk boundary) and progress reported to the engine. */
  frontier: number;
  /** The node its copied chunks land in (stream: its top; commit: the base; else the target). */
  readonly copiesInto: BlockNode | undefined;
  /** Copy position up to which the chunks copied were recorded as written into copiesInto. */
  recordedTo: number;
  /** Chunks of the work list whose request failed and that the loop went past (not written). */
  readonly unwritten: Set<number>;
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
  /** Progress from earlier work lists (a backup retrying its failed chunks). */
  progressBase: number;
  /** Bytes of failed requests, not counted as progress until they are retried. */
  failedBytes: number;
  /** Whether its requests read the source (a mirror of null-co reads nothing). */
  readonly readsSource: boolean;
  /**
   * Its reads reach an image file: they complete in a later main-loop turn, so the write of a
   * chunk read inside a command (a mirror's first chunk) happens after the command's reply.
   */
  readonly readsFromFile: boolean;
  /** Backup sync=top and stream: the first chunk waits for a main-loop turn (after the reply). */
  readonly lazyStart: boolean;
  /** Only the first chunk of the plan may run now, the rest after the reply (a mirror's start). */
  firstOnly: boolean;
  /** A plan of this job has started (the first one may start lazily). */
  kicked: boolean;
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
