/**
 * Putting a fault plan in front of the server: transports are wrapped as monitors accept them,
 * handlers are wrapped for the faults of a command (a late reply, events first, a drop), and
 * job status events are watched for the drops tied to a job's life. @qmpkit/server itself is
 * unchanged; the plan is reached at run time through `x-qmpkit-fault`.
 */
import type { JobPace } from '@qmpkit/block-job-sim';
import { CommandError, type Transport } from '@qmpkit/protocol';
import type { ClientInfo, CommandContext, CommandTable, HandlerMap } from '@qmpkit/server';
import { jobStatusChange } from '../job-status-change.js';
import type { FaultPlan } from './plan.js';
import { checkFault, FAULT_COMMAND, FaultSpecError } from './spec.js';
import { FaultTransport } from './transport.js';

/** A fault plan as `x-qmpkit-fault` returns it. */
export type FaultPlanJson = Record<string, unknown>;

/** The fault command beside the simulator's (see withFaultCommand). */
export interface FaultExtensionCommands {
  readonly 'x-qmpkit-fault': {
    readonly args: Record<string, unknown>;
    readonly ret: FaultPlanJson;
  };
}

/** A handler as the wrapper sees it: any arguments, any outcome. */
type AnyHandler = (args: unknown, context: CommandContext) => unknown;

/** The commands a poller sends to follow its jobs. */
const POLLS = new Set(['query-jobs', 'query-block-jobs']);

/** The errno values an io-error fault injects (Linux's). */
const ERRNO = { EIO: 5, ENOSPC: 28 } as const;

/** What io-error faults need of the block layer. */
export interface FaultBlockLayer {
  lookupNode(name: string): { readonly length: number };
  injectErrors(
    name: string,
    rules: readonly {
      event: 'none';
      iotype: 'read' | 'write';
      errno: number;
      sector: number;
      once: boolean;
    }[],
  ): void;
}

/** What progress faults need of the simulator: to be told when a job's pace changes. */
export interface PacedSimulator {
  paceChanged(): void;
}

/** The live connections of one server, so faults can cut them. */
export class FaultWire {
  private readonly connections = new Map<number, FaultTransport>();
  /** Events sent so far, and who waits for the next one. */
  private eventCount = 0;
  private eventWaiters: (() => void)[] = [];
  /** Jobs that exist (from their status events), and whether a poll has listed them. */
  private readonly liveJobs = new Map<string, { polled: boolean }>();
  private jobGoneWaiters: { job: string; wake: () => void }[] = [];
  private blockLayer: FaultBlockLayer | undefined;
  /** The rules armed per node (a node holds every io-error aimed at it). */
  private readonly nodeRules = new Map<
    string,
    Parameters<FaultBlockLayer['injectErrors']>[1][number][]
  >();
  private simulator: PacedSimulator | undefined;
  /** Wakes the simulator when the earliest timed stall ends (its jobs go on). */
  private stallTimer: { at: number; timer: ReturnType<typeof setTimeout> } | undefined;
  /** The transport the server started last: the server greets, starts it, then reports it. */
  private lastStarted: FaultTransport | undefined;

  constructor(readonly plan: FaultPlan) {}

  /** For the listeners: every accepted connection goes through the plan. */
  readonly wrapTransport = (transport: Transport): Transport => {
    const wrapped = new FaultTransport(transport, this.plan);
    const start = wrapped.start.bind(wrapped);
    wrapped.start = () => {
      this.lastStarted = wrapped;
      return start();
    };
    return wrapped;
  };

  /** The server's onClientConnect. */
  clientConnected(client: ClientInfo): void {
    if (this.lastStarted !== undefined) this.connections.set(client.id, this.lastStarted);
    this.lastStarted = undefined;
  }

  /** The server's onClientDisconnect. */
  clientLeft(client: ClientInfo): void {
    this.connections.delete(client.id);
  }

  /** Before an event goes out: a drop tied to a job status cuts every connection first. */
  event(event: string, data: unknown): void {
    this.eventCount++;
    for (const wake of this.eventWaiters.splice(0)) wake();
    const change = jobStatusChange(event, data);
    if (change === undefined) return;
    const { id, status } = change;
    if (status === 'null') {
      this.liveJobs.delete(id);
      this.plan.jobGone(id);
      for (const w of this.jobGoneWaiters.filter((w) => w.job === id)) w.wake();
    } else if (!this.liveJobs.has(id)) {
      this.liveJobs.set(id, { polled: false });
    }
    if (this.plan.dropOnJobStatus(id, status)) {
      for (const transport of this.connections.values()) transport.abort();
    }
  }

  /**
   * The block layer io-error faults act on (once its --blockdev nodes are open): the faults
   * given so far are armed now, those added later at once. Throws for a node that is not there.
   */
  attachBlockLayer(layer: FaultBlockLayer): void {
    this.blockLayer = layer;
    this.armIoErrors();
  }

  /**
   * A job's pace under the progress faults (slow-progress, stall-progress), for the simulator's
   * pace hook; a timed stall wakes the simulator when it ends.
   */
  readonly pace: JobPace = (job, unpaced) => {
    const decision = this.plan.paceOf(job, unpaced, Date.now());
    if (decision.until !== undefined) this.wakeAt(decision.until);
    return decision.pace;
  };

  /** The simulator whose jobs `pace` paces (told when a fault added or ended changes them). */
  attachSimulator(simulator: PacedSimulator): void {
    this.simulator = simulator;
  }

  private wakeAt(at: number): void {
    if (this.stallTimer !== undefined && this.stallTimer.at <= at) return;
    if (this.stallTimer !== undefined) clearTimeout(this.stallTimer.timer);
    const timer = setTimeout(
      () => {
        this.stallTimer = undefined;
        this.simulator?.paceChanged();
      },
      Math.max(0, at - Date.now()),
    );
    // A stall to come does not keep the process alive.
    timer.unref();
    this.stallTimer = { at, timer };
  }

  /** Stops the stall timer (the server is closing). */
  close(): void {
    if (this.stallTimer !== undefined) clearTimeout(this.stallTimer.timer);
    this.stallTimer = undefined;
  }

  private armIoErrors(): void {
    const layer = this.blockLayer;
    if (layer === undefined) return;
    for (const { id, spec } of this.plan.ioErrorsToArm()) {
      const name = spec.node!;
      const node = layer.lookupNode(name);
      const sector = Math.floor((node.length * spec.at!) / 100 / 512);
      const errno = spec.errno ?? 'EIO';
      const iotype = spec.iotype ?? 'write';
      const rules = [
        ...(this.nodeRules.get(name) ?? []),
        { event: 'none' as const, iotype, errno: ERRNO[errno], sector, once: spec.count === 1 },
      ];
      layer.injectErrors(name, rules);
      this.nodeRules.set(name, rules);
      this.plan.recordArmed(
        id,
        `${errno} on ${iotype}s of ${name} at byte ${sector * 512} (${spec.at}%)${spec.count === 1 ? ', once' : ''}`,
      );
    }
  }

  /** `handlers` with the command faults applied, plus `x-qmpkit-fault`. */
  wrapHandlers<M extends CommandTable<M>>(
    handlers: HandlerMap<M>,
  ): HandlerMap<M & FaultExtensionCommands> {
    const given: Readonly<Record<string, AnyHandler | undefined>> = handlers;
    const wrapped: Record<string, AnyHandler> = {};
    for (const [name, run] of Object.entries(given)) {
      if (run !== undefined) wrapped[name] = this.wrapHandler(name, run);
    }
    wrapped[FAULT_COMMAND] = (args) => this.faultCommand(args as Record<string, unknown>);
    // Each wrapper has its handler's signature; x-qmpkit-fault has FaultExtensionCommands'.
    return wrapped as HandlerMap<M & FaultExtensionCommands>;
  }

  /**
   * The server's `aroundBuiltin`: a built-in command named by a delay-reply or drop fault meets
   * it as the simulator's commands do (a fault without `command` leaves built-ins alone).
   */
  readonly aroundBuiltin = (command: string, context: CommandContext, run: () => unknown) =>
    this.wrapHandler(command, run, true)(undefined, context);

  private wrapHandler(name: string, run: AnyHandler, builtin = false): AnyHandler {
    return async (args, context) => {
      if (POLLS.has(name)) await this.holdPoll();
      const faults = this.plan.forCommand(name, builtin);
      if (faults.delayMs === 0 && faults.eventsFirstMs === 0 && !faults.drop) {
        return run(args, context);
      }
      let result: unknown;
      if (faults.eventsFirstMs > 0) {
        const before = this.eventCount;
        // What would follow the reply runs before it returns, so its events come first.
        const later: (() => void)[] = [];
        const early: CommandContext = {
          command: context.command,
          id: context.id,
          oob: context.oob,
          client: context.client,
          emit: (e, d, o) => context.emit(e, d, o),
          emitAfterReply: (e, d, o) => context.emit(e, d, o),
          afterReply: (callback) => later.push(callback),
        };
        try {
          result = await run(args, early);
        } finally {
          for (const callback of later) callback();
        }
        await this.eventsSince(before, faults.eventsFirstMs);
      } else {
        result = await run(args, context);
      }
      if (faults.delayMs > 0) await new Promise((r) => setTimeout(r, faults.delayMs));
      if (faults.drop) this.connections.get(context.client.id)?.abort();
      return result;
    };
  }

  /**
   * Waits until an event came after the `before`-th (at most `windowMs`), then until a whole
   * event-loop turn passes without one: the burst a command causes (aborting, cancelled,
   * concluded, null) goes out in full.
   */
  private async eventsSince(before: number, windowMs: number): Promise<void> {
    if (this.eventCount === before) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.eventWaiters = this.eventWaiters.filter((w) => w !== wake);
          resolve();
        }, windowMs);
        const wake = () => {
          clearTimeout(timer);
          resolve();
        };
        this.eventWaiters.push(wake);
      });
    }
    for (let seen = -1; seen !== this.eventCount; ) {
      seen = this.eventCount;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** dismiss-race: a poll waits until a job an earlier poll listed is gone; then it is listed. */
  private async holdPoll(): Promise<void> {
    const listed = [...this.liveJobs].filter(([, j]) => j.polled).map(([id]) => id);
    const race = listed.length === 0 ? undefined : this.plan.dismissRace(listed);
    if (race !== undefined) {
      await new Promise<void>((resolve) => {
        const entry = {
          job: race.job,
          wake: () => {
            clearTimeout(timer);
            this.jobGoneWaiters = this.jobGoneWaiters.filter((w) => w !== entry);
            resolve();
          },
        };
        const timer = setTimeout(entry.wake, race.ms);
        this.jobGoneWaiters.push(entry);
      });
    }
    for (const job of this.liveJobs.values()) job.polled = true;
  }

  private faultCommand(args: Record<string, unknown>): FaultPlanJson {
    const { clear, ...fault } = args;
    try {
      if (clear === true) {
        this.plan.clear();
        for (const name of this.nodeRules.keys()) this.blockLayer?.injectErrors(name, []);
        this.nodeRules.clear();
      }
      if (Object.keys(fault).length > 0) this.plan.add(checkFault(fault));
      this.armIoErrors();
      // Running jobs meet a progress fault added (or go on once faults are cleared) now.
      this.simulator?.paceChanged();
    } catch (error) {
      if (error instanceof FaultSpecError) throw new CommandError('GenericError', error.message);
      throw error;
    }
    return this.plan.describe();
  }
}
