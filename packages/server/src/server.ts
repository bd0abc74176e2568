/**
 * The QMP server: QEMU's request handling, the dispatcher, the built-in commands and events.
 * Client sessions (their output and its bounds) live in session.ts, monitors (a listening
 * endpoint's line of clients) in monitor.ts; each reaches the server only through a narrow host
 * interface.
 *
 * The model is QEMU 7.2's monitor/qmp.c and qapi/qmp-dispatch.c:
 * - every complete input item (a JSON value or a parse/limit error) of a session is a request;
 *   `exec-oob` requests are handled at once, all others go to the session's in-band queue;
 * - input is suspended after each queued request when OOB is off, and when the queue holds 8
 *   requests when it is on; it resumes when the request finished (OOB off) or when the queue has
 *   room again (OOB on);
 * - one dispatcher runs in-band requests one at a time, taking sessions round-robin;
 * - a monitor serves one client at a time (optionally all at once); a client that leaves loses
 *   its queued requests, and the reply of the request running at that moment goes to whoever is
 *   connected to the monitor when it completes (reference §10.2);
 * - beyond QEMU, a session also reads nothing while more than `OUTPUT_HIGH_WATER_BYTES` of its
 *   output is unread, so memory stays bounded by what the client takes.
 */
import {
  CommandError,
  encodeJson,
  isJsonObject,
  type JsonObject,
  makeErrorReply,
  makeEvent,
  makeGreeting,
  ProtocolError,
  type QapiErrorClass,
  type QmpCapability,
  type QmpTimestamp,
  type QmpVersion,
  qemuMemberOrder,
  type Transport,
  timestampFromMillis,
} from '@qmpkit/protocol';
import type {
  CommandMap,
  EventName,
  IntrospectionCommand,
  IntrospectionEntry,
} from '@qmpkit/qapi-types';
import { Monitor } from './monitor.js';
import { type Request, Session } from './session.js';
import type {
  AttachOptions,
  ClientInfo,
  CommandContext,
  CommandHandlerOf,
  CommandTable,
  EmitOptions,
  EventData,
  MonitorOptions,
  QmpServerOptions,
  ServerLogger,
} from './types.js';
import { SchemaValidator } from './validate.js';

export { Monitor, type MonitorHost } from './monitor.js';
export { OUTPUT_HIGH_WATER_BYTES } from './session.js';

/** QEMU's QMP_REQ_QUEUE_LEN_MAX: in-band requests a session queues before it stops reading. */
export const REQUEST_QUEUE_MAX = 8;

/** Default bound of a client's unsent output. */
export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

/** The version presented by default: QEMU 7.2.0. */
export const DEFAULT_QEMU_VERSION = { major: 7, minor: 2, micro: 0 } as const;

/**
 * QEMU 7.2's rate-limited events (monitor/monitor.c `monitor_qapi_event_conf`) and the data
 * member that keys each one (events without a key are throttled by name alone).
 */
export const THROTTLED_EVENTS: Readonly<Record<string, string | null>> = Object.freeze({
  RTC_CHANGE: null,
  WATCHDOG: null,
  BALLOON_CHANGE: null,
  QUORUM_REPORT_BAD: 'node-name',
  QUORUM_FAILURE: null,
  VSERPORT_CHANGE: 'id',
  MEMORY_DEVICE_SIZE_CHANGE: 'qom-path',
});

/** The commands the server implements itself, as QEMU's monitor does. */
export const BUILTIN_COMMANDS = [
  'qmp_capabilities',
  'query-version',
  'query-commands',
  'query-qmp-schema',
  'quit',
] as const;

const ENCODE = { style: 'qemu', memberOrder: 'qemu' } as const;
const EOL = '\r\n';

function defaultLog(level: string, message: string): void {
  if (level !== 'info') console.error(`qmpkit-server: ${message}`);
}

function defaultNow(): number {
  return performance.timeOrigin + performance.now();
}

/** A registered handler, called with arguments the validator checked against its command. */
type CheckedHandler = (args: Record<string, unknown>, context: CommandContext) => unknown;

interface Registered {
  readonly handler: CheckedHandler | undefined;
  readonly allowOob: boolean;
}

interface ThrottleState {
  /** Undefined only until armThrottle sets it. */
  timer: ReturnType<typeof setTimeout> | undefined;
  pending: string | undefined;
}

/** What a request left to do once its reply is written. */
interface AfterReply {
  readonly steps: (() => void)[];
}

/**
 * A QMP server that answers like QEMU 7.2. Handlers are plugged in by command name; the server
 * does the protocol, the validation and the flow control.
 *
 * `M` types the handlers: QEMU's `CommandMap` by default; a server whose schema adds extension
 * commands is created as `new QmpServer<CommandMap & MyCommands>({...})`.
 */
export class QmpServer<M extends CommandTable<M> = CommandMap> {
  readonly version: QmpVersion;
  readonly capabilities: readonly QmpCapability[];
  readonly maxOutputBytes: number;
  readonly maxWaitingClients: number;
  private readonly schema: readonly IntrospectionEntry[];
  private readonly validator: SchemaValidator;
  private readonly commandEntries = new Map<string, IntrospectionCommand>();
  private readonly commands = new Map<string, Registered>();
  private readonly now: () => number;
  private readonly logger: ServerLogger;
  private readonly throttlePeriodMs: number;
  private readonly throttles = new Map<string, ThrottleState>();
  private readonly onQuit: (() => void) | undefined;
  private readonly onClientConnect: ((client: ClientInfo) => void) | undefined;
  private readonly onClientDisconnect: ((client: ClientInfo) => void) | undefined;
  private readonly monitors = new Set<Monitor>();
  /** Every open session, in the dispatcher's round-robin order. */
  private sessions: Session[] = [];
  private nextClientId = 1;
  private dispatching = false;
  private closing: Promise<void> | undefined;
  private resolveClosed: (() => void) | undefined;
  /** Resolves once the server has closed (by `close()` or by `quit`). */
  readonly whenClosed: Promise<void> = new Promise((resolve) => {
    this.resolveClosed = resolve;
  });

  constructor(options: QmpServerOptions<NoInfer<M>>) {
    this.version = {
      qemu: {
        major: options.version?.qemu?.major ?? DEFAULT_QEMU_VERSION.major,
        minor: options.version?.qemu?.minor ?? DEFAULT_QEMU_VERSION.minor,
        micro: options.version?.qemu?.micro ?? DEFAULT_QEMU_VERSION.micro,
      },
      package: options.version?.package ?? 'qmpkit',
    };
    this.capabilities = [...(options.capabilities ?? ['oob'])];
    this.maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    this.maxWaitingClients = options.maxWaitingClients ?? Number.POSITIVE_INFINITY;
    this.schema = options.schema;
    this.validator = new SchemaValidator(this.schema, options.schemaExtras);
    for (const entry of this.schema) {
      if (entry['meta-type'] === 'command') this.commandEntries.set(entry.name, entry);
    }
    this.now = options.now ?? defaultNow;
    this.logger = options.log ?? defaultLog;
    this.throttlePeriodMs = options.throttlePeriodMs ?? 1000;
    this.onQuit = options.onQuit;
    this.onClientConnect = options.onClientConnect;
    this.onClientDisconnect = options.onClientDisconnect;
    for (const name of BUILTIN_COMMANDS) this.registerEntry(name, undefined);
    const handlers: Readonly<Record<string, unknown>> = options.handlers ?? {};
    for (const name of Object.keys(handlers)) {
      const handler = handlers[name];
      if (handler !== undefined) this.registerHandler(name, handler);
    }
  }

  /**
   * Registers a handler. The command must exist in the schema (its arguments are validated
   * from it) and must not be a built-in. Registering a name twice replaces the handler.
   */
  register<N extends keyof M & string>(name: N, handler: CommandHandlerOf<M[N]>): void {
    this.registerHandler(name, handler);
  }

  /** Checks and registers a handler; its arguments are typed by the table, checked at run time. */
  private registerHandler(name: string, handler: unknown): void {
    if ((BUILTIN_COMMANDS as readonly string[]).includes(name)) {
      throw new Error(`${name} is built into the server and cannot be replaced`);
    }
    if (typeof handler !== 'function')
      throw new TypeError(`the handler of ${name} is not a function`);
    this.registerEntry(name, handler as CheckedHandler);
  }

  private registerEntry(name: string, handler: CheckedHandler | undefined): void {
    const entry = this.commandEntries.get(name);
    if (entry === undefined) {
      throw new Error(`${name} is not a command of the schema, so it cannot be registered`);
    }
    this.commands.delete(name);
    this.commands.set(name, { handler, allowOob: entry['allow-oob'] === true });
  }

  /** The commands the server answers (built-ins and registered), in registration order. */
  get commandNames(): string[] {
    return [...this.commands.keys()];
  }

  /** Open client sessions. */
  get clientCount(): number {
    return this.sessions.length;
  }

  /** Open monitors. */
  get monitorCount(): number {
    return this.monitors.size;
  }

  log(level: 'info' | 'warn' | 'error', message: string): void {
    try {
      this.logger(level, message);
    } catch {
      // A failing log sink must not take the server down.
    }
  }

  /** Creates a monitor (a listening endpoint's client line). */
  createMonitor(options: MonitorOptions = {}): Monitor {
    if (this.closing !== undefined) throw new Error('the server is closed');
    const monitor = new Monitor(this, options);
    this.monitors.add(monitor);
    return monitor;
  }

  /**
   * Serves an already-connected transport (not yet started) — e.g. one side of the in-memory
   * linked pair — on a monitor of its own, or on `monitor` when given.
   */
  serve(transport: Transport, options: AttachOptions & { monitor?: Monitor } = {}): void {
    if (options.monitor !== undefined) {
      options.monitor.attach(transport, options);
      return;
    }
    // A monitor of its own, which goes away with its only client.
    const monitor = this.createMonitor({ name: options.peer ?? 'transport' });
    monitor.closeWhenIdle = true;
    monitor.attach(transport, options);
  }

  /** Emits an event to every client in command mode (applying QEMU's throttling). */
  emit<E extends EventName>(event: E, data: EventData<E>, options: EmitOptions = {}): void {
    this.raiseEvent(event, data, options.timestamp);
  }

  /** Stops every monitor (listeners stop, socket files go), ends every session. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const state of this.throttles.values()) clearTimeout(state.timer);
      this.throttles.clear();
      await Promise.allSettled([...this.monitors].map((m) => m.close()));
      await Promise.allSettled(this.sessions.map((s) => s.shutdown()));
      this.resolveClosed?.();
    })();
    return this.closing;
  }

  /**
   * Closes at once, cutting off every client without waiting for its output to be read (for a
   * second Ctrl-C while a shutdown waits). Same promise as `close()`.
   */
  abort(): Promise<void> {
    for (const session of this.sessions) session.disconnect();
    return this.close();
  }

  /** True once `close()` has begun. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Sessions
  // -------------------------------------------------------------------------------------------

  /** @internal */
  monitorClosed(monitor: Monitor): void {
    this.monitors.delete(monitor);
  }

  /** @internal Greets a transport and starts serving it. */
  openSession(monitor: Monitor, transport: Transport, peer: string): Session {
    const info: ClientInfo = { id: this.nextClientId++, monitor: monitor.name, peer };
    const session = new Session(this, monitor, transport, info);
    this.sessions.push(session);
    transport.onmessage = (value) => this.onInput(session, { value });
    transport.onerror = (error) => {
      if (ProtocolError.isInstance(error) && error.kind !== 'output-overflow') {
        this.onInput(session, { inputError: error.message });
      } else if (!ProtocolError.isInstance(error)) {
        // An output overflow was logged once when it was detected.
        this.log('error', `client ${info.id}: ${error.message}`);
      }
    };
    transport.onend = () => {
      session.inputEnded = true;
      session.maybeFinish();
    };
    transport.onclose = (cause) => this.onSessionClosed(session, cause);
    this.log('info', `client ${info.id} connected to ${monitor.name} (${peer})`);
    session.writeText(encodeJson(makeGreeting(this.version, this.capabilities), ENCODE) + EOL);
    transport.start().catch((error: unknown) => {
      this.log('error', `client ${info.id}: cannot start: ${String(error)}`);
    });
    try {
      this.onClientConnect?.(info);
    } catch (error) {
      this.log('error', `onClientConnect threw: ${String(error)}`);
    }
    return session;
  }

  private onSessionClosed(session: Session, cause: Error | undefined): void {
    if (session.closed) return;
    session.closed = true;
    // Queued requests are dropped, never executed (QEMU's monitor_qmp_cleanup_queue).
    session.queue.length = 0;
    this.sessions = this.sessions.filter((s) => s !== session);
    const why = cause === undefined || cause.message === '' ? '' : ` (${cause.message})`;
    this.log('info', `client ${session.info.id} left ${session.monitor.name}${why}`);
    session.monitor.sessionClosed(session);
    try {
      this.onClientDisconnect?.(session.info);
    } catch (error) {
      this.log('error', `onClientDisconnect threw: ${String(error)}`);
    }
  }

  /** One complete input item of a session (QEMU's handle_qmp_command). */
  private onInput(session: Session, request: Request): void {
    if (session.closed) return;
    if ('value' in request && isOobRequest(request.value)) {
      // exec-oob bypasses the queue; qmp_dispatch then refuses it unless OOB is on.
      session.running++;
      void this.execute(session, request.value).finally(() => {
        session.running--;
        session.maybeFinish();
      });
      return;
    }
    if (!session.oob || session.queue.length === REQUEST_QUEUE_MAX - 1) session.suspend();
    session.queue.push(request);
    this.kick();
  }

  private kick(): void {
    if (this.dispatching) return;
    this.dispatching = true;
    void this.dispatchLoop();
  }

  /** The in-band dispatcher: one request at a time, sessions round-robin. */
  private async dispatchLoop(): Promise<void> {
    try {
      for (;;) {
        const index = this.sessions.findIndex((s) => s.queue.length > 0);
        if (index < 0) break;
        const session = this.sessions[index]!;
        // Served: to the back of the line.
        this.sessions.splice(index, 1);
        this.sessions.push(session);
        const request = session.queue.shift()!;
        const oobWasEnabled = session.oob;
        if (oobWasEnabled && session.queue.length === REQUEST_QUEUE_MAX - 1) session.resume();
        session.running++;
        try {
          if ('inputError' in request) {
            this.replyTo(session, makeErrorReply('GenericError', request.inputError), undefined);
          } else {
            await this.execute(session, request.value);
          }
        } finally {
          session.running--;
        }
        if (!oobWasEnabled) session.resume();
        session.maybeFinish();
      }
    } catch (error) {
      this.log('error', `dispatcher failure: ${String(error)}`);
    } finally {
      this.dispatching = false;
    }
    // Requests that arrived while the loop was finishing.
    if (this.sessions.some((s) => s.queue.length > 0)) this.kick();
  }

  /**
   * Where a request's reply goes: its own session while it is connected; after it left, the
   * client now connected to the same single-client monitor (QEMU writes to the monitor, not to
   * the connection — reference §10.2); otherwise nowhere.
   */
  private replyTarget(session: Session): Session | undefined {
    if (!session.closed) return session;
    if (session.monitor.serveAllClients) return undefined;
    return session.monitor.active;
  }

  private replyTo(session: Session, message: object, after: AfterReply | undefined): void {
    const reply = message as JsonObject;
    const target = this.replyTarget(session);
    if (target !== undefined) {
      if (!target.negotiated && isCommandNotFound(reply)) {
        // monitor_qmp_dispatch's more useful message for a monitor still negotiating.
        (reply.error as JsonObject).desc =
          "Expecting capabilities negotiation with 'qmp_capabilities'";
      }
      let text: string;
      try {
        text = encodeJson(reply, ENCODE) + EOL;
      } catch (error) {
        this.log('error', `cannot encode the reply to client ${session.info.id}: ${String(error)}`);
        const fallback = makeErrorReply('GenericError', 'Internal error: unencodable reply');
        if ('id' in reply) fallback.id = reply.id!;
        text = encodeJson(fallback, ENCODE) + EOL;
      }
      target.writeText(text);
    }
    if (after !== undefined) {
      for (const step of after.steps) {
        try {
          step();
        } catch (error) {
          this.log('error', `an after-reply step threw: ${describeError(error)}`);
        }
      }
    }
  }

  /** qmp_dispatch: structural checks, lookup, validation, the handler, the reply. */
  private async execute(session: Session, value: unknown): Promise<void> {
    if (!isJsonObject(value)) {
      this.replyTo(
        session,
        makeErrorReply('GenericError', 'QMP input must be a JSON object'),
        undefined,
      );
      return;
    }
    const hasId = Object.hasOwn(value, 'id');
    const id = hasId ? value.id : undefined;
    const fail = (errorClass: QapiErrorClass, desc: string, after?: AfterReply) =>
      this.replyTo(session, makeErrorReply(errorClass, desc, id), after);

    const allowOob = session.oob;
    let execKey: string | undefined;
    for (const key of qemuMemberOrder(Object.keys(value))) {
      const member = value[key];
      if (key === 'execute' || (key === 'exec-oob' && allowOob)) {
        if (typeof member !== 'string') {
          fail('GenericError', `QMP input member '${key}' must be a string`);
          return;
        }
        if (execKey !== undefined) {
          fail('GenericError', `QMP input member '${key}' clashes with '${execKey}'`);
          return;
        }
        execKey = key;
      } else if (key === 'arguments') {
        if (!isJsonObject(member)) {
          fail('GenericError', "QMP input member 'arguments' must be an object");
          return;
        }
      } else if (key !== 'id') {
        fail('GenericError', `QMP input member '${key}' is unexpected`);
        return;
      }
    }
    if (execKey === undefined) {
      fail('GenericError', "QMP input lacks member 'execute'");
      return;
    }
    const name = value[execKey] as string;
    const oob = execKey === 'exec-oob';
    // In negotiation mode only qmp_capabilities exists (qmp_cap_negotiation_commands).
    const registered =
      session.negotiated || name === 'qmp_capabilities' ? this.commands.get(name) : undefined;
    if (registered === undefined) {
      fail('CommandNotFound', `The command ${name} has not been found`);
      return;
    }
    if (oob && !registered.allowOob) {
      fail('GenericError', `The command ${name} does not support OOB`);
      return;
    }
    const args = Object.hasOwn(value, 'arguments') ? (value.arguments as JsonObject) : undefined;
    const checked = this.validator.validate(name, args);
    if (!checked.ok) {
      fail('GenericError', checked.desc);
      return;
    }
    const after: AfterReply = { steps: [] };
    const context: CommandContext = {
      command: name,
      id,
      oob,
      client: session.info,
      emit: (event, data, options = {}) => this.raiseEvent(event, data, options.timestamp),
      emitAfterReply: (event, data, options = {}) => {
        after.steps.push(() => this.raiseEvent(event, data, options.timestamp));
      },
      afterReply: (callback) => {
        after.steps.push(callback);
      },
    };
    let result: unknown;
    try {
      result =
        registered.handler === undefined
          ? this.builtin(session, name, checked.value, context)
          : await registered.handler(checked.value, context);
    } catch (error) {
      if (CommandError.isInstance(error)) {
        fail(error.errorClass, error.desc, after);
      } else {
        this.log(
          'error',
          `command ${name} of client ${session.info.id} failed: ${describeError(error)}`,
        );
        fail(
          'GenericError',
          error instanceof Error && error.message !== '' ? error.message : 'Internal error',
          after,
        );
      }
      return;
    }
    // makeSuccess's shape; the handler's value is any JSON its command returns.
    this.replyTo(session, hasId ? { return: result ?? {}, id } : { return: result ?? {} }, after);
  }

  private builtin(
    session: Session,
    name: string,
    args: Record<string, unknown>,
    context: CommandContext,
  ): unknown {
    switch (name) {
      case 'qmp_capabilities': {
        if (session.negotiated) {
          throw new CommandError(
            'CommandNotFound',
            'Capabilities negotiation is already complete, command ignored',
          );
        }
        const enable = (args.enable as string[] | undefined) ?? [];
        const unavailable = enable.filter((c) => !this.capabilities.includes(c));
        if (unavailable.length > 0) {
          throw new CommandError(
            'GenericError',
            `Capability ${unavailable.join(', ')} not available`,
          );
        }
        session.oob = enable.includes('oob');
        session.negotiated = true;
        return {};
      }
      case 'query-version':
        return { qemu: { ...this.version.qemu }, package: this.version.package };
      case 'query-commands':
        // QEMU registers commands in schema order and prepends each one while walking its table,
        // so it lists them in reverse schema order (verified on qemu-storage-daemon 7.2).
        return [...this.commandEntries.keys()]
          .filter((command) => this.commands.has(command))
          .reverse()
          .map((command) => ({ name: command }));
      case 'query-qmp-schema':
        return this.schema;
      case 'quit':
        // qemu-storage-daemon leaves its main loop and ends its jobs before the monitor sends
        // anything more: their events reach clients before quit's reply (verified on 7.2).
        this.onQuit?.();
        context.afterReply(() => void this.close());
        return {};
      default:
        throw new Error(`no built-in command ${name}`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Events
  // -------------------------------------------------------------------------------------------

  private timestamp(given: QmpTimestamp | undefined): QmpTimestamp {
    return given ?? timestampFromMillis(this.now());
  }

  private raiseEvent(event: string, data: unknown, timestamp: QmpTimestamp | undefined): void {
    if (this.closing !== undefined) return;
    const message = makeEvent(event, data as JsonObject | undefined, this.timestamp(timestamp));
    const text = encodeJson(message, ENCODE) + EOL;
    if (!Object.hasOwn(THROTTLED_EVENTS, event)) {
      this.broadcast(text);
      return;
    }
    const keyMember = THROTTLED_EVENTS[event];
    const keyValue =
      keyMember === null || keyMember === undefined
        ? ''
        : String((data as Record<string, unknown> | undefined)?.[keyMember] ?? '');
    const key = `${event}\u0000${keyValue}`;
    const state = this.throttles.get(key);
    if (state !== undefined) {
      // Within the period: keep only the latest, sent when the period ends.
      state.pending = text;
      return;
    }
    this.broadcast(text);
    this.armThrottle(key, { timer: undefined, pending: undefined });
  }

  private armThrottle(key: string, state: ThrottleState): void {
    state.timer = setTimeout(() => {
      if (state.pending === undefined) {
        this.throttles.delete(key);
        return;
      }
      const text = state.pending;
      state.pending = undefined;
      this.broadcast(text);
      this.armThrottle(key, state);
    }, this.throttlePeriodMs);
    (state.timer as { unref?: () => void }).unref?.();
    this.throttles.set(key, state);
  }

  /** Writes an event to every client in command mode, on every monitor. */
  private broadcast(text: string): void {
    for (const session of this.sessions) if (session.negotiated) session.writeText(text);
  }
}

function isOobRequest(value: unknown): boolean {
  return (
    isJsonObject(value) && Object.hasOwn(value, 'exec-oob') && !Object.hasOwn(value, 'execute')
  );
}

function isCommandNotFound(reply: JsonObject): boolean {
  const error = reply.error;
  return isJsonObject(error) && error.class === 'CommandNotFound';
}

function describeError(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}
