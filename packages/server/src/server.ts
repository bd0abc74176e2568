/**
 * The QMP server: what a user creates and plugs handlers into. It puts together the parts that
 * each do one thing of QEMU 7.2's monitor —
 * - commands.ts: the commands answered (built-ins and registered handlers, from the schema);
 * - dispatcher.ts: request handling, flow control and qmp_dispatch;
 * - builtins.ts: qmp_capabilities, query-version, query-commands, query-qmp-schema, quit;
 * - events.ts: events, QEMU's throttling, broadcast;
 * - session.ts: a client's session and its bounded output; monitor.ts: a listening endpoint's
 *   line of clients —
 * and wires sessions to the dispatcher. Monitors and sessions reach the server only through
 * their narrow host interfaces.
 *
 * Beyond QEMU, a session also reads nothing, and runs none of its queued requests, while more
 * than `OUTPUT_HIGH_WATER_BYTES` of its output is unread, so memory stays bounded by what the
 * client takes.
 */
import {
  encodeJson,
  makeGreeting,
  ProtocolError,
  type QmpCapability,
  type QmpVersion,
  type Transport,
} from '@qmpkit/protocol';
import type { CommandMap, EventName, IntrospectionEntry } from '@qmpkit/qapi-types/7.2';
import { runBuiltin } from './builtins.js';
import { CommandRegistry } from './commands.js';
import { Dispatcher } from './dispatcher.js';
import { EventBroadcaster } from './events.js';
import { Monitor, type MonitorHost } from './monitor.js';
import { Session, type SessionHost } from './session.js';
import type {
  AttachOptions,
  ClientInfo,
  CommandHandlerOf,
  CommandTable,
  EmitOptions,
  EventData,
  MonitorOptions,
  QmpServerOptions,
  ServerLogger,
} from './types.js';
import { SchemaValidator } from './validate.js';
import { QEMU_WIRE_ENCODING, QMP_LINE_END } from './wire.js';

export { BUILTIN_COMMANDS } from './commands.js';
export { REQUEST_QUEUE_MAX } from './dispatcher.js';
export { THROTTLED_EVENTS } from './events.js';
export { Monitor, type MonitorHost } from './monitor.js';
export { OUTPUT_HIGH_WATER_BYTES } from './session.js';

/** Default bound of a client's unsent output. */
export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

/** The version presented by default: QEMU 7.2.0. */
export const DEFAULT_QEMU_VERSION = { major: 7, minor: 2, micro: 0 } as const;

function defaultLog(level: string, message: string): void {
  if (level !== 'info') console.error(`qmpkit-server: ${message}`);
}

function defaultNow(): number {
  return performance.timeOrigin + performance.now();
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
  private readonly commands: CommandRegistry;
  private readonly dispatcher: Dispatcher;
  private readonly events: EventBroadcaster;
  private readonly logger: ServerLogger;
  private readonly onQuit: (() => void) | undefined;
  private readonly onClientConnect: ((client: ClientInfo) => void) | undefined;
  private readonly onClientDisconnect: ((client: ClientInfo) => void) | undefined;
  private readonly monitors = new Set<Monitor>();
  /** What monitors may call: greet a client, report that they closed. */
  private readonly monitorHost: MonitorHost;
  /** What sessions may call: the output bound, the log, waking the dispatcher. */
  private readonly sessionHost: SessionHost;
  private nextClientId = 1;
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
    this.logger = options.log ?? defaultLog;
    this.onQuit = options.onQuit;
    this.onClientConnect = options.onClientConnect;
    this.onClientDisconnect = options.onClientDisconnect;
    const schema: readonly IntrospectionEntry[] = options.schema;
    this.commands = new CommandRegistry(schema);
    const validator = new SchemaValidator(schema, options.schemaExtras);
    this.events = new EventBroadcaster({
      now: options.now ?? defaultNow,
      throttlePeriodMs: options.throttlePeriodMs ?? 1000,
      writeToClients: (text) => {
        for (const session of this.dispatcher.sessions) {
          if (session.negotiated) session.writeEvent(text);
        }
      },
    });
    const around = options.aroundBuiltin;
    const builtins = {
      version: this.version,
      capabilities: this.capabilities,
      schema,
      queryCommandsOrder: () => this.commands.queryCommandsOrder(),
      quit: () => this.onQuit?.(),
      close: () => void this.close(),
    };
    this.dispatcher = new Dispatcher({
      commands: this.commands,
      validator,
      log: (level, message) => this.log(level, message),
      raiseEvent: (event, data, timestamp) => this.events.raise(event, data, timestamp),
      runBuiltin:
        around === undefined
          ? (name, session, args, context) => runBuiltin(builtins, name, session, args, context)
          : (name, session, args, context) =>
              around(name, context, () => runBuiltin(builtins, name, session, args, context)),
    });
    this.monitorHost = {
      maxWaitingClients: this.maxWaitingClients,
      log: (level, message) => this.log(level, message),
      openSession: (monitor, transport, peer) => this.openSession(monitor, transport, peer),
      monitorClosed: (monitor) => this.monitors.delete(monitor),
    };
    this.sessionHost = {
      maxOutputBytes: this.maxOutputBytes,
      log: (level, message) => this.log(level, message),
      outputUnblocked: () => this.dispatcher.kick(),
    };
    const handlers: Readonly<Record<string, unknown>> = options.handlers ?? {};
    for (const name of Object.keys(handlers)) {
      const handler = handlers[name];
      if (handler !== undefined) this.commands.register(name, handler);
    }
  }

  /**
   * Registers a handler. The command must exist in the schema (its arguments are validated
   * from it) and must not be a built-in. Registering a name twice replaces the handler.
   */
  register<N extends keyof M & string>(name: N, handler: CommandHandlerOf<M[N]>): void {
    this.commands.register(name, handler);
  }

  /** The commands the server answers (built-ins and registered), in registration order. */
  get commandNames(): string[] {
    return this.commands.names;
  }

  /** Open client sessions. */
  get clientCount(): number {
    return this.dispatcher.sessions.length;
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
    const monitor = new Monitor(this.monitorHost, options);
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
    this.events.raise(event, data, options.timestamp);
  }

  /** Stops every monitor (listeners stop, socket files go), ends every session. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.events.stop();
      await Promise.allSettled([...this.monitors].map((m) => m.close()));
      await Promise.allSettled(this.dispatcher.sessions.map((s) => s.shutdown()));
      this.resolveClosed?.();
    })();
    return this.closing;
  }

  /**
   * Closes at once, cutting off every client without waiting for its output to be read (for a
   * second Ctrl-C while a shutdown waits). Same promise as `close()`.
   */
  abort(): Promise<void> {
    for (const session of this.dispatcher.sessions) session.disconnect();
    return this.close();
  }

  /** True once `close()` has begun. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Greets a transport a monitor hands over and starts serving it. */
  private openSession(monitor: Monitor, transport: Transport, peer: string): Session {
    const info: ClientInfo = { id: this.nextClientId++, monitor: monitor.name, peer };
    const session = new Session(this.sessionHost, monitor, transport, info);
    this.dispatcher.add(session);
    transport.onmessage = (value) => this.dispatcher.onInput(session, { value });
    transport.onerror = (error) => {
      if (ProtocolError.isInstance(error) && error.kind !== 'output-overflow') {
        this.dispatcher.onInput(session, { inputError: error.message });
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
    session.writeText(
      encodeJson(makeGreeting(this.version, this.capabilities), QEMU_WIRE_ENCODING) + QMP_LINE_END,
    );
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
    this.dispatcher.remove(session);
    const why = cause === undefined || cause.message === '' ? '' : ` (${cause.message})`;
    this.log('info', `client ${session.info.id} left ${session.monitor.name}${why}`);
    session.monitor.sessionClosed(session);
    try {
      this.onClientDisconnect?.(session.info);
    } catch (error) {
      this.log('error', `onClientDisconnect threw: ${String(error)}`);
    }
  }
}
