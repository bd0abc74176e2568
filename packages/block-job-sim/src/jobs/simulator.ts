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

import type { JobCommandArgs, JobCommandName, JobEngine } from '@qmpkit/job-engine';
import { CommandError } from '@qmpkit/protocol';
import type { CommandMap, QmpEmpty } from '@qmpkit/qapi-types/7.2';
import type { CommandMap as CommandMap100 } from '@qmpkit/qapi-types/10.0';
import type { CommandHandlerOf, CommandResult, EventBroadcast, HandlerMap } from '@qmpkit/server';
import { BitmapCommands } from '../bitmaps/commands.js';
import type { BlockLayer } from '../block-layer.js';
import { RealClock, type SimClock, VirtualClock } from '../clock/clock.js';
import { BlockExports, type NbdListen } from '../exports/block-exports.js';
import { qemu72Profile } from '../profile/index.js';
import { MirrorCopyModes } from '../profile/mirror-copy-mode.js';
import type { QemuProfile } from '../profile/profile.js';
import { checkCompletionModeFirst } from '../profile/transaction.js';
import { paceChanged } from '../runtime/copy-loop.js';
import { drainBegin, drainEnd, graphChange } from '../runtime/drain.js';
import { jobFactory } from '../runtime/job-registry.js';
import { apply, cancelTimer, command, emit, JobRuntime } from '../runtime/job-runtime.js';
import type { JobPace } from '../runtime/pace.js';
import { generic, invalidValue } from './blockdev/context.js';
import { blockdevCreate } from './blockdev/create.js';
import { blockdevMirror, driveMirror } from './blockdev/mirror.js';
import { blockCommit, blockStream } from './blockdev/stream-commit.js';
import { transaction } from './blockdev/transaction.js';
import { contextWithoutServer } from './context-without-server.js';

/** The simulator's own command beside QEMU's: `x-qmpkit-clock-step` (see withClockStepCommand). */
export interface SimulatorExtensionCommands {
  /** Advances the virtual clock by `ns` nanoseconds, running the timers that fall due. */
  readonly 'x-qmpkit-clock-step': { readonly args: { ns: number }; readonly ret: QmpEmpty };
}

/**
 * The commands the simulator answers, typed: QEMU's `CommandMap` and the simulator's extension.
 * A server in front of it is a `QmpServer<SimulatorCommands>`.
 */
export type SimulatorCommands = CommandMap &
  Pick<CommandMap100, 'block-job-change'> &
  SimulatorExtensionCommands;

/** The simulator's handlers, for @qmpkit/server's `handlers` option. */
export type SimulatorHandlers = HandlerMap<SimulatorCommands>;

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
  /**
   * Where events go (a server's `emit`); can be set later with setEventBroadcast (events before
   * that are dropped).
   */
  readonly onEvent?: EventBroadcast;
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
  /** The QEMU version to behave like (../profile). Default: QEMU 7.2. */
  readonly profile?: QemuProfile;
  /**
   * How nbd-server-start listens (`nodeNbdListen` from `@qmpkit/block-job-sim/node`). Without
   * it, nbd-server-start is refused.
   */
  readonly nbdListen?: NbdListen;
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
  readonly handlers: SimulatorHandlers;
  /** The QEMU version it behaves like. */
  readonly profile: QemuProfile;
  readonly #rt: JobRuntime;
  readonly #exports: BlockExports;
  readonly #onInternalError: (error: unknown) => void;

  constructor(options: SimulatorOptions) {
    this.#rt = new JobRuntime(options);
    const rt = this.#rt;
    rt.graphChange = (times) => graphChange(rt, times);
    // Opening and closing nodes changes the graph as QEMU does, under its write lock.
    rt.blockLayer.onGraphChange = () => graphChange(rt);
    this.#onInternalError = options.onInternalError ?? ((error) => console.error(error));
    this.profile = options.profile ?? qemu72Profile;
    this.#exports = new BlockExports({
      layer: this.#rt.blockLayer,
      listen: options.nbdListen,
      deleted: (id) => emit(this.#rt, 'BLOCK_EXPORT_DELETED', { id }),
      // Inserting the export's BlockBackend is a graph change (10.0: every job drained once).
      attached: () => graphChange(rt),
      // blk_unref() of the export's BlockBackend drains its node twice as it leaves (measured on
      // QSD 7.2.22 and 10.0.2: each job on the node paused/running twice), then removes it from
      // the graph (a graph change).
      detached: (node) => {
        for (let i = 0; i < 2; i++) drainEnd(rt, drainBegin(rt, node), true);
        graphChange(rt);
      },
      deletedAtServerStopEnd: rt.profile.exportsDeletedAtServerStopEnd,
    });
    this.#rt.blockLayer.nodeData.unmapNeedsDiscardUnmap =
      this.profile.zeroWriteUnmapNeedsDiscardUnmap;
    this.blockLayer = this.#rt.blockLayer;
    this.blockLayer.onCloseError ??= (message) => this.#onInternalError(new Error(message));
    this.engine = this.#rt.engine;
    this.clock = this.#rt.clock;
    this.handlers = this.#buildHandlers(options.blockLayerCommands !== false);
  }

  /**
   * Runs one command without a server: its before-reply events go to the sink, then its
   * after-reply work runs, then the return value comes back (or its CommandError is thrown).
   */
  execute(command: string, args: object = {}): unknown {
    // Untyped on purpose (a test sends what a client would); the handler checks what it uses.
    const handlers: Readonly<Record<string, unknown>> = this.handlers;
    const handler = Object.hasOwn(handlers, command) ? handlers[command] : undefined;
    if (typeof handler !== 'function') {
      throw new CommandError('CommandNotFound', `The command ${command} has not been found`);
    }
    const after: Array<() => void> = [];
    const context = contextWithoutServer(
      command,
      (event, data) => this.#rt.broadcast?.(event, data),
      (callback) => after.push(callback),
    );
    try {
      return handler(args, context);
    } finally {
      for (const callback of after) callback();
    }
  }

  /**
   * How fast each job's storage moves at most, in bytes per second — slow storage (e.g. a
   * fraction of `unpaced`, the rate the job would copy at: its speed or the throughput, Infinity
   * when neither limits it), stalled storage (0: its requests never complete, the job stays
   * running with no progress), or bandwidth shared with other simulators. `undefined` for a job
   * (or no function): no limit beyond its speed and the throughput. Jobs copying now go on at
   * the new pace; call `paceChanged()` whenever the function would answer otherwise.
   */
  setPace(paceOf: JobPace | undefined): void {
    this.#rt.paceOf = paceOf;
    this.paceChanged();
  }

  /** What `setPace`'s function answers changed: running jobs go on at their new pace. */
  paceChanged(): void {
    const rt = this.#rt;
    if (rt.closed) return;
    command(rt, undefined, () => paceChanged(rt));
  }

  /** Where events go from now on (a server's `emit`). */
  setEventBroadcast(broadcast: EventBroadcast | undefined): void {
    this.#rt.broadcast = broadcast;
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

  /**
   * Stops every timer and closes the nodes' images as QEMU does when it quits (qcow2 nodes store
   * their persistent bitmaps); the simulator does nothing afterwards.
   */
  close(): void {
    if (!this.#rt.closed) this.blockLayer.closeAll();
    this.#exports.close().catch(this.#onInternalError);
    this.#rt.closed = true;
    for (const d of this.#rt.drivers.values()) cancelTimer(this.#rt, d);
    if (this.#rt.ownsClock && this.clock instanceof RealClock) this.clock.close();
  }

  // ---- command plumbing -----------------------------------------------------------------------
  #buildHandlers(blockLayerCommands: boolean): SimulatorHandlers {
    const h: { -readonly [N in keyof SimulatorCommands]?: SimulatorHandlers[N] } =
      Object.create(null);
    type Result<N extends keyof SimulatorCommands> = CommandResult<N, SimulatorCommands>;
    const add = <N extends keyof SimulatorCommands>(
      name: N,
      run: (args: SimulatorCommands[N]['args']) => Result<N>,
    ): void => {
      // command() hands back run's value (or {} for nothing), so its type is run's.
      const handler: CommandHandlerOf<SimulatorCommands[N]> = (args, context) =>
        command(this.#rt, context, () => run(args)) as Result<N>;
      // TypeScript cannot write a generic key of a mapped type; the handler is that key's type.
      h[name] = handler as SimulatorHandlers[N];
    };
    if (blockLayerCommands) {
      // Their graph changes (each node opened or closed) reach the runtime through the
      // layer's onGraphChange.
      add('blockdev-add', (a) => {
        this.blockLayer.add(a);
        return {};
      });
      add('blockdev-del', (a) => {
        this.blockLayer.del(a['node-name']);
        return {};
      });
      add('query-named-block-nodes', (a) =>
        this.blockLayer.queryNamedBlockNodes(a.flat ?? false).map((info) => {
          const fileInfo = this.profile.fileImageInfoHasFormatSpecific && info.drv === 'file';
          // 10.0's members are outside the 7.2 types the handlers are written against.
          return {
            ...info,
            ...(this.profile.nodeInfoHasActive ? { active: true } : {}),
            ...(fileInfo
              ? { image: { ...info.image, 'format-specific': { type: 'file', data: {} } } }
              : {}),
          } as typeof info;
        }),
      );
      // query-block lists BlockBackends that have a name or a device; qemu-storage-daemon has
      // neither (its exports' backends are anonymous), so it answers [] (7.2.22 and 10.0.2).
      add('query-block', () => []);
    }
    const jobs = jobFactory(this.#rt);
    const copyModes = this.profile.mirrorCopyModeChange ? new MirrorCopyModes(this.#rt) : undefined;
    add('blockdev-mirror', (a) => {
      const result = blockdevMirror(jobs, a);
      copyModes?.started(a['job-id'] ?? a.device, a['copy-mode']);
      return result;
    });
    add('block-commit', (a) => blockCommit(jobs, a));
    add('block-stream', (a) => blockStream(jobs, a));
    add('blockdev-backup', (a) =>
      transaction(jobs, { actions: [{ type: 'blockdev-backup', data: a }] }),
    );
    add('drive-backup', (a) => transaction(jobs, { actions: [{ type: 'drive-backup', data: a }] }));
    add('drive-mirror', (a) => {
      const result = driveMirror(jobs, a);
      copyModes?.started(a['job-id'] ?? a.device, a['copy-mode']);
      return result;
    });
    add('transaction', (a) => {
      if (this.profile.transactionChecksCompletionModeFirst) checkCompletionModeFirst(a);
      return transaction(jobs, a);
    });
    add('blockdev-create', (a) => blockdevCreate(jobs, a));
    const bitmaps = new BitmapCommands(this.blockLayer, this.blockLayer.dirtyBitmaps);
    add('block-dirty-bitmap-add', (a) => {
      bitmaps.add(a);
      return {};
    });
    add('block-dirty-bitmap-remove', (a) => {
      bitmaps.remove(a);
      return {};
    });
    add('block-dirty-bitmap-clear', (a) => {
      bitmaps.clear(a);
      return {};
    });
    add('block-dirty-bitmap-enable', (a) => {
      bitmaps.setEnabled(a, true);
      return {};
    });
    add('block-dirty-bitmap-disable', (a) => {
      bitmaps.setEnabled(a, false);
      return {};
    });
    add('block-dirty-bitmap-merge', (a) => {
      bitmaps.merge(a);
      return {};
    });
    add('x-debug-block-dirty-bitmap-sha256', (a) => bitmaps.sha256(a));
    const exports = this.#exports;
    add('block-export-add', (a) => {
      exports.add(a);
      return {};
    });
    add('query-block-exports', () => exports.query());
    // Listening and taking an export's clients away take main-loop turns: these answer later.
    h['nbd-server-start'] = async (a) => {
      await exports.start(a);
      return {};
    };
    h['nbd-server-stop'] = async () => {
      await exports.stop();
      return {};
    };
    h['block-export-del'] = async (a) => {
      await exports.del(a);
      return {};
    };
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
      add(name, (a) => this.#verb(name, a));
    }
    add('query-jobs', () => this.engine.queryJobs());
    if (copyModes === undefined) {
      add('query-block-jobs', () => this.engine.queryBlockJobs());
    } else {
      add('query-block-jobs', () => copyModes.decorate(this.engine.queryBlockJobs()));
      add('block-job-change', (a) => copyModes.change(a));
    }
    // Only a virtual clock can be stepped; on real time the command does not exist (and a
    // server that accepts only schema commands needs no schema extension).
    if (this.clock instanceof VirtualClock) {
      add(CLOCK_STEP_COMMAND, (a) => this.#clockStep(a));
    }
    return h;
  }

  // ---- job verbs, queries, the clock ----------------------------------------------------------
  #verb<C extends JobCommandName>(name: C, args: JobCommandArgs[C]): QmpEmpty {
    // The job the verb names (execute() may hand over anything a client sent, even nothing).
    const given: JobCommandArgs[JobCommandName] | undefined = args;
    const jobName = given === undefined ? '' : 'id' in given ? given.id : given.device;
    const id = typeof jobName === 'string' ? jobName : '';
    if (name === 'job-cancel' || name === 'block-job-cancel') {
      const force = given !== undefined && 'force' in given && given.force === true;
      const d = this.#rt.drivers.get(id);
      if (d !== undefined) d.driver.cancel(this.#rt, d, name === 'job-cancel' || force);
    }
    if (name === 'job-complete' || name === 'block-job-complete') {
      // mirror_complete(): the node `replaces` named must still exist.
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
    apply(this.#rt, this.engine.execute(name, args));
    return {};
  }

  #clockStep(args: Readonly<Record<string, unknown>>): QmpEmpty {
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
  readonly handlers: SimulatorHandlers;
  /** BlockJobSimulator.execute: one command without a server. */
  execute(command: string, args?: object): unknown;
  readonly simulator: BlockJobSimulator;
  readonly blockLayer: BlockLayer;
  readonly engine: JobEngine;
  readonly clock: SimClock;
  /** BlockJobSimulator.setEventBroadcast: where events go (a server's `emit`). */
  setEventBroadcast(broadcast: EventBroadcast | undefined): void;
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
    setEventBroadcast: (broadcast) => simulator.setEventBroadcast(broadcast),
    close: () => simulator.close(),
  };
}
