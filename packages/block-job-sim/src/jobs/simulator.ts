// The job half of the fake QEMU: the commands that create block jobs (blockdev-mirror,
// block-commit, block-stream, blockdev-backup, transaction, blockdev-create), the job verbs and
// queries, and a driver per job that moves its progress the way QEMU 7.2's job coroutines do:
// chunk by chunk (mirror 16 MiB, stream/commit 512 KiB, backup 1 MiB), throttled by QEMU's rate
// limiter, on an injected clock. The job state machine itself is @qmpkit/job-engine's; this file
// tells it what the coroutines do and carries out the effects it returns.
//
// Time is lazy: a driver holds a Plan (schedule.ts) that says when each chunk is done, sets a
// timer only for the next thing that changes the job's state (the end of its run, an injected
// I/O error, a pause landing at a chunk boundary), and works out its progress on demand, before
// every command. A terabyte mirror therefore costs two timers, not sixty thousand.

import {
  type Effect,
  type EnterReason,
  JobEngine,
  type JobResult,
  type JobSnapshot,
  type JobTransaction,
} from '@qmpkit/job-engine';
import { CommandError, type QapiErrorClass } from '@qmpkit/protocol';
import type {
  BackupCommon,
  BlockCommitArgs,
  BlockdevBackup,
  BlockdevCreateArgs,
  BlockdevCreateOptions,
  BlockdevMirrorArgs,
  BlockdevOnError,
  BlockdevOptions,
  BlockStreamArgs,
  DriveBackup,
  DriveMirror,
  JobType,
  TransactionAction,
  TransactionArgs,
} from '@qmpkit/qapi-types';
import { type BlockLayer, type BlockNode, jobBlockerReason } from '../block-layer.js';
import { RealClock, type SimClock, VirtualClock } from '../clock/clock.js';
import {
  allocatedInChain,
  allocatedInNode,
  candidateRules,
  copyOnly,
  ENOSPC,
  errnoMessage,
  extentsOf,
  type InjectionPoint,
  injectionPoints,
  subtractRanges,
} from './io.js';
import {
  arriveAt,
  chunkDoneAt,
  chunkInFlightAt,
  type Extent,
  lastChunkDoneBy,
  newRateLimit,
  type Plan,
  type RateLimitState,
  rateLimitAfter,
  SLICE_NS,
  sliceQuota,
  WorkList,
  waveEnd,
} from './schedule.js';

const MiB = 1024 * 1024;
/** block/mirror.c DEFAULT_MIRROR_BUF_SIZE (16 in-flight requests of 1 MiB). */
export const MIRROR_BUFFER_SIZE = 16 * MiB;
/** block/stream.c STREAM_CHUNK. */
export const STREAM_CHUNK_SIZE = 512 * 1024;
/** block/commit.c COMMIT_BUFFER_SIZE. */
export const COMMIT_CHUNK_SIZE = 512 * 1024;
/** block/block-copy.c BLOCK_COPY_MAX_BUFFER: backup's chunk without copy offloading. */
export const BACKUP_CHUNK_SIZE = 1 * MiB;
/**
 * The default speed of unthrottled I/O: unlimited, as QEMU's null-co (what the conformance
 * scenarios run on): an unthrottled job's copying takes no simulated time.
 */
export const DEFAULT_THROUGHPUT = Number.POSITIVE_INFINITY;

/** Where events go: the QMP server's broadcast. */
export type EventSink = (event: string, data: unknown) => void;

/**
 * The part of @qmpkit/server's CommandContext the simulator uses: work that QEMU does in a later
 * main-loop turn is handed to `afterReply`, so its events follow the command's reply.
 */
export interface SimCommandContext {
  afterReply(callback: () => void): void;
}

/** A command handler: validated arguments in, the return value out, or a thrown CommandError. */
export type SimCommandHandler = (args: never, context?: SimCommandContext) => unknown;

export interface SimulatorOptions {
  /** The block layer the jobs work on (its nodes, allocation, blkdebug rules, op blockers). */
  readonly blockLayer: BlockLayer;
  /** Default: a new JobEngine. */
  readonly engine?: JobEngine;
  /** Default: real time (a RealClock, closed by close()). */
  readonly clock?: SimClock;
  /**
   * Bytes per second an unthrottled job copies (a throttled job whose speed is below this runs
   * at its speed). Default Infinity: unthrottled copying takes no simulated time, as on QEMU's
   * null-co. A finite value makes unthrottled jobs take time (and show `busy: true`).
   */
  readonly throughput?: number;
  /** Where events go; can be set later with setEventSink (events before that are dropped). */
  readonly onEvent?: EventSink;
  /**
   * Also answer the block layer's own commands (blockdev-add, blockdev-del,
   * query-named-block-nodes) from `blockLayer`. Default true.
   */
  readonly blockLayerCommands?: boolean;
  /**
   * Where a failure inside a timer or after-reply work goes (a simulator bug: it never reaches a
   * client). Default: `console.error`. The job it happened in is left as it was.
   */
  readonly onInternalError?: (error: unknown) => void;
}

/** The name of the clock-stepping command (not in QEMU's schema). */
export const CLOCK_STEP_COMMAND = 'x-qmpkit-clock-step';

type Kind = 'mirror' | 'stream' | 'commit' | 'backup' | 'create';

interface Driver {
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

interface NextEvent {
  readonly at: number;
  readonly kind: 'error' | 'land' | 'end';
  readonly chunk: number;
}

function commandError(cls: QapiErrorClass, desc: string): CommandError {
  return new CommandError(cls, desc);
}

function generic(desc: string): CommandError {
  return new CommandError('GenericError', desc);
}

/** QERR_INVALID_PARAMETER_VALUE. */
function invalidValue(name: string, expected: string): CommandError {
  return generic(`Parameter '${name}' expects ${expected}`);
}

function blockNode(layer: BlockLayer, name: string): BlockNode {
  return layer.lookupNode(name);
}

/** bdrv_lookup_bs(NULL, node_name): the message names no device. */
function nodeByName(layer: BlockLayer, name: string): BlockNode {
  const node = layer.findNode(name);
  if (node === undefined) throw generic(`Cannot find device='' nor node-name='${name}'`);
  return node;
}

function chainContains(top: BlockNode, node: BlockNode): boolean {
  for (let n: BlockNode | undefined = top; n !== undefined; n = n.backing) {
    if (n === node) return true;
  }
  return false;
}

function bottomOf(node: BlockNode): BlockNode {
  let n = node;
  while (n.backing !== undefined) n = n.backing;
  return n;
}

function overlayOf(top: BlockNode, node: BlockNode): BlockNode | undefined {
  for (let n: BlockNode | undefined = top; n !== undefined; n = n.backing) {
    if (n.backing === node) return n;
  }
  return undefined;
}

/**
 * The simulator: its `handlers` are QMP command handlers for @qmpkit/server. All job state lives
 * in the JobEngine; this object drives it.
 */
export class BlockJobSimulator {
  readonly blockLayer: BlockLayer;
  readonly engine: JobEngine;
  readonly clock: SimClock;
  readonly handlers: Readonly<Record<string, SimCommandHandler>>;
  readonly #ownsClock: boolean;
  readonly #nsPerByte: number;
  readonly #throughput: number;
  readonly #drivers = new Map<string, Driver>();
  /** Job op blockers per node, newest first (the reasons QEMU would print). */
  readonly #jobBlockers = new Map<BlockNode, string[]>();
  /** Nodes with a job's filter inserted above them (no longer root nodes), with a count. */
  readonly #filtered = new Map<BlockNode, number>();
  #sink: EventSink | undefined;
  readonly #onInternalError: (error: unknown) => void;
  #seq = 0;
  /** While a command runs: the work it hands to after its reply. */
  #deferred: Array<() => void> | undefined;
  /** While a command runs: work for the end of the command, still before its reply. */
  #soon: Array<() => void> | undefined;
  #closed = false;

  constructor(options: SimulatorOptions) {
    this.blockLayer = options.blockLayer;
    this.engine = options.engine ?? new JobEngine();
    this.#ownsClock = options.clock === undefined;
    this.clock = options.clock ?? new RealClock();
    const throughput = options.throughput ?? DEFAULT_THROUGHPUT;
    if (!(throughput > 0)) throw new RangeError('throughput must be positive');
    this.#throughput = throughput;
    this.#nsPerByte = Number.isFinite(throughput) ? 1e9 / throughput : 0;
    this.#sink = options.onEvent;
    this.#onInternalError =
      options.onInternalError ??
      ((error) => console.error('block-job-sim: internal error in a job driver:', error));
    this.handlers = this.#buildHandlers(options.blockLayerCommands !== false);
  }

  /**
   * Runs one command without a server: its before-reply events go to the sink, then its
   * after-reply work runs, then the return value comes back (or its CommandError is thrown).
   */
  execute(command: string, args: object = {}): unknown {
    const handler = this.handlers[command];
    if (handler === undefined) {
      throw new CommandError('CommandNotFound', `The command ${command} has not been found`);
    }
    const after: Array<() => void> = [];
    try {
      return (handler as (a: object, c: SimCommandContext) => unknown)(args, {
        afterReply: (callback) => after.push(callback),
      });
    } finally {
      for (const callback of after) callback();
    }
  }

  /** Where events go from now on. */
  setEventSink(sink: EventSink | undefined): void {
    this.#sink = sink;
  }

  /** Stops every timer; the simulator does nothing afterwards. */
  close(): void {
    this.#closed = true;
    for (const d of this.#drivers.values()) this.#cancelTimer(d);
    if (this.#ownsClock && this.clock instanceof RealClock) this.clock.close();
  }

  // ---- command plumbing -----------------------------------------------------------------------

  #buildHandlers(blockLayerCommands: boolean): Record<string, SimCommandHandler> {
    const h: Record<string, SimCommandHandler> = Object.create(null);
    const add = <A>(name: string, run: (args: A) => unknown) => {
      h[name] = ((args: A, context?: SimCommandContext) =>
        this.#command(context, () => run(args))) as SimCommandHandler;
    };
    if (blockLayerCommands) {
      add<BlockdevOptions>('blockdev-add', (a) => {
        this.blockLayer.add(a);
        return {};
      });
      add<{ 'node-name': string }>('blockdev-del', (a) => {
        this.blockLayer.del(a['node-name']);
        return {};
      });
      add<{ flat?: boolean }>('query-named-block-nodes', (a) =>
        this.blockLayer.queryNamedBlockNodes(a.flat ?? false),
      );
    }
    add<BlockdevMirrorArgs>('blockdev-mirror', (a) => this.#blockdevMirror(a));
    add<BlockCommitArgs>('block-commit', (a) => this.#blockCommit(a));
    add<BlockStreamArgs>('block-stream', (a) => this.#blockStream(a));
    add<BlockdevBackup>('blockdev-backup', (a) =>
      this.#transaction({ actions: [{ type: 'blockdev-backup', data: a }] }),
    );
    add<DriveBackup>('drive-backup', (a) =>
      this.#transaction({ actions: [{ type: 'drive-backup', data: a }] }),
    );
    add<DriveMirror>('drive-mirror', (a) => this.#driveMirror(a));
    add<TransactionArgs>('transaction', (a) => this.#transaction(a));
    add<BlockdevCreateArgs>('blockdev-create', (a) => this.#blockdevCreate(a));
    for (const name of [
      'job-pause',
      'job-resume',
      'job-cancel',
      'job-complete',
      'job-finalize',
      'job-dismiss',
      'block-job-pause',
      'block-job-resume',
      'block-job-cancel',
      'block-job-complete',
      'block-job-finalize',
      'block-job-dismiss',
      'block-job-set-speed',
    ] as const) {
      add<Record<string, unknown>>(name, (a) => this.#verb(name, a));
    }
    add('query-jobs', () => this.engine.queryJobs());
    add('query-block-jobs', () => this.engine.queryBlockJobs());
    // Only a virtual clock can be stepped; on real time the command does not exist (and a
    // server that accepts only schema commands needs no schema extension).
    if (this.clock instanceof VirtualClock) {
      add<Record<string, unknown>>(CLOCK_STEP_COMMAND, (a) => this.#clockStep(a));
    }
    return h;
  }

  /**
   * Runs one command: due timers first, every job's progress brought up to now, the command,
   * then every driver brought in line with what the command did to its job. Work the command
   * defers goes to `context.afterReply` (or runs right after, without a context).
   */
  #command(context: SimCommandContext | undefined, run: () => unknown): unknown {
    if (this.#closed) throw generic('The simulator is closed');
    if (this.#deferred !== undefined) throw generic('A command is already running');
    this.clock.runDue();
    this.#syncAll();
    const deferred: Array<() => void> = [];
    const soon: Array<() => void> = [];
    this.#deferred = deferred;
    this.#soon = soon;
    let result: unknown;
    try {
      try {
        result = run();
      } finally {
        // Main-loop work the command's own polling runs (a backup's block-copy requests).
        this.#soon = undefined;
        for (let i = 0; i < soon.length; i++) (soon[i] as () => void)();
      }
    } finally {
      this.#deferred = undefined;
      this.#reconcileAll();
      const after = this.#guarded(() => {
        // Deferred work may defer more (it then runs at once: we are past the reply).
        for (let i = 0; i < deferred.length; i++) (deferred[i] as () => void)();
        this.#reconcileAll();
      });
      if (deferred.length > 0) {
        if (context !== undefined) context.afterReply(after);
        else after();
      }
    }
    return result ?? {};
  }

  /** `fn`, with a failure reported instead of thrown into the host's event loop. */
  #guarded(fn: () => void): () => void {
    return () => {
      if (this.#closed) return;
      try {
        fn();
      } catch (error) {
        this.#onInternalError(error);
      }
    };
  }

  /** Runs `fn` after the reply of the command being handled, or now outside a command. */
  #defer(fn: () => void): void {
    if (this.#deferred !== undefined) this.#deferred.push(fn);
    else fn();
  }

  #emit(event: string, data: unknown): void {
    this.#sink?.(event, data);
  }

  /** Carries out an engine result's effects; throws its error as the command's. */
  #apply(result: JobResult): void {
    this.#applyEffects(result.effects);
    if (!result.ok) throw commandError(result.error.class, result.error.desc);
  }

  #applyEffects(effects: readonly Effect[]): void {
    for (const effect of effects) {
      switch (effect.type) {
        case 'event':
          this.#emit(effect.event, effect.data);
          break;
        case 'halt': {
          const d = this.#drivers.get(effect.id);
          if (d !== undefined) this.#stopPlan(d);
          break;
        }
        case 'clean': {
          const d = this.#drivers.get(effect.id);
          if (d !== undefined) this.#clean(d);
          break;
        }
        case 'enter': {
          const d = this.#drivers.get(effect.id);
          if (d === undefined) break;
          const reason = effect.reason;
          if (effect.when === 'after-reply') this.#defer(() => this.#enter(d, reason, true));
          else this.#enter(d, reason, false);
          break;
        }
      }
    }
  }

  // ---- job verbs, queries, the clock ----------------------------------------------------------

  #verb(name: Parameters<JobEngine['execute']>[0], args: Record<string, unknown>): unknown {
    if (name === 'job-cancel' || name === 'block-job-cancel') {
      const id = (name === 'job-cancel' ? args.id : args.device) as string;
      const d = this.#drivers.get(id);
      if (d !== undefined)
        this.#beforeBackupCancel(d, name === 'job-cancel' || args.force === true);
    }
    if (name === 'job-complete' || name === 'block-job-complete') {
      // mirror_complete(): the node `replaces` named must still exist.
      const id = (name === 'job-complete' ? args.id : args.device) as string;
      const replaces = this.#drivers.get(id)?.replaces;
      if (replaces !== undefined && this.blockLayer.findNode(replaces) === undefined) {
        const options = { missingReplacesNode: replaces };
        this.#apply(
          name === 'job-complete'
            ? this.engine.jobComplete(id, options)
            : this.engine.blockJobComplete(id, options),
        );
        return {};
      }
    }
    const result = this.engine.execute(name, args as never);
    this.#apply(result);
    return {};
  }

  /**
   * A backup stopped by an I/O error waits at backup_loop's pause point, between two
   * block-copy calls: cancelled, it wakes up and starts a new call before it sees the cancel,
   * and whatever that call can copy at once (all of it when unthrottled, on instant I/O) is
   * copied first, as QEMU reports in BLOCK_JOB_CANCELLED. A backup paused inside a call (in
   * job_yield) copies nothing more: backup's cancel cancels the call.
   */
  #beforeBackupCancel(d: Driver, force: boolean): void {
    if (d.kind !== 'backup' || d.endless || !d.betweenCalls) return;
    const snap = this.engine.job(d.id);
    if (snap === undefined || snap.run !== 'parked' || (!force && snap.userPaused)) return;
    if (snap.status !== 'paused') return;
    this.#newPlan(d, this.clock.now(), d.limiter, false);
    d.planLive = true;
    this.#syncTo(d, this.clock.now());
    this.#stopPlan(d);
  }

  #clockStep(args: Record<string, unknown>): unknown {
    for (const key of Object.keys(args)) {
      if (key !== 'ns') throw generic(`Parameter '${key}' is unexpected`);
    }
    const ns = args.ns;
    if (ns === undefined) throw generic("Parameter 'ns' is missing");
    if (typeof ns !== 'number' || !Number.isSafeInteger(ns)) {
      throw generic("Invalid parameter type for 'ns', expected: integer");
    }
    if (ns < 0) throw invalidValue('ns', 'a non-negative value');
    if (!(this.clock instanceof VirtualClock)) {
      throw generic(`${CLOCK_STEP_COMMAND} needs the simulator to run on a virtual clock`);
    }
    // Timers run as the main loop would run them, outside any command: what they defer
    // happens at once, in time order, before this command's reply.
    const deferred = this.#deferred;
    const soon = this.#soon;
    this.#deferred = undefined;
    this.#soon = undefined;
    try {
      this.clock.advanceNs(ns);
    } finally {
      this.#deferred = deferred;
      this.#soon = soon;
    }
    return {};
  }

  // ---- job creation ---------------------------------------------------------------------------

  /** qmp_get_root_bs(). */
  #rootNode(name: string): BlockNode {
    const node = blockNode(this.blockLayer, name);
    if (!this.#isRoot(node)) throw generic('Need a root block node');
    return node;
  }

  /**
   * bdrv_op_is_blocked() for the operations a backing-file blocker leaves open (commit target,
   * stream, backup source and target): only a job's blocker refuses them.
   */
  #assertOpenToJobs(node: BlockNode): void {
    const reason = this.#jobBlockers.get(node)?.[0];
    if (reason !== undefined) throw generic(`Node '${node.nodeName}' is busy: ${reason}`);
  }

  #isRoot(node: BlockNode): boolean {
    return this.blockLayer.parentsOf(node).length === 0 && !this.#filtered.has(node);
  }

  /** block_job_create(): the engine's create, with the job's nodes marked on success. */
  #createJob(options: {
    id: string | undefined;
    type: JobType;
    activeCommit?: boolean;
    transaction?: JobTransaction | undefined;
    autoFinalize?: boolean | undefined;
    autoDismiss?: boolean | undefined;
    speed?: number | undefined;
  }): string {
    const id = options.id ?? '';
    const result = this.engine.create({
      id,
      type: options.type,
      ...(options.activeCommit === true ? { activeCommit: true } : {}),
      ...(options.transaction !== undefined ? { transaction: options.transaction } : {}),
      ...(options.autoFinalize !== undefined ? { autoFinalize: options.autoFinalize } : {}),
      ...(options.autoDismiss !== undefined ? { autoDismiss: options.autoDismiss } : {}),
      ...(options.speed !== undefined ? { speed: options.speed } : {}),
    });
    this.#apply(result);
    return id;
  }

  #newDriver(
    id: string,
    kind: Kind,
    parts: {
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
    },
  ): Driver {
    const layer = this.blockLayer;
    const type = this.engine.job(id)?.type ?? kind;
    const release: Array<() => void> = [];
    for (const a of parts.attached ?? []) {
      if (a.blocker !== false) {
        const reason = jobBlockerReason(type);
        release.push(layer.block(a.node, reason));
        const list = this.#jobBlockers.get(a.node) ?? [];
        list.unshift(reason);
        this.#jobBlockers.set(a.node, list);
        release.push(() => {
          const at = list.indexOf(reason);
          if (at >= 0) list.splice(at, 1);
          if (list.length === 0) this.#jobBlockers.delete(a.node);
        });
      }
      if (a.backend === true) release.push(layer.attachBackend(a.node));
    }
    if (parts.filterOn !== undefined) {
      const node = parts.filterOn;
      this.#filtered.set(node, (this.#filtered.get(node) ?? 0) + 1);
      release.push(() => {
        const n = (this.#filtered.get(node) ?? 1) - 1;
        if (n <= 0) this.#filtered.delete(node);
        else this.#filtered.set(node, n);
      });
    }
    const work = parts.work ?? new WorkList([], 1);
    const d: Driver = {
      id,
      kind,
      seq: this.#seq++,
      phase: 'copy',
      started: false,
      work,
      total: parts.total ?? work.totalCopy + work.totalSkip,
      immediate: parts.immediate ?? false,
      startError: parts.startError,
      endless: parts.endless ?? false,
      readNode: parts.read?.node,
      writeNode: parts.write?.node,
      readPoints: parts.read ? injectionPoints(parts.read.node, 'read') : [],
      writePoints: parts.write ? injectionPoints(parts.write.node, 'write') : [],
      readPolicy: parts.read?.policy ?? 'report',
      writePolicy: parts.write?.policy ?? 'report',
      writesReportAsRead: parts.writesReportAsRead ?? false,
      createOptions: parts.createOptions,
      replaces: parts.replaces,
      attached: (parts.attached ?? []).map((a) => a.node),
      release,
      released: false,
      group: parts.group,
      frontier: 0,
      applied: 0,
      limiter: newRateLimit(),
      plan: undefined,
      planLive: false,
      planLimiter: newRateLimit(),
      landing: undefined,
      errorsClearedTo: 0,
      ignoredError: undefined,
      progressBase: 0,
      failures: [],
      failedBytes: 0,
      betweenCalls: false,
      lazyStart: parts.lazyStart ?? kind === 'stream',
      firstOnly: false,
      kicked: false,
      sourceHasData: parts.read === undefined ? false : hasData(parts.read.node),
      latency:
        (parts.read !== undefined && (kind !== 'mirror' || hasData(parts.read.node))
          ? readLatencyOf(parts.read.node)
          : 0) + (parts.write !== undefined ? latencyOf(parts.write.node) : 0),
      wave: parts.wave ?? 1,
      instantIo:
        (parts.read === undefined || !reachesFile(parts.read.node)) &&
        (parts.write === undefined || !reachesFile(parts.write.node)),
      speed: this.engine.job(id)?.speed ?? 0,
      timer: undefined,
      timerAt: Number.NaN,
    };
    parts.group?.add(d);
    this.#drivers.set(id, d);
    return d;
  }

  /**
   * The job's clean step (JobDriver.clean): a backup drops its copy-before-write filter inside a
   * drained section of its source (bdrv_cbw_drop), so every other job on that node pauses and
   * resumes before the backup's terminal event.
   */
  #clean(d: Driver): void {
    if (d.kind !== 'backup' || d.readNode === undefined) return;
    this.#drainEnd(this.#drainBegin(d.readNode), true);
  }

  /** A job created but refused later by its command (never started): undo its marks. */
  #discard(id: string): void {
    const d = this.#drivers.get(id);
    if (d !== undefined) this.#releaseDriver(d);
  }

  #start(id: string): void {
    this.#apply(this.engine.start(id));
  }

  #blockdevMirror(a: BlockdevMirrorArgs): unknown {
    const bs = this.#rootNode(a.device);
    const target = blockNode(this.blockLayer, a.target);
    this.#mirrorCommon(a, bs, target, a.sync === 'full', undefined);
    return {};
  }

  /**
   * drive-mirror: like blockdev-mirror, but the target is an image file, created first (unless
   * `mode: existing`) and opened as a node of its own, which goes away with the job.
   */
  #driveMirror(a: DriveMirror): unknown {
    const layer = this.blockLayer;
    const bs = this.#rootNode(a.device);
    // Early check to avoid creating the target.
    layer.assertNotBusy(bs);
    const mode = a.mode ?? 'absolute-paths';
    const format = a.format ?? (mode === 'existing' ? undefined : bs.driver);
    let sync = a.sync;
    let targetBacking = bs.backing;
    if (targetBacking === undefined && sync === 'top') sync = 'full';
    if (sync === 'none') targetBacking = bs;
    if (a.replaces !== undefined && a['node-name'] === undefined) {
      throw generic('a node-name must be provided when replacing a named node of the graph');
    }
    if ((sync === 'full' || targetBacking === undefined) && mode !== 'existing') {
      this.#createImage(a.target, format as string, bs.length, undefined);
    } else if (mode === 'absolute-paths' && targetBacking !== undefined) {
      this.#createImage(a.target, format as string, bs.length, targetBacking);
    }
    const target = this.#openImage(a.target, format, a['node-name']);
    try {
      const zeroTarget = sync === 'full' && (mode === 'existing' || !hasZeroInit(target));
      this.#mirrorCommon({ ...a, sync }, bs, target, zeroTarget, () => this.#closeImage(target));
    } catch (error) {
      this.#closeImage(target);
      throw error;
    }
    return {};
  }

  /** blockdev_mirror_common() and mirror_start(). */
  #mirrorCommon(
    a: BlockdevMirrorArgs | DriveMirror,
    bs: BlockNode,
    target: BlockNode,
    zeroTarget: boolean,
    onRelease: (() => void) | undefined,
  ): void {
    const layer = this.blockLayer;
    const granularity = a.granularity ?? 0;
    if (granularity !== 0 && (granularity < 512 || granularity > 64 * MiB)) {
      throw invalidValue('granularity', 'a value in range [512B, 64MB]');
    }
    if ((granularity & (granularity - 1)) !== 0) {
      throw invalidValue('granularity', 'a power of 2');
    }
    layer.assertNotBusy(bs);
    layer.assertNotBusy(target);
    let sync = a.sync;
    if (bs.backing === undefined && sync === 'top') sync = 'full';
    if (a.replaces !== undefined) {
      const replaced = nodeByName(layer, a.replaces);
      if (replaced.length !== bs.length) {
        throw generic('cannot replace image with a mirror image of different size');
      }
    }
    if (sync === 'incremental' || sync === 'bitmap') {
      throw generic(`Sync mode '${sync}' not supported`);
    }
    const bufSize = a['buf-size'] ?? 0;
    if (bufSize < 0) throw generic("Invalid parameter 'buf-size'");
    if (bs === target) throw generic("Can't mirror node into itself");
    const filterName = 'filter-node-name' in a ? a['filter-node-name'] : undefined;
    if (filterName !== undefined && layer.findNode(filterName)) {
      throw generic(`Duplicate nodes with node-name='${filterName}'`);
    }
    const gran = granularity !== 0 ? granularity : defaultGranularity(target);
    const chunk = Math.ceil((bufSize === 0 ? MIRROR_BUFFER_SIZE : bufSize) / gran) * gran;
    const id = this.#createJob({
      id: a['job-id'],
      type: 'mirror',
      autoFinalize: a['auto-finalize'],
      autoDismiss: a['auto-dismiss'],
      speed: a.speed,
    });
    // mirror_dirty_init(): a target that must be zeroed (and cannot unmap) gets every byte;
    // otherwise only what the source chain (sync full) or its top (sync top) holds.
    let dirty: Extent[];
    if (sync === 'none') dirty = [];
    else if (sync === 'full' && zeroTarget) {
      dirty = bs.length > 0 ? [{ copy: true, length: bs.length }] : [];
    } else if (sync === 'full') dirty = copyOnly(allocatedInChain(layer, bs, undefined), bs.length);
    else dirty = copyOnly(allocatedInNode(layer, bs), bs.length);
    const work = new WorkList(dirty, chunk);
    const d = this.#newDriver(id, 'mirror', {
      work,
      ...(bs.length !== target.length
        ? { startError: 'Source and target image have different sizes' }
        : {}),
      read: { node: bs, policy: a['on-source-error'] ?? 'report' },
      write: { node: target, policy: a['on-target-error'] ?? 'report' },
      replaces: a.replaces,
      attached: [{ node: bs }, { node: target, backend: true }],
      filterOn: bs,
    });
    if (onRelease !== undefined) d.release.push(onRelease);
    this.#start(id);
  }

  /** bdrv_img_create(): an empty image of `format`, optionally over a backing image. */
  #createImage(path: string, format: string, size: number, backing: BlockNode | undefined): void {
    const layer = this.blockLayer;
    if (format !== 'raw' && format !== 'qcow2') {
      throw generic(`qmpkit does not simulate creating '${format}' images`);
    }
    layer.create({ driver: 'file', filename: path, size: format === 'raw' ? size : 0 });
    if (format === 'raw') return;
    // qcow2 is formatted through a node over the new file, as QEMU does, then let go.
    const helper = `qmpkit-create-${this.#seq++}`;
    layer.add({ driver: 'file', 'node-name': helper, filename: path });
    try {
      layer.create({
        driver: 'qcow2',
        file: helper,
        size,
        ...(backing !== undefined
          ? {
              'backing-file': layer.blockDeviceInfo(backing, true).file,
              'backing-fmt': backing.driver as 'qcow2',
            }
          : {}),
      });
    } finally {
      layer.del(helper);
    }
  }

  /**
   * bdrv_open() of an image file for a drive-* target (its backing file is not opened). QEMU
   * names such a node `#blockNNN`; the simulated block layer only takes user-style names, so
   * without `node-name` it is `qmpkit-target-N`. Without a format, qcow2 is recognized by its
   * header, anything else is raw.
   */
  #openImage(path: string, format: string | undefined, nodeName: string | undefined): BlockNode {
    const layer = this.blockLayer;
    const name = nodeName ?? `qmpkit-target-${this.#seq++}`;
    const open = (driver: string) =>
      layer.add({
        driver,
        'node-name': name,
        file: { driver: 'file', filename: path },
        ...(driver === 'qcow2' ? { backing: null } : {}),
      } as BlockdevOptions);
    if (format !== undefined) {
      if (format !== 'raw' && format !== 'qcow2') {
        throw generic(`qmpkit does not simulate opening '${format}' images`);
      }
      open(format);
    } else {
      try {
        open('qcow2');
      } catch {
        open('raw');
      }
    }
    return layer.lookupNode(name);
  }

  /** The drive-* target node goes away with its job (its last reference is dropped). */
  #closeImage(node: BlockNode): void {
    try {
      this.blockLayer.del(node.nodeName);
    } catch {
      // Someone else uses it now (a node on top of it): it stays, as QEMU would keep it.
    }
  }

  #blockCommit(a: BlockCommitArgs): unknown {
    const layer = this.blockLayer;
    let bs: BlockNode;
    try {
      bs = this.#rootNode(a.device);
    } catch (error) {
      if (layer.findNode(a.device) === undefined) {
        throw commandError('DeviceNotFound', `Device '${a.device}' not found`);
      }
      throw error;
    }
    layer.assertNotBusy(bs);
    let top: BlockNode | undefined = bs;
    if (a['top-node'] !== undefined && a.top !== undefined) {
      throw generic("'top-node' and 'top' are mutually exclusive");
    } else if (a['top-node'] !== undefined) {
      top = nodeByName(layer, a['top-node']);
      if (!chainContains(bs, top)) {
        throw generic(`'${a['top-node']}' is not in this backing file chain`);
      }
    } else if (a.top !== undefined) {
      top = this.#findBackingImage(bs, a.top, true);
    }
    if (top === undefined) throw generic(`Top image file ${a.top ?? 'NULL'} not found`);
    let base: BlockNode | undefined;
    if (a['base-node'] !== undefined && a.base !== undefined) {
      throw generic("'base-node' and 'base' are mutually exclusive");
    } else if (a['base-node'] !== undefined) {
      base = nodeByName(layer, a['base-node']);
      if (!chainContains(top, base)) {
        throw generic(`'${a['base-node']}' is not in this backing file chain`);
      }
    } else if (a.base !== undefined) {
      base = this.#findBackingImage(top, a.base, false);
      if (base === undefined) throw generic(`Can't find '${a.base}' in the backing chain`);
    } else {
      base = bottomOf(top);
    }
    for (let n: BlockNode | undefined = top; n !== undefined && n !== base.backing; n = n.backing) {
      this.#assertOpenToJobs(n);
    }
    if (top === base) throw generic('cannot commit an image into itself');
    const speed = a.speed;
    if (top === bs) {
      if (a['backing-file'] !== undefined) {
        throw generic("'backing-file' specified, but 'top' is the active layer");
      }
      // Active commit: the mirror engine, type commit, with a ready phase.
      const id = this.#createJob({
        id: a['job-id'],
        type: 'commit',
        activeCommit: true,
        autoFinalize: a['auto-finalize'],
        autoDismiss: a['auto-dismiss'],
        speed,
      });
      const dirty = copyOnly(allocatedInChain(layer, top, base), top.length);
      const intermediates: { node: BlockNode }[] = [];
      for (let n = top.backing; n !== undefined && n !== base; n = n.backing) {
        intermediates.push({ node: n });
      }
      this.#newDriver(id, 'mirror', {
        work: new WorkList(dirty, MIRROR_BUFFER_SIZE),
        read: { node: top, policy: a['on-error'] ?? 'report' },
        write: { node: base, policy: a['on-error'] ?? 'report' },
        attached: [{ node: top }, { node: base, backend: true }, ...intermediates],
        filterOn: top,
      });
      this.#start(id);
      return {};
    }
    const overlay = overlayOf(bs, top);
    if (overlay !== undefined) this.#assertOpenToJobs(overlay);
    const id = this.#createJob({
      id: a['job-id'],
      type: 'commit',
      autoFinalize: a['auto-finalize'],
      autoDismiss: a['auto-dismiss'],
      speed,
    });
    const copy = allocatedInChain(layer, top, base);
    const chain: { node: BlockNode; backend?: boolean }[] = [];
    for (let n: BlockNode | undefined = top; n !== undefined && n !== base; n = n.backing) {
      chain.push(n === top ? { node: n, backend: true } : { node: n });
    }
    this.#newDriver(id, 'commit', {
      work: new WorkList(extentsOf(top.length, copy), COMMIT_CHUNK_SIZE),
      read: { node: top, policy: a['on-error'] ?? 'report' },
      write: { node: base, policy: a['on-error'] ?? 'report' },
      attached: [{ node: bs }, ...chain, { node: base, backend: true }],
    });
    this.#start(id);
    return {};
  }

  /** bdrv_find_backing_image() by the displayed filename (or node name) of a chain member. */
  #findBackingImage(top: BlockNode, name: string, includeTop: boolean): BlockNode | undefined {
    for (let n: BlockNode | undefined = includeTop ? top : top.backing; n; n = n.backing) {
      if (n.nodeName === name || this.blockLayer.blockDeviceInfo(n, true).file === name) return n;
      if (n.file?.filename === name) return n;
    }
    return undefined;
  }

  #blockStream(a: BlockStreamArgs): unknown {
    const layer = this.blockLayer;
    if (a.base !== undefined && a['base-node'] !== undefined) {
      throw generic("'base' and 'base-node' cannot be specified at the same time");
    }
    if (a.base !== undefined && a.bottom !== undefined) {
      throw generic("'base' and 'bottom' cannot be specified at the same time");
    }
    if (a.bottom !== undefined && a['base-node'] !== undefined) {
      throw generic("'bottom' and 'base-node' cannot be specified at the same time");
    }
    const bs = blockNode(layer, a.device);
    let base: BlockNode | undefined;
    if (a.base !== undefined) {
      base = this.#findBackingImage(bs, a.base, false);
      if (base === undefined) throw generic(`Can't find '${a.base}' in the backing chain`);
    }
    if (a['base-node'] !== undefined) {
      base = nodeByName(layer, a['base-node']);
      if (bs === base || !chainContains(bs, base)) {
        throw generic(`Node '${a['base-node']}' is not a backing image of '${a.device}'`);
      }
    }
    let bottom: BlockNode | undefined;
    if (a.bottom !== undefined) {
      bottom = nodeByName(layer, a.bottom);
      if (!chainContains(bs, bottom)) {
        throw generic(`Node '${a.bottom}' is not in a chain starting from '${a.device}'`);
      }
      base = bottom.backing;
    }
    for (let n: BlockNode | undefined = bs; n !== undefined && n !== base; n = n.backing) {
      this.#assertOpenToJobs(n);
    }
    if (base === undefined && a['backing-file'] !== undefined) {
      throw generic('backing file specified, but streaming the entire chain');
    }
    const id = this.#createJob({
      id: a['job-id'],
      type: 'stream',
      autoFinalize: a['auto-finalize'],
      autoDismiss: a['auto-dismiss'],
      speed: a.speed,
    });
    // Nothing between the device and the base: stream_run returns at once.
    const immediate = bs.backing === base;
    const intermediates = allocatedInChain(layer, bs.backing, base);
    const copy = subtractRanges(intermediates, allocatedInNode(layer, bs));
    const attached: { node: BlockNode }[] = [{ node: bs }];
    for (let n = bs.backing; n !== undefined && n !== base; n = n.backing)
      attached.push({ node: n });
    this.#newDriver(id, 'stream', {
      work: immediate
        ? new WorkList([], STREAM_CHUNK_SIZE)
        : new WorkList(extentsOf(bs.length, copy), STREAM_CHUNK_SIZE),
      ...(immediate ? { total: 0, immediate: true } : {}),
      read: { node: bs, policy: a['on-error'] ?? 'report' },
      writesReportAsRead: true,
      attached,
      filterOn: bs,
    });
    this.#start(id);
    return {};
  }

  #blockdevCreate(a: BlockdevCreateArgs): unknown {
    const id = this.#createJob({ id: a['job-id'], type: 'create' });
    this.#newDriver(id, 'create', { createOptions: a.options, total: 1 });
    this.#start(id);
    return {};
  }

  /**
   * qmp_transaction(), also behind blockdev-backup: drain everything, prepare each action
   * (a backup is created on its drained source), start the jobs, or roll back on the first
   * failure; then end each action's drained section.
   */
  #transaction(a: TransactionArgs): unknown {
    const mode = a.properties?.['completion-mode'] ?? 'individual';
    const txn = mode === 'grouped' ? this.engine.newTransaction() : undefined;
    const group = mode === 'grouped' ? new Set<Driver>() : undefined;
    // bdrv_drain_all(): a drained section over every node, begun and ended.
    this.#drainEnd(this.#drainBegin(undefined), false);
    const states: Array<{ jobId?: string; drained?: Driver[] }> = [];
    let failure: unknown;
    for (const action of a.actions) {
      const state: { jobId?: string; drained?: Driver[] } = {};
      states.push(state);
      try {
        this.#prepareAction(action, mode, txn, group, state);
      } catch (error) {
        failure = error;
        break;
      }
    }
    if (failure === undefined) {
      for (const state of states) if (state.jobId !== undefined) this.#start(state.jobId);
    } else {
      for (const state of [...states].reverse()) {
        if (state.jobId !== undefined && this.engine.has(state.jobId)) {
          this.#applyEffects(this.engine.rollback(state.jobId).effects);
          this.#discard(state.jobId);
        }
      }
    }
    for (const state of states) if (state.drained) this.#drainEnd(state.drained, true);
    if (failure !== undefined) throw failure;
    return {};
  }

  #prepareAction(
    action: TransactionAction,
    mode: string,
    txn: JobTransaction | undefined,
    group: Set<Driver> | undefined,
    state: { jobId?: string; drained?: Driver[] },
  ): void {
    switch (action.type) {
      case 'abort':
        throw generic('Transaction aborted using Abort action');
      case 'blockdev-backup':
        this.#prepareBackup(action.data, txn, group, state);
        return;
      case 'drive-backup':
        this.#prepareDriveBackup(action.data, txn, group, state);
        return;
      default:
        if (mode !== 'individual') {
          throw generic(
            `Action '${action.type}' does not support Transaction property completion-mode = ${mode}`,
          );
        }
        throw generic(`qmpkit does not simulate the transaction action '${action.type}'`);
    }
  }

  #prepareBackup(
    b: BlockdevBackup,
    txn: JobTransaction | undefined,
    group: Set<Driver> | undefined,
    state: { jobId?: string; drained?: Driver[] },
  ): void {
    const layer = this.blockLayer;
    const bs = blockNode(layer, b.device);
    const target = blockNode(layer, b.target);
    // bdrv_drained_begin(bs), ended by the action's clean().
    state.drained = this.#drainBegin(bs);
    this.#backupCommon(b, bs, target, txn, group, state, undefined);
  }

  /** drive_backup_prepare(): the target image is created (unless existing) and opened. */
  #prepareDriveBackup(
    b: DriveBackup,
    txn: JobTransaction | undefined,
    group: Set<Driver> | undefined,
    state: { jobId?: string; drained?: Driver[] },
  ): void {
    const mode = b.mode ?? 'absolute-paths';
    const bs = blockNode(this.blockLayer, b.device);
    state.drained = this.#drainBegin(bs);
    const format = b.format ?? (mode === 'existing' ? undefined : bs.driver);
    // Early check to avoid creating the target.
    this.#assertOpenToJobs(bs);
    let sync = b.sync;
    let source: BlockNode | undefined;
    if (sync === 'top') {
      source = bs.backing;
      if (source === undefined) sync = 'full';
    }
    if (sync === 'none') source = bs;
    if (mode !== 'existing') this.#createImage(b.target, format as string, bs.length, source);
    const target = this.#openImage(b.target, format, undefined);
    try {
      this.#backupCommon({ ...b, sync }, bs, target, txn, group, state, () =>
        this.#closeImage(target),
      );
    } catch (error) {
      if (state.jobId === undefined) this.#closeImage(target);
      throw error;
    }
  }

  /** do_backup_common() and backup_job_create(). */
  #backupCommon(
    b: BackupCommon,
    bs: BlockNode,
    target: BlockNode,
    txn: JobTransaction | undefined,
    group: Set<Driver> | undefined,
    state: { jobId?: string; drained?: Driver[] },
    onRelease: (() => void) | undefined,
  ): void {
    const layer = this.blockLayer;
    this.#checkBackupOptions(b);
    if (bs === target) throw generic('Source and target cannot be the same');
    if (b.compress === true && target.driver !== 'qcow2') {
      throw generic('Compression is not supported for this drive ');
    }
    this.#assertOpenToJobs(bs);
    this.#assertOpenToJobs(target);
    const perf = b['x-perf'];
    const maxWorkers = perf?.['max-workers'] ?? 64;
    if (maxWorkers < 1 || maxWorkers > 2147483647) {
      throw generic('max-workers must be between 1 and 2147483647');
    }
    const maxChunk = perf?.['max-chunk'] ?? 0;
    if (maxChunk < 0) {
      throw generic('max-chunk must be zero (which means no limit) or positive');
    }
    if (bs.length !== target.length) {
      throw generic('Source and target image have different sizes');
    }
    if (b['filter-node-name'] !== undefined && layer.findNode(b['filter-node-name'])) {
      throw generic(`Duplicate nodes with node-name='${b['filter-node-name']}'`);
    }
    const cluster = Math.max(64 * 1024, target.qcow2?.clusterSize ?? 0);
    if (maxChunk !== 0 && maxChunk < cluster) {
      throw generic(
        `Required max-chunk (${maxChunk}) is less than backup cluster size (${cluster})`,
      );
    }
    const id = this.#createJob({
      id: b['job-id'],
      type: 'backup',
      transaction: txn,
      autoFinalize: b['auto-finalize'],
      autoDismiss: b['auto-dismiss'],
      speed: b.speed,
    });
    state.jobId = id;
    const chunk = Math.max(
      cluster,
      maxChunk !== 0 ? Math.min(BACKUP_CHUNK_SIZE, maxChunk) : BACKUP_CHUNK_SIZE,
    );
    let work: WorkList;
    let total: number;
    const sync = b.sync;
    if (sync === 'top' && bs.backing !== undefined) {
      work = new WorkList(copyOnly(allocatedInNode(layer, bs), bs.length), chunk);
      total = work.totalCopy;
    } else if (sync === 'none') {
      work = new WorkList([], chunk);
      total = bs.length;
    } else {
      work = new WorkList(bs.length > 0 ? [{ copy: true, length: bs.length }] : [], chunk);
      total = bs.length;
    }
    const d = this.#newDriver(id, 'backup', {
      work,
      total,
      endless: sync === 'none',
      lazyStart: sync === 'top' && bs.backing !== undefined,
      // block-copy keeps max-workers requests in flight, and has one more ready to go.
      wave: maxWorkers + 1,
      read: { node: bs, policy: b['on-source-error'] ?? 'report' },
      write: { node: target, policy: b['on-target-error'] ?? 'report' },
      attached: [{ node: bs, blocker: false }, { node: target }],
      filterOn: bs,
      group,
    });
    if (onRelease !== undefined) d.release.push(onRelease);
    // The job's nodes are drained: it holds that pause from its creation.
    this.#applyEffects(this.engine.pauseInternal(id).effects);
    state.drained?.push(d);
  }

  #checkBackupOptions(b: BackupCommon): void {
    let sync = b.sync;
    if ((sync === 'bitmap' || sync === 'incremental') && b.bitmap === undefined) {
      throw generic(`must provide a valid bitmap name for '${sync}' sync mode`);
    }
    if (sync === 'incremental') {
      if (b['bitmap-mode'] !== undefined && b['bitmap-mode'] !== 'on-success') {
        throw generic("Bitmap sync mode must be 'on-success' when using sync mode 'incremental'");
      }
      sync = 'bitmap';
    }
    if (b.bitmap !== undefined) throw generic(`Bitmap '${b.bitmap}' could not be found`);
    if (b['bitmap-mode'] !== undefined) {
      throw generic('Cannot specify bitmap sync mode without a bitmap');
    }
  }

  // ---- drained sections -----------------------------------------------------------------------

  /**
   * bdrv_drained_begin() on `node` (or every node): each job working on it, or on a node above
   * it, takes an internal pause. An idle job parks at once; a busy one first finishes the chunk
   * it has in flight (the drain waits for it). Returns the jobs paused, to end the section.
   */
  #drainBegin(node: BlockNode | undefined): Driver[] {
    const affected: Driver[] = [];
    const above = node === undefined ? undefined : this.#selfAndAncestors(node);
    const drivers = [...this.#drivers.values()].filter(
      (d) => d.kind !== 'create' && !d.released && this.engine.has(d.id),
    );
    if (node !== undefined) {
      // One node: its parents list, newest first.
      drivers.reverse();
    } else {
      // Everything: node by node in creation order; a job pauses with the first node it uses.
      const order = new Map([...this.blockLayer.nodes()].reverse().map((n, i) => [n, i] as const));
      const first = (d: Driver) =>
        Math.min(...d.attached.map((n) => order.get(n) ?? Number.MAX_SAFE_INTEGER));
      drivers.sort((a, b) => first(a) - first(b) || a.seq - b.seq);
    }
    for (const d of drivers) {
      if (above !== undefined && !d.attached.some((n) => above.has(n))) continue;
      const snap = this.engine.job(d.id);
      if (snap === undefined || snap.run === 'exited') continue;
      this.#applyEffects(this.engine.pauseInternal(d.id).effects);
      affected.push(d);
      const now = this.engine.job(d.id);
      if (now?.run === 'busy' && d.plan !== undefined) {
        this.#finishChunkInFlight(d);
        this.#applyEffects(this.engine.pausePoint(d.id).effects);
        this.#reconcile(d);
      }
    }
    return affected;
  }

  #drainEnd(drivers: readonly Driver[], newestFirst: boolean): void {
    // bdrv_drained_end() of one node walks its parents newest first (jobs created inside the
    // section included); the end of a drain of everything goes in node order like its begin.
    const order = newestFirst ? [...drivers].sort((a, b) => b.seq - a.seq) : drivers;
    for (const d of order) {
      const snap = this.engine.job(d.id);
      if (snap === undefined || snap.pauseCount <= 0) continue;
      this.#applyEffects(this.engine.resumeInternal(d.id).effects);
    }
  }

  #selfAndAncestors(node: BlockNode): Set<BlockNode> {
    const out = new Set<BlockNode>([node]);
    const stack = [node];
    while (stack.length > 0) {
      const n = stack.pop() as BlockNode;
      for (const p of this.blockLayer.parentsOf(n)) {
        if (!out.has(p)) {
          out.add(p);
          stack.push(p);
        }
      }
    }
    return out;
  }

  // ---- the drivers ----------------------------------------------------------------------------

  /** The job's coroutine was entered (start, resume, cancel, complete, a faster speed). */
  #enter(d: Driver, reason: EnterReason, afterReply: boolean): void {
    const snap = this.engine.job(d.id);
    if (snap === undefined || snap.run !== 'busy' || !this.#drivers.has(d.id)) return;
    if (d.kind === 'create') {
      if (reason === 'start') this.#runCreate(d);
      return;
    }
    if (d.phase === 'ready') {
      if (snap.completeRequested || snap.cancelRequested) {
        if (afterReply) this.#finish(d, undefined);
        else this.#defer(() => this.#finishIfBusy(d));
      } else {
        this.#idle(d);
      }
      return;
    }
    if (snap.cancelled) {
      // A hard-cancelled mirror winds down; its exit drains the source, so after the reply.
      if (afterReply) this.#finish(d, undefined);
      else this.#defer(() => this.#finishIfBusy(d));
      return;
    }
    if (!d.started) {
      this.#startRun(d);
      return;
    }
    this.#resumeRun(d, d.kind !== 'backup');
  }

  /**
   * The job's coroutine gives up the CPU until it is entered again: a backup waits in job_yield
   * for block-copy (a new speed does not enter it; its set_speed kicks block-copy instead),
   * every other job sleeps on a timer in job_sleep_ns.
   */
  #idle(d: Driver): void {
    const result = d.kind === 'backup' ? this.engine.jobYield(d.id) : this.engine.sleep(d.id);
    this.#applyEffects(result.effects);
  }

  #finishIfBusy(d: Driver): void {
    const snap = this.engine.job(d.id);
    if (snap !== undefined && (snap.run === 'busy' || snap.run === 'sleeping')) {
      this.#finish(d, undefined);
    }
  }

  #startRun(d: Driver): void {
    d.started = true;
    if (d.startError !== undefined) {
      const message = d.startError;
      this.#defer(() => {
        const snap = this.engine.job(d.id);
        if (snap !== undefined && (snap.run === 'busy' || snap.run === 'sleeping')) {
          this.#finish(d, message);
        }
      });
      return;
    }
    if (d.total > 0)
      this.#applyEffects(this.engine.progress(d.id, { setRemaining: d.total }).effects);
    if (d.immediate) {
      this.#finish(d, undefined);
      return;
    }
    if (d.kind === 'mirror' && d.work.totalCopy === 0) {
      // Nothing dirty: READY before the reply.
      this.#converge(d);
      return;
    }
    if (d.endless) {
      this.#idle(d);
      return;
    }
    this.#resumeRun(d, true);
  }

  /** (Re)starts the copy loop at the job's frontier, now. */
  #resumeRun(d: Driver, forgetSleep: boolean): void {
    d.betweenCalls = false;
    if (d.endless) {
      this.#idle(d);
      return;
    }
    this.#stopPlan(d);
    this.#newPlan(d, this.clock.now(), d.limiter, forgetSleep);
    // A backup waits in job_yield while block-copy works, unless requests are in flight that a
    // pause must wait for (then it stays busy).
    if (d.kind === 'backup' && !this.#requestsInFlight(d)) {
      this.#idle(d);
    }
    this.#scheduleKickoff(d);
  }

  #requestsInFlight(d: Driver): boolean {
    return d.plan !== undefined && d.plan.quota === 0 && d.latency > 0;
  }

  #quotaFor(d: Driver): number {
    const speed = d.speed;
    if (speed <= 0 || speed >= this.#throughput) return 0;
    return sliceQuota(speed);
  }

  #newPlan(d: Driver, at: number, limiter: RateLimitState, forgetSleep: boolean): void {
    d.speed = this.engine.job(d.id)?.speed ?? d.speed;
    const quota = this.#quotaFor(d);
    const l: RateLimitState = { ...limiter };
    let start = at;
    if (quota > 0) {
      if (!forgetSleep && l.dispatched >= quota && l.sliceEnd >= at) {
        // block-copy asks the limiter before each request: a pending delay is still owed.
        start = Math.max(at, l.sliceStart + Math.trunc((l.dispatched / quota) * SLICE_NS));
      }
      if (l.sliceEnd < start) {
        l.sliceStart = start;
        l.sliceEnd = start + SLICE_NS;
        l.dispatched = 0;
      }
    }
    d.plan = {
      start,
      base: d.frontier,
      firstChunk: d.work.chunkIndexAt(d.frontier),
      quota,
      sigma: l.sliceStart,
      dispatched0: l.dispatched,
      nsPerByte: quota > 0 ? 0 : this.#nsPerByte,
      ...(quota === 0 && d.latency > 0
        ? {
            latency: d.latency,
            wave: d.wave,
            chunkIndexAt: (pos: number) => d.work.chunkIndexAt(pos),
          }
        : {}),
    };
    d.planLimiter = l;
    d.planLive = false;
    d.landing = undefined;
    d.firstOnly = false;
  }

  #scheduleKickoff(d: Driver): void {
    const plan = d.plan;
    if (plan === undefined) return;
    const kickoff = () => {
      if (d.plan !== plan || d.planLive) return;
      d.timer = undefined;
      d.planLive = true;
      d.kicked = true;
      this.#process(d);
      this.#reconcileGroup(d);
    };
    this.#cancelTimer(d);
    if (plan.start > this.clock.now()) {
      d.timerAt = plan.start;
      d.timer = this.clock.setTimer(plan.start, this.#guarded(kickoff));
    } else if (d.kind === 'mirror' && this.#deferred !== undefined) {
      // The mirror issues its first chunk before it sleeps (so its errors precede the reply);
      // the rest of the loop continues after the reply.
      d.firstOnly = true;
      kickoff();
      this.#defer(() => {
        if (d.plan !== plan || !d.firstOnly) return;
        d.firstOnly = false;
        this.#process(d);
        this.#reconcileGroup(d);
      });
    } else if (d.kind === 'backup' && d.instantIo && !(d.lazyStart && !d.kicked)) {
      // block-copy runs its requests within the command that wakes it (a drain's end, a kick
      // on set-speed), once the command's own work is done: on null-co they complete at once,
      // so the work is done before the reply. File I/O completes in later main-loop turns.
      if (this.#soon !== undefined) this.#soon.push(kickoff);
      else kickoff();
    } else {
      // A stream first sleeps (job_sleep_ns(0)); a backup with sync=top first walks the
      // allocation: their work starts in a later main-loop turn, after the reply.
      this.#defer(kickoff);
    }
  }

  /** Ends the current plan at the job's frontier, keeping the limiter's accounting. */
  #stopPlan(d: Driver): void {
    this.#cancelTimer(d);
    if (d.plan !== undefined && d.planLive) {
      d.limiter = rateLimitAfter(d.plan, d.frontier, d.planLimiter);
    }
    d.plan = undefined;
    d.planLive = false;
    d.landing = undefined;
  }

  #cancelTimer(d: Driver): void {
    if (d.timer !== undefined) {
      d.timer();
      d.timer = undefined;
    }
    d.timerAt = Number.NaN;
  }

  /** The next thing that changes the job's state: an injected error, a landing, its end. */
  #nextEvent(d: Driver): NextEvent | undefined {
    const plan = d.plan;
    if (plan === undefined) return undefined;
    const work = d.work;
    let best: NextEvent | undefined;
    const consider = (e: NextEvent) => {
      if (best === undefined || e.at < best.at) best = e;
    };
    let error = this.#predictError(d, Math.max(plan.firstChunk, d.errorsClearedTo));
    if (error !== undefined && d.firstOnly && error > plan.firstChunk) error = undefined;
    if (error !== undefined) {
      consider({ at: chunkDoneAt(plan, work.chunk(error)), kind: 'error', chunk: error });
    }
    if (d.landing !== undefined && d.landing < work.chunkCount) {
      const at = chunkDoneAt(plan, work.chunk(d.landing));
      if (error === undefined || d.landing < error)
        consider({ at, kind: 'land', chunk: d.landing });
    }
    // While only the first chunk may run (before the command's reply), the run can still end if
    // that chunk is all there is and nothing makes the mirror yield: unthrottled, I/O that
    // completes at once. QEMU's loop then reaches its convergence check inside the command,
    // so a mirror of up to one buffer on null-co is ready before blockdev-mirror's reply.
    const endsInFirstChunk =
      d.instantIo && plan.quota === 0 && d.latency === 0 && work.chunkCount <= plan.firstChunk + 1;
    if (error === undefined && !d.endless && (!d.firstOnly || endsInFirstChunk)) {
      consider({ at: this.#endTime(d, plan), kind: 'end', chunk: work.chunkCount });
    }
    return best;
  }

  #endTime(d: Driver, plan: Plan): number {
    const work = d.work;
    if (d.kind === 'mirror' || (d.kind !== 'backup' && work.hasTrailingSkip)) {
      // Mirror sleeps the delay of its last chunk before it sees the source clean; stream and
      // commit sleep it before passing over a trailing unallocated stretch.
      return arriveAt(plan, work.totalCopy);
    }
    if (work.chunkCount <= plan.firstChunk) return plan.start;
    return chunkDoneAt(plan, work.chunk(work.chunkCount - 1));
  }

  /** Brings the job's progress up to time `t` (not past an unhandled event). */
  #syncTo(d: Driver, t: number): void {
    const plan = d.plan;
    if (plan === undefined || !d.planLive) return;
    const work = d.work;
    let limit = work.chunkCount;
    const error = this.#predictError(d, Math.max(plan.firstChunk, d.errorsClearedTo));
    if (error !== undefined) limit = Math.min(limit, error);
    if (d.landing !== undefined) limit = Math.min(limit, d.landing + 1);
    if (d.firstOnly) limit = Math.min(limit, plan.firstChunk + 1);
    const last = lastChunkDoneBy(work, plan, t, limit);
    let frontier = plan.base;
    if (last >= plan.firstChunk) {
      const c = work.chunk(last);
      frontier = c.pos + c.bytes;
    }
    const atLimit = frontier >= work.totalCopy ? false : work.chunkIndexAt(frontier) >= limit;
    const skipsDone = !atLimit && arriveAt(plan, frontier) <= t;
    if (frontier < d.frontier) return;
    d.frontier = frontier;
    this.#setProgress(d, this.#progressAt(d, frontier, skipsDone));
  }

  /** The job's progress with the loop at `frontier` (failed backup chunks not counted). */
  #progressAt(d: Driver, frontier: number, skipsDone: boolean): number {
    return d.progressBase + d.work.progressAt(frontier, skipsDone) - d.failedBytes;
  }

  #setProgress(d: Driver, progress: number): void {
    if (progress <= d.applied) return;
    const delta = progress - d.applied;
    d.applied = progress;
    this.#applyEffects(this.engine.progress(d.id, { workDone: delta }).effects);
  }

  /** Completes the chunk in flight now (a drain waits for it). */
  #finishChunkInFlight(d: Driver): void {
    const plan = d.plan;
    if (plan === undefined) return;
    const now = this.clock.now();
    if (d.planLive) this.#syncTo(d, now);
    const k = d.planLive ? chunkInFlightAt(d.work, plan, now) : plan.firstChunk;
    if (k >= d.work.chunkCount || k < plan.firstChunk) return;
    const error = this.#predictError(d, Math.max(plan.firstChunk, d.errorsClearedTo));
    if (error !== undefined && error <= k) return;
    // Every request of the wave in flight completes (with a latency, several go together).
    const last = waveEnd(plan, k, d.work.chunkCount);
    const c = d.work.chunk(error !== undefined && error <= last ? error - 1 : last);
    d.planLive = true;
    d.frontier = c.pos + c.bytes;
    this.#setProgress(d, this.#progressAt(d, d.frontier, false));
  }

  /** Runs the job's events that are due, then arms a timer for the next one. */
  #process(d: Driver): void {
    for (let guard = 0; guard < 1_000_000; guard++) {
      const plan = d.plan;
      if (plan === undefined || !d.planLive || !this.#drivers.has(d.id)) return;
      const now = this.clock.now();
      const event = this.#nextEvent(d);
      if (event === undefined) {
        this.#afterKickoff(d);
        return;
      }
      if (event.at > now) {
        this.#afterKickoff(d);
        if (d.plan !== plan) return;
        if (d.timer !== undefined && d.timerAt === event.at) return;
        this.#cancelTimer(d);
        d.timerAt = event.at;
        d.timer = this.clock.setTimer(
          event.at,
          this.#guarded(() => {
            d.timer = undefined;
            d.timerAt = Number.NaN;
            this.#process(d);
            this.#reconcileGroup(d);
          }),
        );
        return;
      }
      this.#syncGroup(d, event.at);
      this.#syncTo(d, event.at);
      switch (event.kind) {
        case 'end':
          if (d.kind === 'backup' && d.failures.length > 0) {
            this.#backupCallFailed(d);
            return;
          }
          this.#stopPlan(d);
          d.frontier = d.work.totalCopy;
          this.#setProgress(d, d.total > 0 ? this.#progressAt(d, d.work.totalCopy, true) : 0);
          if (d.kind === 'mirror') this.#converge(d);
          else this.#finish(d, d.ignoredError);
          return;
        case 'land': {
          const c = d.work.chunk(event.chunk);
          d.frontier = c.pos + c.bytes;
          this.#setProgress(d, this.#progressAt(d, d.frontier, false));
          this.#stopPlan(d);
          const snap = this.engine.job(d.id);
          if (snap?.cancelled) this.#finish(d, undefined);
          else this.#applyEffects(this.engine.pausePoint(d.id).effects);
          this.#reconcile(d);
          return;
        }
        case 'error':
          if (this.#injectError(d, event.chunk)) return;
          break;
      }
    }
  }

  /** A throttled job sleeps between its chunks (query-block-jobs shows busy: false). */
  #afterKickoff(d: Driver): void {
    if (d.plan === undefined || d.plan.quota === 0 || d.kind === 'backup') return;
    const snap = this.engine.job(d.id);
    if (snap?.run !== 'busy' || snap.cancelled) return;
    this.#idle(d);
    // With a pause pending the job parks instead (its plan then ends).
    if (this.engine.job(d.id)?.run === 'parked') this.#stopPlan(d);
  }

  /** The first chunk index >= from whose I/O an armed blkdebug rule would fail. */
  #predictError(d: Driver, from: number): number | undefined {
    if (d.readPoints.length === 0 && d.writePoints.length === 0) return undefined;
    const work = d.work;
    if (from >= work.chunkCount) return undefined;
    let best: number | undefined;
    const look = (points: readonly InjectionPoint[], iotype: 'read' | 'write') => {
      for (const point of points) {
        for (const rule of candidateRules(point, iotype)) {
          let index: number;
          // Without a known offset mapping (a qcow2 in between), every chunk is checked.
          if (rule.offset === -1 || point.shift === undefined) index = from;
          else {
            const pos = work.copyPositionOf(rule.offset - point.shift);
            if (pos === undefined) continue;
            index = work.chunkIndexAt(pos);
            if (index < from) continue;
          }
          if (best === undefined || index < best) best = index;
        }
      }
    };
    if (d.kind !== 'mirror' || d.sourceHasData) look(d.readPoints, 'read');
    look(d.writePoints, 'write');
    return best;
  }

  /** The chunk's requests go down the graph; returns true when the run stops. */
  #injectError(d: Driver, index: number): boolean {
    const chunk = d.work.chunk(index);
    const layer = this.blockLayer;
    let hit: { iotype: 'read' | 'write'; errno: number } | undefined;
    if (d.readNode !== undefined && (d.kind !== 'mirror' || d.sourceHasData)) {
      const failure = layer.requestError(d.readNode, 'read', chunk.device, chunk.bytes);
      if (failure !== undefined) hit = { iotype: 'read', errno: failure.errno };
    }
    if (hit === undefined && d.writeNode !== undefined) {
      const failure = layer.requestError(d.writeNode, 'write', chunk.device, chunk.bytes);
      if (failure !== undefined) hit = { iotype: 'write', errno: failure.errno };
    }
    d.errorsClearedTo = index + 1;
    if (hit === undefined) return false;
    if (d.kind === 'backup') {
      // block-copy goes on with the other chunks; the call fails when they are done, and the
      // chunk stays to copy (backup_loop retries it after ignore or stop).
      d.failures.push({ chunk: index, ...hit });
      d.failedBytes += chunk.bytes;
      return false;
    }
    return this.#errorAction(d, hit, index);
  }

  /** block_job_error_action() and what the job does next; true when its run stops here. */
  #errorAction(
    d: Driver,
    hit: { iotype: 'read' | 'write'; errno: number },
    retryChunk: number,
  ): boolean {
    const operation = hit.iotype === 'write' && !d.writesReportAsRead ? 'write' : 'read';
    const policy = hit.iotype === 'write' ? d.writePolicy : d.readPolicy;
    const result = this.engine.ioError(d.id, {
      operation,
      policy,
      ...(hit.errno === ENOSPC ? { nospace: true } : {}),
    });
    this.#applyEffects(result.effects);
    if (!result.ok) return true;
    const message = errnoMessage(hit.errno);
    switch (result.action) {
      case 'ignore':
        if (d.kind === 'stream') d.ignoredError ??= message;
        return false;
      case 'stop':
        // The request is retried after resume.
        d.errorsClearedTo = retryChunk;
        this.#stopPlan(d);
        this.#idle(d);
        this.#reconcile(d);
        return true;
      default:
        // The job's exit runs in a later main-loop turn: after the reply of a command.
        this.#stopPlan(d);
        this.#defer(() => this.#finish(d, message));
        return true;
    }
  }

  /**
   * A backup's block-copy call ended with failed chunks: the error action for the first, the
   * failed chunks become the work left (retried after ignore, or after resume from stop).
   */
  #backupCallFailed(d: Driver): void {
    const failures = d.failures;
    const first = failures[0] as { chunk: number; iotype: 'read' | 'write'; errno: number };
    const extents = failures.map((f) => d.work.chunk(f.chunk));
    this.#stopPlan(d);
    d.progressBase = d.applied;
    d.work = new WorkList(
      extents.map((c) => ({ copy: true, length: c.bytes, device: c.device })),
      d.work.chunkSize,
    );
    d.frontier = 0;
    d.failures = [];
    d.failedBytes = 0;
    d.errorsClearedTo = 0;
    const stopped = this.#errorAction(d, first, 0);
    d.betweenCalls = stopped;
    if (!stopped) {
      // ignore: backup_loop starts a new block-copy call at once.
      this.#defer(() => {
        if (this.engine.job(d.id)?.run === 'sleeping' || this.engine.job(d.id)?.run === 'busy') {
          this.#resumeRun(d, false);
        }
      });
    }
  }

  /** A mirror (or active commit) converged: READY, then it waits in its ready loop. */
  #converge(d: Driver): void {
    d.phase = 'ready';
    this.#applyEffects(this.engine.converged(d.id).effects);
    const snap = this.engine.job(d.id);
    if (snap?.run === 'busy') {
      if (snap.cancelled) {
        this.#defer(() => this.#finishIfBusy(d));
        return;
      }
      this.#idle(d);
    }
  }

  /** The job's run returned (with `error`, it failed). */
  #finish(d: Driver, error: string | undefined): void {
    this.#stopPlan(d);
    const snap = this.engine.job(d.id);
    if (snap === undefined || (snap.run !== 'busy' && snap.run !== 'sleeping')) return;
    this.#syncGroup(d, this.clock.now());
    this.#applyEffects(this.engine.runFinished(d.id, error !== undefined ? { error } : {}).effects);
    this.#reconcile(d);
    this.#reconcileGroup(d);
  }

  /**
   * blockdev-create's job: a refusal comes before the command's reply (the driver checks its
   * options before any I/O); a successful creation completes after it.
   */
  #runCreate(d: Driver): void {
    const snap = this.engine.job(d.id);
    if (snap === undefined || snap.run !== 'busy') return;
    this.#applyEffects(this.engine.progress(d.id, { setRemaining: 1 }).effects);
    let error: string | undefined;
    try {
      if (d.createOptions !== undefined) this.blockLayer.create(d.createOptions);
    } catch (caught) {
      error = CommandError.isInstance(caught)
        ? caught.desc
        : caught instanceof Error
          ? caught.message
          : String(caught);
    }
    const done = () => {
      if (this.engine.job(d.id)?.run !== 'busy') return;
      this.#applyEffects(this.engine.progress(d.id, { workDone: 1 }).effects);
      this.#applyEffects(
        this.engine.runFinished(d.id, error !== undefined ? { error } : {}).effects,
      );
      this.#reconcile(d);
    };
    if (error !== undefined) done();
    else this.#defer(done);
  }

  #syncAll(): void {
    const now = this.clock.now();
    for (const d of this.#drivers.values()) this.#syncTo(d, now);
  }

  #syncGroup(d: Driver, t: number): void {
    if (d.group === undefined) return;
    for (const other of d.group) if (other !== d) this.#syncTo(other, t);
  }

  #reconcileAll(): void {
    for (const d of [...this.#drivers.values()]) this.#reconcile(d);
  }

  #reconcileGroup(d: Driver): void {
    if (d.group === undefined) {
      this.#reconcile(d);
      return;
    }
    for (const member of [...d.group]) this.#reconcile(member);
  }

  /** Brings a driver in line with its job: gone, finalized, parked, or still running. */
  #reconcile(d: Driver): void {
    const snap = this.engine.job(d.id);
    if (snap === undefined) {
      this.#stopPlan(d);
      this.#releaseDriver(d);
      this.#drivers.delete(d.id);
      d.group?.delete(d);
      return;
    }
    if (snap.status === 'concluded') this.#releaseDriver(d);
    if (snap.run !== 'busy' && snap.run !== 'sleeping') {
      if (d.plan !== undefined) this.#stopPlan(d);
      return;
    }
    if (snap.speed !== d.speed) this.#speedChanged(d, snap);
    if (d.plan === undefined) return;
    this.#updateLanding(d, snap);
    if (d.planLive) this.#process(d);
  }

  #updateLanding(d: Driver, snap: JobSnapshot): void {
    const plan = d.plan;
    if (plan === undefined) return;
    // Only a job with a request in flight lands at a chunk boundary: an unthrottled one, or
    // one whose first chunk is still being issued. A throttled job between chunks sleeps and
    // the engine parks or wakes it itself.
    const inFlight = !d.planLive || plan.quota === 0;
    const stopping = inFlight && (snap.pauseCount > 0 || snap.cancelled) && snap.run === 'busy';
    if (!stopping) {
      d.landing = undefined;
      return;
    }
    if (d.landing !== undefined) return;
    const k = d.planLive ? chunkInFlightAt(d.work, plan, this.clock.now()) : plan.firstChunk;
    d.landing = k < d.work.chunkCount ? waveEnd(plan, k, d.work.chunkCount) : undefined;
  }

  /** A new speed applies from the next chunk the job issues (a faster one also woke it). */
  #speedChanged(d: Driver, snap: JobSnapshot): void {
    d.speed = snap.speed;
    const plan = d.plan;
    const now = this.clock.now();
    if (d.kind === 'backup' && plan !== undefined && !d.planLive) {
      // Still waiting out its limiter delay: ask the limiter again with the new quota.
      this.#stopPlan(d);
      this.#newPlan(d, now, d.limiter, false);
      this.#scheduleKickoff(d);
      return;
    }
    if (plan === undefined || !d.planLive) return;
    this.#syncTo(d, now);
    if (d.kind === 'backup') {
      // backup_set_speed() kicks block-copy, which asks the limiter again (with the new quota)
      // before its next request.
      this.#stopPlan(d);
      this.#newPlan(d, now, d.limiter, false);
      this.#scheduleKickoff(d);
      return;
    }
    let start: number;
    let limiter: RateLimitState;
    if (plan.quota > 0) {
      start = arriveAt(plan, d.frontier);
      limiter = rateLimitAfter(plan, d.frontier, d.planLimiter);
    } else {
      const k = chunkInFlightAt(d.work, plan, now);
      if (k >= d.work.chunkCount) return;
      start = chunkDoneAt(plan, d.work.chunk(k));
      limiter = d.limiter;
      const c = d.work.chunk(k);
      if (c.pos !== d.frontier) return;
    }
    this.#cancelTimer(d);
    this.#newPlan(d, Math.max(start, now), limiter, true);
    d.planLive = true;
    this.#process(d);
  }

  #releaseDriver(d: Driver): void {
    if (d.released) return;
    d.released = true;
    for (const release of d.release) release();
  }
}

/** Whether requests to the node reach an image file (asynchronous I/O in QEMU's thread pool). */
function reachesFile(node: BlockNode): boolean {
  const stack = [node];
  const seen = new Set<BlockNode>();
  while (stack.length > 0) {
    const n = stack.pop() as BlockNode;
    if (seen.has(n)) continue;
    seen.add(n);
    if (n.driver === 'file') return true;
    for (const child of n.children) stack.push(child.node);
  }
  return false;
}

/** bdrv_has_zero_init(): a new image reads as zeroes (qcow2, raw over a file; not null-co). */
function hasZeroInit(node: BlockNode): boolean {
  switch (node.driver) {
    case 'qcow2':
    case 'file':
      return true;
    case 'raw':
      return node.file !== undefined && hasZeroInit(node.file);
    default:
      return false;
  }
}

/** Whether reading the node reaches data (null-co reports none, so a mirror never reads it). */
function hasData(node: BlockNode): boolean {
  for (let n: BlockNode | undefined = node; n !== undefined; n = n.file) {
    if (n.driver === 'null-co') return false;
    if (n.driver === 'file') return true;
  }
  return true;
}

/**
 * The latency of one request on the node's data path: null-co's `latency-ns`, read from the
 * node's options (BlockNode does not carry it).
 */
function latencyOf(node: BlockNode): number {
  let total = 0;
  for (let n: BlockNode | undefined = node; n !== undefined; n = n.file) {
    if (n.driver !== 'null-co') continue;
    const options = (n as { readonly options?: Record<string, unknown> }).options;
    const latency = options?.['latency-ns'];
    if (typeof latency === 'number' && Number.isFinite(latency) && latency > 0) total += latency;
  }
  return total;
}

/** A read may be served by any image of the backing chain: the slowest one's latency. */
function readLatencyOf(node: BlockNode): number {
  let worst = 0;
  for (let n: BlockNode | undefined = node; n !== undefined; n = n.backing) {
    worst = Math.max(worst, latencyOf(n));
  }
  return worst;
}

function defaultGranularity(target: BlockNode): number {
  const cluster = target.qcow2?.clusterSize;
  if (cluster !== undefined) return Math.max(4096, cluster);
  return 65536;
}

/** What createSimulator returns: the handler map for @qmpkit/server and the parts behind it. */
export interface Simulation {
  readonly handlers: Readonly<Record<string, SimCommandHandler>>;
  /** BlockJobSimulator.execute: one command without a server. */
  execute(command: string, args?: object): unknown;
  readonly simulator: BlockJobSimulator;
  readonly blockLayer: BlockLayer;
  readonly engine: JobEngine;
  readonly clock: SimClock;
  setEventSink(sink: EventSink | undefined): void;
  close(): void;
}

/** Builds the job simulator over a block layer; see BlockJobSimulator. */
export function createSimulator(options: SimulatorOptions): Simulation {
  const simulator = new BlockJobSimulator(options);
  return {
    handlers: simulator.handlers,
    execute: (command, args) => simulator.execute(command, args),
    simulator,
    blockLayer: simulator.blockLayer,
    engine: simulator.engine,
    clock: simulator.clock,
    setEventSink: (sink) => simulator.setEventSink(sink),
    close: () => simulator.close(),
  };
}
