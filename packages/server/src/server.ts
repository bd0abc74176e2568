/**
 * The QMP server: monitors, client sessions, QEMU's request handling, the dispatcher, events.
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
 *   connected to the monitor when it completes (reference §10.2).
 */
import {
  CommandError,
  encodeJson,
  isJsonObject,
  type JsonObject,
  makeErrorReply,
  makeEvent,
  makeGreeting,
  makeSuccess,
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
  CommandName,
  EventName,
  IntrospectionCommand,
  IntrospectionEntry,
} from '@qmpkit/qapi-types';
import type {
  AttachOptions,
  ClientInfo,
  CommandContext,
  CommandHandler,
  EmitOptions,
  EventData,
  MonitorOptions,
  QmpServerOptions,
  ServerLogger,
} from './types.js';
import { SchemaValidator } from './validate.js';

/** QEMU's QMP_REQ_QUEUE_LEN_MAX: in-band requests a session queues before it stops reading. */
export const REQUEST_QUEUE_MAX = 8;

/** Default bound of a client's unsent output. */
export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

/**
 * Unsent output above which a session reads no more input until its client has taken most of
 * it: a client that pipelines requests while reading gets every reply (QEMU, too, reads no
 * more while it has work in hand), and what an input can cost stays bounded. Only output the
 * client did not ask for (events) can then pass `maxOutputBytes`: that client truly stopped
 * reading.
 */
export const OUTPUT_HIGH_WATER_BYTES = 1024 * 1024;

/** At shutdown, a client whose output makes no progress for this long is cut off. */
const SHUTDOWN_STALL_MS = 250;

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

/** An in-band request: a JSON value, or the desc of an input error. */
type Request = { readonly value: unknown } | { readonly inputError: string };

interface Registered {
  readonly handler: CommandHandler | undefined;
  readonly allowOob: boolean;
}

interface ThrottleState {
  timer: ReturnType<typeof setTimeout>;
  pending: string | undefined;
}

/** What a request left to do once its reply is written. */
interface AfterReply {
  readonly steps: (() => void)[];
}

/** One client connection. */
class Session {
  readonly info: ClientInfo;
  negotiated = false;
  oob = false;
  readonly queue: Request[] = [];
  closed = false;
  inputEnded = false;
  /** Requests of this session being executed (in-band or OOB). */
  running = 0;
  private suspended = 0;
  private unsentBytes = 0;
  private pendingText: string[] = [];
  private writing = false;
  private outputBlocked = false;
  private overflowed = false;
  private finishing = false;
  private onOutputProgress: (() => void) | undefined;

  constructor(
    readonly server: QmpServer,
    readonly monitor: Monitor,
    readonly transport: Transport,
    info: ClientInfo,
  ) {
    this.info = info;
  }

  suspend(): void {
    if (this.suspended++ === 0 && !this.closed) this.transport.pause();
  }

  resume(): void {
    if (this.suspended === 0) return;
    if (--this.suspended === 0 && !this.closed) this.transport.resume();
  }

  /**
   * Writes encoded text. Output is coalesced: one write is handed to the transport at a time and
   * what is written meanwhile goes out together with the next, so many small replies cost bytes,
   * not per-write bookkeeping. Above `OUTPUT_HIGH_WATER_BYTES` unsent, input stops until the
   * client has read most of it; above `maxOutputBytes` the client is cut off (logged once).
   */
  writeText(text: string): void {
    if (this.closed || this.overflowed) return;
    // QEMU's output is pure ASCII, so characters are bytes.
    this.unsentBytes += text.length;
    if (this.unsentBytes > this.server.maxOutputBytes) {
      this.overflowed = true;
      this.pendingText = [];
      this.server.log(
        'warn',
        `client ${this.info.id} on ${this.info.monitor} is not reading its output (more than ${this.server.maxOutputBytes} bytes unsent); disconnecting it`,
      );
      this.disconnect(
        new ProtocolError('output-overflow', `client ${this.info.id} stopped reading its output`),
      );
      return;
    }
    this.pendingText.push(text);
    if (!this.outputBlocked && this.unsentBytes > this.highWater) {
      this.outputBlocked = true;
      this.suspend();
    }
    if (!this.writing) this.flush();
  }

  private get highWater(): number {
    return Math.min(OUTPUT_HIGH_WATER_BYTES, this.server.maxOutputBytes);
  }

  private flush(): void {
    const text = this.pendingText.length === 1 ? this.pendingText[0]! : this.pendingText.join('');
    this.pendingText = [];
    this.writing = true;
    const size = text.length;
    const written = () => {
      this.writing = false;
      this.unsentBytes -= size;
      if (this.pendingText.length > 0 && !this.closed && !this.overflowed) {
        this.flush();
      } else if (this.outputBlocked && this.unsentBytes <= this.highWater / 2) {
        this.outputBlocked = false;
        this.resume();
      }
      const wake = this.onOutputProgress;
      this.onOutputProgress = undefined;
      wake?.();
    };
    this.transport.sendRaw(text).then(written, written);
  }

  /** True when every reply and event written so far was handed to the transport. */
  get outputDrained(): boolean {
    return !this.writing && this.pendingText.length === 0;
  }

  /** Closes once the output is handed over (QEMU flushes its replies before closing). */
  closeWhenFlushed(): void {
    if (this.closed || this.finishing) return;
    this.finishing = true;
    void this.drain().then(() => this.transport.close().catch(() => {}));
  }

  private async drain(): Promise<void> {
    while (!this.outputDrained && !this.closed && !this.overflowed) {
      await new Promise<void>((resolve) => {
        this.onOutputProgress = resolve;
      });
    }
  }

  /**
   * Ends the session for a shutdown: the output is flushed while the client takes it; a client
   * whose output stalls (it is not reading) is cut off at once rather than holding up the exit.
   */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    for (;;) {
      if (this.outputDrained) break;
      const progressed = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), SHUTDOWN_STALL_MS);
        this.onOutputProgress = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      if (this.closed) return;
      if (!progressed) {
        this.disconnect();
        return;
      }
    }
    await closeTransport(this.transport, SHUTDOWN_STALL_MS);
  }

  disconnect(cause?: Error): void {
    const abortable = this.transport as Transport & { abort?: (cause?: Error) => void };
    if (typeof abortable.abort === 'function') abortable.abort(cause);
    else void this.transport.close().catch(() => {});
  }

  /** Half-closed input: close once everything read has been answered (QEMU does). */
  maybeFinish(): void {
    if (this.inputEnded && !this.closed && this.queue.length === 0 && this.running === 0) {
      this.closeWhenFlushed();
    }
  }
}

/**
 * One listening endpoint (QEMU: one monitor on one chardev). Create it with
 * `QmpServer.createMonitor()`; the Node listeners in `@qmpkit/server/node` create one each.
 */
export class Monitor {
  private currentName: string;
  readonly serveAllClients: boolean;
  /** The client currently served (single-client mode). */
  active: Session | undefined;
  readonly sessions = new Set<Session>();
  private readonly waiting: { transport: Transport; peer: string }[] = [];
  private closing: Promise<void> | undefined;
  private readonly onClose: (() => Promise<void> | void) | undefined;

  constructor(
    private readonly server: QmpServer,
    options: MonitorOptions,
  ) {
    this.currentName = options.name ?? 'monitor';
    this.serveAllClients = options.serveAllClients ?? false;
    this.onClose = options.onClose;
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** The monitor's name in logs. */
  get name(): string {
    return this.currentName;
  }

  /** @internal Renames the monitor (a TCP listener learns its port after binding). */
  rename(name: string): void {
    this.currentName = name;
  }

  /** Number of clients accepted but not yet greeted. */
  get waitingClients(): number {
    return this.waiting.length;
  }

  /**
   * Hands a connected transport (not started) to this monitor: it is greeted now, or — on a
   * single-client monitor that is busy — when the clients before it have left.
   */
  attach(transport: Transport, options: AttachOptions = {}): void {
    const peer = options.peer ?? 'peer';
    if (this.closed) {
      void transport.close().catch(() => {});
      return;
    }
    if (this.serveAllClients || this.active === undefined) {
      this.open(transport, peer);
      return;
    }
    // Like QEMU, which leaves them in the listen backlog: every client waits its turn, none is
    // turned away (a waiting transport is paused, so it costs a socket and no reading).
    if (this.waiting.length >= this.server.maxWaitingClients) {
      this.server.log(
        'warn',
        `${this.name}: ${this.waiting.length} clients already wait; refusing ${peer}`,
      );
      void transport.close().catch(() => {});
      return;
    }
    const entry = { transport, peer };
    this.waiting.push(entry);
    // A waiting client that goes away leaves the line.
    transport.onclose = () => {
      const index = this.waiting.indexOf(entry);
      if (index >= 0) this.waiting.splice(index, 1);
    };
  }

  private open(transport: Transport, peer: string): void {
    const session = this.server.openSession(this, transport, peer);
    this.sessions.add(session);
    if (!this.serveAllClients) this.active = session;
  }

  /** @internal Set for the monitor `QmpServer.serve()` creates for one transport. */
  closeWhenIdle = false;

  /** @internal Called by the server when a session of this monitor is over. */
  sessionClosed(session: Session): void {
    this.sessions.delete(session);
    if (this.active === session) {
      this.active = undefined;
      if (!this.closed) {
        const next = this.waiting.shift();
        if (next !== undefined) this.open(next.transport, next.peer);
      }
    }
    if (this.closeWhenIdle && this.sessions.size === 0 && this.waiting.length === 0) {
      void this.close();
    }
  }

  /** Stops accepting, disconnects its clients (waiting ones too). Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const waiting = this.waiting.splice(0);
      await Promise.allSettled([
        Promise.resolve(this.onClose?.()),
        ...waiting.map((w) => closeTransport(w.transport)),
        ...[...this.sessions].map((s) => s.shutdown()),
      ]);
      this.server.monitorClosed(this);
    })();
    return this.closing;
  }
}

/**
 * A QMP server that answers like QEMU 7.2. Handlers are plugged in by command name; the server
 * does the protocol, the validation and the flow control.
 */
export class QmpServer {
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
  private readonly onQuit: () => void;
  private readonly onClientConnect: ((client: ClientInfo) => void) | undefined;
  private readonly onClientDisconnect: ((client: ClientInfo) => void) | undefined;
  private readonly monitors = new Set<Monitor>();
  /** Every open session, in the dispatcher's round-robin order. */
  private sessions: Session[] = [];
  private nextClientId = 1;
  private dispatching = false;
  private closing: Promise<void> | undefined;
  private resolveClosed: (() => void) | undefined;
  /** Resolves once the server has closed (by `close()`, or by `quit` with the default). */
  readonly whenClosed: Promise<void> = new Promise((resolve) => {
    this.resolveClosed = resolve;
  });

  constructor(options: QmpServerOptions) {
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
    this.onQuit = options.onQuit ?? (() => void this.close());
    this.onClientConnect = options.onClientConnect;
    this.onClientDisconnect = options.onClientDisconnect;
    for (const name of BUILTIN_COMMANDS) this.registerEntry(name, undefined);
    for (const [name, handler] of Object.entries(options.handlers ?? {})) {
      if (handler !== undefined) this.register(name as CommandName, handler as CommandHandler);
    }
  }

  /**
   * Registers a handler. The command must exist in the schema (its arguments are validated
   * from it) and must not be a built-in. Registering a name twice replaces the handler.
   */
  register<N extends CommandName>(name: N, handler: CommandHandler<N>): void {
    if ((BUILTIN_COMMANDS as readonly string[]).includes(name)) {
      throw new Error(`${name} is built into the server and cannot be replaced`);
    }
    if (typeof handler !== 'function')
      throw new TypeError(`the handler of ${name} is not a function`);
    this.registerEntry(name, handler as unknown as CommandHandler);
  }

  private registerEntry(name: string, handler: CommandHandler | undefined): void {
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
          : await registered.handler(checked.value as never, context);
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
    this.replyTo(session, makeSuccess((result ?? {}) as never, id as never), after);
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
        context.afterReply(() => this.onQuit());
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
    this.armThrottle(key, { timer: undefined as never, pending: undefined });
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

/**
 * Closes a transport, flushing its output; a peer that does not read within `graceMs` is cut
 * off, so closing never hangs on it.
 */
export async function closeTransport(transport: Transport, graceMs = 2000): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      const abortable = transport as Transport & { abort?: (cause?: Error) => void };
      abortable.abort?.();
      resolve();
    }, graceMs);
  });
  try {
    await Promise.race([transport.close().catch(() => {}), timeout]);
  } finally {
    clearTimeout(timer);
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
