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
} from '@qmpkit/job-engine';
import { CommandError } from '@qmpkit/protocol';
import type {
  BlockCommitArgs,
  BlockdevBackup,
  BlockdevCreateArgs,
  BlockdevMirrorArgs,
  BlockdevOptions,
  BlockStreamArgs,
  DriveBackup,
  DriveMirror,
  TransactionArgs,
} from '@qmpkit/qapi-types';
import { type BlockLayer, type BlockNode, jobBlockerReason } from '../block-layer.js';
import { RealClock, type SimClock, VirtualClock } from '../clock/clock.js';
import {
  blockNode,
  type CreateJobOptions,
  commandError,
  generic,
  invalidValue,
  type JobFactory,
} from './blockdev/context.js';
import { blockdevCreate } from './blockdev/create.js';
import { blockdevMirror, driveMirror } from './blockdev/mirror.js';
import { blockCommit, blockStream } from './blockdev/stream-commit.js';
import { transaction } from './blockdev/transaction.js';
import type { Driver, DriverParts, Kind, NextEvent } from './driver.js';
import {
  candidateRules,
  ENOSPC,
  errnoMessage,
  type InjectionPoint,
  injectionPoints,
} from './io.js';
import {
  arriveAt,
  chunkDoneAt,
  chunkInFlightAt,
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

export {
  BACKUP_CHUNK_SIZE,
  COMMIT_CHUNK_SIZE,
  MIRROR_BUFFER_SIZE,
  STREAM_CHUNK_SIZE,
} from './sizes.js';

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
    const jobs = this.#jobFactory();
    add<BlockdevMirrorArgs>('blockdev-mirror', (a) => blockdevMirror(jobs, a));
    add<BlockCommitArgs>('block-commit', (a) => blockCommit(jobs, a));
    add<BlockStreamArgs>('block-stream', (a) => blockStream(jobs, a));
    add<BlockdevBackup>('blockdev-backup', (a) =>
      transaction(jobs, { actions: [{ type: 'blockdev-backup', data: a }] }),
    );
    add<DriveBackup>('drive-backup', (a) =>
      transaction(jobs, { actions: [{ type: 'drive-backup', data: a }] }),
    );
    add<DriveMirror>('drive-mirror', (a) => driveMirror(jobs, a));
    add<TransactionArgs>('transaction', (a) => transaction(jobs, a));
    add<BlockdevCreateArgs>('blockdev-create', (a) => blockdevCreate(jobs, a));
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

  /** What the blockdev.c commands (./blockdev/) use of the runtime. */
  #jobFactory(): JobFactory {
    return {
      layer: this.blockLayer,
      engine: this.engine,
      rootNode: (name) => this.#rootNode(name),
      assertOpenToJobs: (node) => this.#assertOpenToJobs(node),
      createJob: (options) => this.#createJob(options),
      newDriver: (id, kind, parts) => this.#newDriver(id, kind, parts),
      start: (id) => this.#start(id),
      discard: (id) => this.#discard(id),
      drainBegin: (node) => this.#drainBegin(node),
      drainEnd: (drained, newestFirst) => this.#drainEnd(drained, newestFirst),
      applyEffects: (effects) => this.#applyEffects(effects),
      uniqueNumber: () => this.#seq++,
    };
  }

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
  #createJob(options: CreateJobOptions): string {
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

  #newDriver(id: string, kind: Kind, parts: DriverParts): Driver {
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
