/**
 * `QmpClient`: the typed QMP client.
 *
 * Life: `idle` → `connecting` → `connected`; on an unexpected end of the connection either
 * `closed` (no reconnect), or `reconnecting` → `connected` again (with `reconnect`); `close()`
 * → `closed` from anywhere. Commands in flight when a connection ends reject with
 * `ExecInterruptedError` (whether they ran is unknown); calls made while not `connected` reject
 * with `StateError`. Event streams live as long as the client: they survive a reconnect and end
 * when the client is closed or gives up.
 */
import {
  ConnectError,
  type JsonObject,
  type QmpEvent,
  type QmpGreeting,
  type QmpVersion,
  StateError,
  TimeoutError,
  type Transport,
} from '@qmpkit/protocol';
import type { JobStatus } from '@qmpkit/qapi-types/7.2';
import { Connection, type TranscriptEntry } from './connection.js';
import { type ClientListener, EventStream, type EventStreamOptions } from './event-stream.js';
import type { JobClient } from './job-client.js';
import { JobTracker, type ReconcileReport } from './job-tracker.js';
import {
  type JobOutcome,
  type JobStartCommand,
  type RunJobOptions,
  runJobs,
  type WaitForJobOptions,
  waitForJob,
} from './jobs.js';
import { type ConnectTarget, describeTarget, isReopenable, openTransport } from './target.js';
import type {
  CallOptions,
  ClientEvent,
  ClientState,
  CommandArgs,
  CommandName,
  CommandReturn,
  ConnectHook,
  EventName,
  ExecuteRest,
} from './types.js';

/** Backoff of automatic reconnection. */
export interface ReconnectOptions {
  /** Attempts before giving up (then the client closes); default 10. */
  maxAttempts?: number;
  /** Delay before the first attempt; default 100 ms. Doubles (`factor`) after each failure. */
  initialDelayMs?: number;
  /** Upper bound of the delay; default 5000 ms. */
  maxDelayMs?: number;
  /** Growth of the delay; default 2. */
  factor?: number;
}

/** Options of a client. */
export interface ClientOptions {
  /** Time allowed to open the connection, be greeted and negotiate; default 10000 ms. */
  connectTimeoutMs?: number;
  /** Abort connecting. */
  signal?: AbortSignal;
  /** Enable out-of-band execution when the server offers it; default false. */
  oob?: boolean;
  /** Called with every message in and out, and every incoming message that was dropped. */
  transcript?: (entry: TranscriptEntry) => void;
  /** Reconnect automatically (needs a target that can be reopened: not `{ transport }`). */
  reconnect?: boolean | ReconnectOptions;
  /** Called when the connection is lost (before any reconnect attempt). */
  onDisconnect?: (cause: Error | undefined) => void;
  /** Called after a successful reconnect with what the client reconciled. */
  onReconnect?: (report: ReconcileReport) => void;
  /** Bound of the table of tracked jobs (id → last status); default 4096. */
  maxTrackedJobs?: number;
}

/** Options of `events()`. */
export type EventsOptions<N extends EventName> = Omit<
  EventStreamOptions<ClientEvent<N>>,
  'names'
> & {
  /** Only these events (default: all). */
  names?: readonly N[];
};

/** Options of `waitForEvent()`. */
export interface WaitForEventOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** What `waitForEvent` matches: a predicate, or members the event's data must equal. */
export type EventMatch<N extends EventName> =
  | ((data: ClientEvent<N>['data'], event: ClientEvent<N>) => boolean)
  | Partial<ClientEvent<N>['data']>;

const DEFAULT_RECONNECT: Required<ReconnectOptions> = {
  maxAttempts: 10,
  initialDelayMs: 100,
  maxDelayMs: 5000,
  factor: 2,
};

export class QmpClient implements JobClient {
  /** Creates a client and connects it; see `connect()`. */
  static async connect(target: ConnectTarget, options: ClientOptions = {}): Promise<QmpClient> {
    const client = new QmpClient(options);
    await client.connect(target);
    return client;
  }

  private readonly options: ClientOptions;
  private current: ClientState = 'idle';
  private connection: Connection | undefined;
  private target: ConnectTarget | undefined;
  private readonly sinks = new Set<ClientListener>();
  private readonly connectHooks = new Set<ConnectHook>();
  private readonly tracker: JobTracker;
  private closing: Promise<void> | undefined;
  private reconnectAbort: AbortController | undefined;
  /** Aborted by close(): stops a connect or reconnect in progress. */
  private readonly life = new AbortController();
  private lastGreeting: QmpGreeting | undefined;

  constructor(options: ClientOptions = {}) {
    this.options = options;
    this.tracker = new JobTracker(this, {
      ...(options.maxTrackedJobs === undefined ? {} : { maxTrackedJobs: options.maxTrackedJobs }),
      ...(options.connectTimeoutMs === undefined
        ? {}
        : { queryTimeoutMs: options.connectTimeoutMs }),
      ...(options.onReconnect === undefined ? {} : { onReconcile: options.onReconnect }),
    });
  }

  /** Where the client is in its life. */
  get state(): ClientState {
    return this.current;
  }

  /** The greeting of the current (or last) connection. */
  get greeting(): QmpGreeting | undefined {
    return this.lastGreeting;
  }

  /** The server's version, from its greeting. */
  get version(): QmpVersion | undefined {
    return this.lastGreeting?.QMP.version;
  }

  /** The capabilities the server offered in its greeting. */
  get capabilities(): readonly string[] {
    return this.lastGreeting?.QMP.capabilities ?? [];
  }

  /** True when out-of-band execution was negotiated on the current connection. */
  get oobEnabled(): boolean {
    return this.connection?.oob ?? false;
  }

  /** Commands sent on the current connection and not answered yet. */
  get inFlight(): number {
    return this.connection?.inFlight ?? 0;
  }

  /**
   * The jobs the client knows of and their last status, kept from `JOB_STATUS_CHANGE` events
   * (a job leaves the table at `null`), and seeded by `query-jobs` at connect when reconnect is
   * on.
   */
  get trackedJobs(): ReadonlyMap<string, JobStatus> {
    return this.tracker.jobs;
  }

  /**
   * Connects: opens the transport, waits for the greeting (skipping anything else), negotiates
   * (with `oob` when offered and asked for). Rejects with a `ConnectError` — `code` `ENOENT` for
   * a missing socket, `ECONNREFUSED` for a refused connection, `ETIMEDOUT` when the server did
   * not greet and negotiate within `connectTimeoutMs`, `EOF` when it closed first.
   */
  async connect(target: ConnectTarget): Promise<void> {
    if (this.current !== 'idle') {
      throw new StateError(`cannot connect a client that is ${this.current}`, {
        state: this.current,
      });
    }
    this.target = target;
    this.current = 'connecting';
    try {
      const signal =
        this.options.signal === undefined
          ? this.life.signal
          : AbortSignal.any([this.options.signal, this.life.signal]);
      await this.openConnection(target, signal);
    } catch (error) {
      this.current = 'closed';
      this.endSinks(error instanceof Error ? error : undefined);
      throw error;
    }
    this.current = 'connected';
    try {
      await this.runConnectHooks({
        reconnected: false,
        reconnects: this.reconnectOptions() !== undefined,
        cause: undefined,
        attempts: 1,
      });
    } catch (error) {
      await this.close();
      throw toConnectError(error, describeTarget(target));
    }
  }

  /**
   * Executes a command of the schema and resolves with its typed return value. Rejects with
   * `ExecuteError` (QEMU's error class and desc, and the command sent), `TimeoutError`,
   * the signal's reason, `ExecInterruptedError` (the connection ended first) or `StateError`
   * (not connected).
   */
  execute<C extends CommandName>(name: C, ...rest: ExecuteRest<C>): Promise<CommandReturn<C>> {
    const [args, options] = rest;
    return this.call(name, args, false, options) as Promise<CommandReturn<C>>;
  }

  /** Executes a command out of band (`exec-oob`); needs `oob` negotiated, else `StateError`. */
  executeOob<C extends CommandName>(name: C, ...rest: ExecuteRest<C>): Promise<CommandReturn<C>> {
    const [args, options] = rest;
    if (this.current === 'connected' && !this.oobEnabled) {
      return Promise.reject(
        new StateError('out-of-band execution was not negotiated (connect with oob: true)', {
          state: this.current,
        }),
      );
    }
    return this.call(name, args, true, options) as Promise<CommandReturn<C>>;
  }

  /** The untyped escape hatch: any command name, any arguments, `unknown` result. */
  executeUntyped(
    name: string,
    args?: JsonObject | Record<string, unknown>,
    options?: CallOptions & { oob?: boolean },
  ): Promise<unknown> {
    const oob = options?.oob ?? false;
    if (oob && this.current === 'connected' && !this.oobEnabled) {
      return Promise.reject(
        new StateError('out-of-band execution was not negotiated (connect with oob: true)', {
          state: this.current,
        }),
      );
    }
    return this.call(name, args, oob, options);
  }

  /**
   * An async iterator of events, with its own bounded queue (see `EventStream` for the overflow
   * policy). It is registered at once: it receives every event decoded from now on, including
   * those QEMU sends before the reply of a command executed after this call.
   */
  events<N extends EventName = EventName>(
    options: EventsOptions<N> = {},
  ): EventStream<ClientEvent<N>> {
    const stream = new EventStream<ClientEvent<N>>(
      options,
      (sink) => this.sinks.delete(sink),
      isClientEvent<N>,
    );
    this.subscribe(stream);
    return stream;
  }

  /**
   * Registers a listener for every event decoded from now on (synchronously, in order), and
   * for the connection's life: `disconnected` when it is lost, `reconnected` when a reconnect
   * succeeded, `end` when the client closes for good (at once if it already has). Returns the
   * function that unsubscribes it. `events()` is the queued, async-iterable form.
   */
  subscribe(listener: ClientListener): () => void {
    if (this.current === 'closed') {
      listener.end(undefined);
      return () => {};
    }
    this.sinks.add(listener);
    return () => this.sinks.delete(listener);
  }

  /**
   * Registers a hook run on every new connection (the first and each reconnect), after
   * negotiation and before the client reports it; see `ConnectHook`. Returns its removal.
   */
  onConnect(hook: ConnectHook): () => void {
    this.connectHooks.add(hook);
    return () => this.connectHooks.delete(hook);
  }

  /**
   * Waits for the next event `name` whose data matches. Registered at once: call it before
   * executing the command that causes the event.
   */
  waitForEvent<N extends EventName>(
    name: N,
    match?: EventMatch<N>,
    options: WaitForEventOptions = {},
  ): Promise<ClientEvent<N>> {
    const test = matcher(match);
    const stream = this.events<N>({
      names: [name],
      filter: (event) => test(event.data, event),
      maxQueued: 1,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    return new Promise<ClientEvent<N>>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      if (options.timeoutMs !== undefined) {
        const timeoutMs = options.timeoutMs;
        timer = setTimeout(() => {
          void stream.return();
          reject(new TimeoutError(`no ${name} event within ${timeoutMs} ms`, { timeoutMs }));
        }, timeoutMs);
      }
      stream.next().then(
        (result) => {
          if (timer !== undefined) clearTimeout(timer);
          void stream.return();
          if (!result.done) resolve(result.value);
          else if (options.signal?.aborted) reject(options.signal.reason);
          else {
            reject(
              new StateError(`the client closed while waiting for ${name}`, {
                state: this.current,
                ...(stream.endCause === undefined ? {} : { cause: stream.endCause }),
              }),
            );
          }
        },
        (error: unknown) => {
          if (timer !== undefined) clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  /**
   * Starts a job with `command` and drives it to its end; see `RunJobOptions`. Resolves with
   * the outcome (completed, cancelled, or failed with QEMU's error text); rejects with the
   * command's `ExecuteError` when the job could not be created.
   */
  runJob<C extends JobStartCommand>(
    command: C,
    args: CommandArgs<C>,
    options: RunJobOptions = {},
  ): Promise<JobOutcome> {
    return runJobs(this, this.tracker, command, args, options).then(
      (outcomes) => outcomes[0] as JobOutcome,
    );
  }

  /**
   * Runs a `transaction` and drives every job its actions create (the actions that carry a
   * `job-id`), resolving with their outcomes in action order.
   */
  runTransaction(
    args: CommandArgs<'transaction'>,
    options: RunJobOptions = {},
  ): Promise<JobOutcome[]> {
    return runJobs(this, this.tracker, 'transaction', args, options);
  }

  /**
   * Resolves when job `id` reaches one of `statuses` (by event, or already there by
   * `query-jobs`), with the status reached. A job that `query-jobs` does not list counts as
   * `null` (gone, or not created yet).
   */
  waitForJob(
    id: string,
    statuses: JobStatus | readonly JobStatus[],
    options: WaitForJobOptions = {},
  ): Promise<JobStatus> {
    return waitForJob(
      this,
      this.tracker,
      id,
      typeof statuses === 'string' ? [statuses] : statuses,
      options,
    );
  }

  /**
   * Closes the connection: pending calls reject with `ExecInterruptedError`, event streams
   * end, reconnecting stops. Idempotent.
   */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    const previous = this.current;
    this.current = 'closed';
    const reason = new StateError('the client was closed', { state: 'closed' });
    this.life.abort(reason);
    this.reconnectAbort?.abort(reason);
    const connection = this.connection;
    this.closing = (async () => {
      if (connection !== undefined && previous !== 'idle') await connection.close();
      this.endSinks(undefined);
    })();
    return this.closing;
  }

  private call(
    name: string,
    args: unknown,
    oob: boolean,
    options: CallOptions | undefined,
  ): Promise<unknown> {
    const connection = this.connection;
    if (this.current !== 'connected' || connection === undefined) {
      return Promise.reject(
        new StateError(`cannot execute ${name}: the client is ${this.current}`, {
          state: this.current,
        }),
      );
    }
    return connection.call(name, args, oob, options);
  }

  private reconnectOptions(): Required<ReconnectOptions> | undefined {
    const option = this.options.reconnect;
    if (option === undefined || option === false) return undefined;
    if (this.target !== undefined && !isReopenable(this.target)) return undefined;
    return option === true ? DEFAULT_RECONNECT : { ...DEFAULT_RECONNECT, ...option };
  }

  private async openConnection(target: ConnectTarget, signal: AbortSignal | undefined) {
    const address = describeTarget(target);
    const timeoutMs = this.options.connectTimeoutMs ?? 10_000;
    const deadline = new AbortController();
    const timer = setTimeout(() => {
      deadline.abort(
        new ConnectError(`no QMP greeting and negotiation from ${address} within ${timeoutMs} ms`, {
          code: 'ETIMEDOUT',
          address,
          cause: new TimeoutError(`connect timed out after ${timeoutMs} ms`, { timeoutMs }),
        }),
      );
    }, timeoutMs);
    const onAbort = () => deadline.abort(signal?.reason);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    let transport: Transport | undefined;
    let connection: Connection | undefined;
    try {
      transport = await raceAbort(openTransport(target, deadline.signal), deadline.signal);
      connection = new Connection(transport, {
        event: (event) => this.dispatch(event),
        closed: (cause) => this.onConnectionClosed(connection as Connection, cause),
        transcript: this.options.transcript,
      });
      const greeting = await raceAbort(
        connection.open(this.options.oob ?? false, address),
        deadline.signal,
      );
      this.connection = connection;
      this.lastGreeting = greeting;
    } catch (error) {
      if (connection !== undefined) await connection.close();
      else if (transport !== undefined) await transport.close();
      throw toConnectError(error, address);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private dispatch(event: QmpEvent): void {
    for (const sink of this.sinks) {
      const names = sink.names;
      if (names !== undefined && !names.has(event.event)) continue;
      sink.deliver(event);
    }
  }

  private async runConnectHooks(info: {
    reconnected: boolean;
    reconnects: boolean;
    cause: Error | undefined;
    attempts: number;
  }): Promise<void> {
    for (const hook of [...this.connectHooks]) await hook(info);
  }

  private onConnectionClosed(connection: Connection, cause: Error | undefined): void {
    if (connection !== this.connection) return; // a connection that never became current
    if (this.current === 'closed') return;
    if (this.current === 'connecting') return; // connect() reports it
    // A connection opened by the reconnect loop that died before the loop adopted it: the
    // loop sees it closed and tries again.
    if (this.current === 'reconnecting') return;
    this.options.onDisconnect?.(cause);
    const reconnect = this.reconnectOptions();
    if (reconnect === undefined) {
      this.current = 'closed';
      this.endSinks(cause);
      return;
    }
    this.current = 'reconnecting';
    for (const sink of this.sinks) sink.disconnected?.(cause);
    void this.reconnectLoop(reconnect, cause);
  }

  private async reconnectLoop(
    options: Required<ReconnectOptions>,
    cause: Error | undefined,
  ): Promise<void> {
    const abort = new AbortController();
    this.reconnectAbort = abort;
    let delay = options.initialDelayMs;
    let lastError: unknown = cause;
    for (let attempt = 1; attempt <= options.maxAttempts; attempt++) {
      await sleep(delay, abort.signal);
      if (abort.signal.aborted || this.current !== 'reconnecting') return;
      try {
        await this.openConnection(this.target as ConnectTarget, abort.signal);
      } catch (error) {
        lastError = error;
        if (abort.signal.aborted) return;
        delay = Math.min(options.maxDelayMs, delay * options.factor);
        continue;
      }
      if (this.current !== 'reconnecting') {
        await this.connection?.close();
        return;
      }
      if (!this.connection?.isOpen) {
        delay = Math.min(options.maxDelayMs, delay * options.factor);
        continue;
      }
      this.current = 'connected';
      try {
        await this.runConnectHooks({
          reconnected: true,
          reconnects: true,
          cause,
          attempts: attempt,
        });
      } catch {
        // The new connection failed or did not answer while its hooks ran (the job tracker
        // reconciling): drop it, and onConnectionClosed starts over.
        await this.connection?.close();
        return;
      }
      for (const sink of this.sinks) sink.reconnected?.();
      return;
    }
    this.current = 'closed';
    const failure =
      lastError instanceof Error ? lastError : new ConnectError('reconnecting failed');
    this.endSinks(failure);
  }

  private endSinks(cause: Error | undefined): void {
    const sinks = [...this.sinks];
    this.sinks.clear();
    for (const sink of sinks) sink.end(cause);
  }
}

/**
 * The client's one act of trust in the server's events, as in its replies: an event whose name
 * is N carries the data QEMU's schema gives N. The name is checked here; the data is not.
 */
function isClientEvent<N extends EventName>(
  event: QmpEvent,
  names: ReadonlySet<string> | undefined,
): event is QmpEvent & ClientEvent<N> {
  return names === undefined || names.has(event.event);
}

function matcher<N extends EventName>(
  match: EventMatch<N> | undefined,
): (data: ClientEvent<N>['data'], event: ClientEvent<N>) => boolean {
  if (match === undefined) return () => true;
  if (typeof match === 'function') return match;
  const expected = Object.entries(match as Record<string, unknown>);
  return (data) => {
    const actual: unknown = data;
    return expected.every(
      ([key, value]) =>
        typeof actual === 'object' && actual !== null && Reflect.get(actual, key) === value,
    );
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function toConnectError(error: unknown, address: string): Error {
  if (ConnectError.isInstance(error)) return error;
  if (TimeoutError.isInstance(error)) {
    return new ConnectError(`cannot connect to ${address}: ${error.message}`, {
      code: 'ETIMEDOUT',
      address,
      cause: error,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ConnectError(`cannot connect to ${address}: ${message}`, { address, cause: error });
}
