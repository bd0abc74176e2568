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

import type { JobEngine } from '@qmpkit/job-engine';
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
import type { BlockLayer } from '../block-layer.js';
import { RealClock, type SimClock, VirtualClock } from '../clock/clock.js';
import { cancelTimer } from '../runtime/copy-loop.js';
import { drainBegin } from '../runtime/drain.js';
import { jobFactory } from '../runtime/job-registry.js';
import {
  apply,
  command,
  type EventSink,
  JobRuntime,
  type SimCommandContext,
} from '../runtime/job-runtime.js';
import { generic, invalidValue } from './blockdev/context.js';
import { blockdevCreate } from './blockdev/create.js';
import { blockdevMirror, driveMirror } from './blockdev/mirror.js';
import { blockCommit, blockStream } from './blockdev/stream-commit.js';
import { transaction } from './blockdev/transaction.js';

export {
  DEFAULT_THROUGHPUT,
  type EventSink,
  type SimCommandContext,
} from '../runtime/job-runtime.js';
export {
  BACKUP_CHUNK_SIZE,
  COMMIT_CHUNK_SIZE,
  MIRROR_BUFFER_SIZE,
  STREAM_CHUNK_SIZE,
} from './sizes.js';

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
  readonly #rt: JobRuntime;

  constructor(options: SimulatorOptions) {
    this.#rt = new JobRuntime(options);
    this.blockLayer = this.#rt.blockLayer;
    this.engine = this.#rt.engine;
    this.clock = this.#rt.clock;
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
    this.#rt.sink = sink;
  }

  /**
   * What qemu-storage-daemon does when it is told to quit (SIGTERM, SIGINT): every node is
   * drained (bdrv_drain_all_begin: running jobs pause, ready ones go standby), then every job,
   * newest first, is cancelled and waited for, and a concluded one is dismissed
   * (job_cancel_sync_all). Its events — aborting, BLOCK_JOB_CANCELLED, concluded, null — go to
   * the event sink now, so a server can deliver them before it closes its connections. The
   * drain is never ended: the simulator is done afterwards (call close()).
   */
  cancelAllJobs(): void {
    const rt = this.#rt;
    if (rt.closed) return;
    command(rt, undefined, () => drainBegin(rt, undefined));
    const tried = new Set<string>();
    for (;;) {
      const job = this.engine.queryJobs()[0];
      if (job === undefined) break;
      const key = `${job.id}:${job.status}`;
      // A job that neither cancel nor dismiss can move would be met again: leave it.
      if (tried.has(key)) break;
      tried.add(key);
      try {
        command(rt, undefined, () =>
          apply(
            rt,
            job.status === 'concluded'
              ? this.engine.jobDismiss(job.id)
              : this.engine.jobCancel(job.id),
          ),
        );
      } catch (error) {
        if (!CommandError.isInstance(error)) throw error;
      }
    }
  }

  /** Stops every timer; the simulator does nothing afterwards. */
  close(): void {
    this.#rt.closed = true;
    for (const d of this.#rt.drivers.values()) cancelTimer(this.#rt, d);
    if (this.#rt.ownsClock && this.clock instanceof RealClock) this.clock.close();
  }

  // ---- command plumbing -----------------------------------------------------------------------
  #buildHandlers(blockLayerCommands: boolean): Record<string, SimCommandHandler> {
    const h: Record<string, SimCommandHandler> = Object.create(null);
    const add = <A>(name: string, run: (args: A) => unknown) => {
      h[name] = ((args: A, context?: SimCommandContext) =>
        command(this.#rt, context, () => run(args))) as SimCommandHandler;
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
    const jobs = jobFactory(this.#rt);
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

  // ---- job verbs, queries, the clock ----------------------------------------------------------
  #verb(name: Parameters<JobEngine['execute']>[0], args: Record<string, unknown>): unknown {
    if (name === 'job-cancel' || name === 'block-job-cancel') {
      const id = (name === 'job-cancel' ? args.id : args.device) as string;
      const d = this.#rt.drivers.get(id);
      if (d !== undefined)
        d.driver.cancel(this.#rt, d, name === 'job-cancel' || args.force === true);
    }
    if (name === 'job-complete' || name === 'block-job-complete') {
      // mirror_complete(): the node `replaces` named must still exist.
      const id = (name === 'job-complete' ? args.id : args.device) as string;
      const d = this.#rt.drivers.get(id);
      const replaces = d === undefined ? undefined : d.driver.missingReplacesNode(this.#rt, d);
      if (replaces !== undefined) {
        const options = { missingReplacesNode: replaces };
        apply(
          this.#rt,
          name === 'job-complete'
            ? this.engine.jobComplete(id, options)
            : this.engine.blockJobComplete(id, options),
        );
        return {};
      }
    }
    const result = this.engine.execute(name, args as never);
    apply(this.#rt, result);
    return {};
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
    const deferred = this.#rt.deferred;
    const soon = this.#rt.soon;
    this.#rt.deferred = undefined;
    this.#rt.soon = undefined;
    try {
      this.clock.advanceNs(ns);
    } finally {
      this.#rt.deferred = deferred;
      this.#rt.soon = soon;
    }
    return {};
  }
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
