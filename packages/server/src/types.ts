/**
 * The public types of the server: handlers, their context, events, options.
 */
import type { QmpCapability, QmpTimestamp, QmpVersionTriple } from '@qmpkit/protocol';
import type {
  CommandMap,
  CommandName,
  EventMap,
  EventName,
  IntrospectionEntry,
  QmpEmpty,
  QmpSchemaExtras,
} from '@qmpkit/qapi-types/7.2';

/**
 * What the server knows of one command at compile time: its arguments (after validation) and
 * its return value. `CommandMap` of @qmpkit/qapi-types has one per QEMU command.
 */
export interface CommandSignature {
  readonly args: unknown;
  readonly ret: unknown;
}

/**
 * A table of command signatures by name: QEMU's `CommandMap`, or `CommandMap` plus the
 * extension commands (`x-…`) that the runtime schema handed to the server also describes.
 */
export type CommandTable<M> = { readonly [N in keyof M]: CommandSignature };

/** The arguments a handler of command `N` receives (validated against the schema first). */
export type CommandArgs<N extends keyof M, M extends CommandTable<M> = CommandMap> = M[N]['args'];

/**
 * What a handler of command `N` returns. Commands without a return value may return nothing
 * (the reply is `{"return": {}}`, as QEMU sends).
 */
export type CommandResult<
  N extends keyof M,
  M extends CommandTable<M> = CommandMap,
> = SignatureResult<M[N]>;

/** What a handler of a command with signature `S` returns (see `CommandResult`). */
type SignatureResult<S extends CommandSignature> = S['ret'] extends QmpEmpty
  ? // biome-ignore lint/suspicious/noConfusingVoidType: lets `async () => { … }` be a handler.
    QmpEmpty | undefined | void
  : S['ret'];

/**
 * A command handler. It runs after QEMU's structural checks and argument validation passed;
 * it returns the command's value (or a promise of it), or throws `CommandError(class, desc)`
 * for an error reply. Anything else thrown becomes a `GenericError` reply and a log line.
 *
 * While an in-band handler runs, its client's session reads nothing more (QEMU without OOB),
 * and no other in-band command of any client starts (QEMU has one main loop).
 *
 * `N` is a command of QEMU's `CommandMap`; `CommandHandlerOf` types a handler by a signature
 * of any table (an extension command's).
 */
export type CommandHandler<N extends CommandName = CommandName> = CommandHandlerOf<CommandMap[N]>;

/**
 * A handler of the command with signature `S` (see `CommandHandler`). Typed by the signature,
 * not by the table, so a handler fits every table that has the same command.
 */
export type CommandHandlerOf<S extends CommandSignature> = (
  args: S['args'],
  context: CommandContext,
) => SignatureResult<S> | Promise<SignatureResult<S>>;

/**
 * Handlers by command name, typed by the command table (default: the generated `CommandMap`),
 * so a wrong name, argument or return type is a compile error. A map for a smaller table fits
 * a larger one.
 */
export type HandlerMap<M extends CommandTable<M> = CommandMap> = {
  readonly [N in keyof M]?: CommandHandlerOf<M[N]>;
};

/** The data of event `E` (`undefined` for events QEMU sends without `data`). */
export type EventData<E extends EventName> = EventMap[E];

/**
 * Sends an event to every client in command mode: the signature of `QmpServer.emit` and
 * `CommandContext.emit`, and what a producer of events outside any command (a simulator's
 * timers) is handed.
 */
export type EventBroadcast = <E extends EventName>(
  event: E,
  data: EventData<E>,
  options?: EmitOptions,
) => void;

/** Options of an emitted event. */
export interface EmitOptions {
  /**
   * The event's timestamp. Default: the server clock when the event is raised (for
   * `emitAfterReply`, when it is written after the reply).
   */
  readonly timestamp?: QmpTimestamp;
}

/** Who sent a command (also passed to the connection hooks). */
export interface ClientInfo {
  /** Server-wide client number, from 1. */
  readonly id: number;
  /** The monitor (listener) the client came in on. */
  readonly monitor: string;
  /** The peer's address, as the listener described it. */
  readonly peer: string;
}

/**
 * What a running handler can do besides returning. Event order relative to the reply:
 *
 * - `emit()` writes the event at once: since the reply is written only when the handler has
 *   returned, the event reaches every client **before** this command's reply — QEMU's order for
 *   events raised while a command runs (`job-dismiss`'s JOB_STATUS_CHANGE to `null`, `stop`'s
 *   STOP).
 * - `emitAfterReply()` queues the event until this command's reply (success or error) has been
 *   written, then emits it — QEMU's order for effects that happen in a later main-loop turn
 *   (a job's coroutine reacting to `job-cancel`). Events queued this way go out in call order,
 *   each timestamped when it is written unless `options.timestamp` says otherwise.
 * - `afterReply(fn)` runs `fn` right after the reply was written (and after the events queued
 *   by `emitAfterReply` before it): the place to start work that QEMU would do later, e.g.
 *   kicking off a simulated job.
 *
 * The server's own `emit()` is the same as `context.emit()`, for events outside any command.
 * A handler that returns a plain value (not a promise) is answered before any promise job it
 * queued runs. The methods are the context's own: call them on it (`context.emit(…)`), do not
 * detach them.
 */
export interface CommandContext {
  /** The command name. */
  readonly command: string;
  /** The request's `id` (undefined when it had none). */
  readonly id: unknown;
  /** True for an `exec-oob` request. */
  readonly oob: boolean;
  /** The client that sent it. */
  readonly client: ClientInfo;
  emit<E extends EventName>(event: E, data: EventData<E>, options?: EmitOptions): void;
  emitAfterReply<E extends EventName>(event: E, data: EventData<E>, options?: EmitOptions): void;
  afterReply(callback: () => void): void;
}

/** A log line's severity. */
export type LogLevel = 'info' | 'warn' | 'error';

/** Where the server's log lines go. */
export type ServerLogger = (level: LogLevel, message: string) => void;

/** The version the server presents (greeting and `query-version`). */
export interface ServerVersion {
  readonly qemu?: Partial<QmpVersionTriple>;
  readonly package?: string;
}

/**
 * Options of `QmpServer`. `M` is the command table the handlers are typed by: QEMU's
 * `CommandMap`, or `CommandMap` plus the extension commands `schema` adds.
 */
export interface QmpServerOptions<M extends CommandTable<M> = CommandMap> {
  /** Command handlers (names must be commands of the schema; built-ins cannot be replaced). */
  readonly handlers?: HandlerMap<M>;
  /** Version in the greeting and `query-version`; default QEMU 7.2.0, package `qmpkit`. */
  readonly version?: ServerVersion;
  /** Capabilities offered in the greeting; default `['oob']`, as QEMU offers on sockets. */
  readonly capabilities?: readonly QmpCapability[];
  /**
   * The runtime schema: what `query-qmp-schema` answers and what arguments are validated
   * against (for QEMU 7.2's, `qmpSchema` of @qmpkit/qapi-types). Handed in by whoever builds the
   * server, so this MIT package never loads the GPL schema itself.
   */
  readonly schema: readonly IntrospectionEntry[];
  /** What validation needs beyond the schema (`qmpSchemaExtras` beside `qmpSchema`). */
  readonly schemaExtras: QmpSchemaExtras;
  /** Clock for event timestamps, in milliseconds since the epoch (fractions give µs). */
  readonly now?: () => number;
  /** Log sink; default: warnings and errors to `console.error`, info dropped. */
  readonly log?: ServerLogger;
  /**
   * A client whose unsent output exceeds this many bytes when an event is written to it is
   * disconnected, with one warning logged. Replies never get it there: above 64 KiB unsent (or
   * half this bound, if lower) the server reads no more of the client's input, and runs none
   * of its queued requests, until it has read most of its output — so only a client that stops
   * reading while events keep coming is cut off. Default 64 MiB.
   */
  readonly maxOutputBytes?: number;
  /**
   * Clients a single-client monitor keeps waiting; more are disconnected. Default: no limit —
   * QEMU turns nobody away (waiting clients sit in its listen backlog).
   */
  readonly maxWaitingClients?: number;
  /** Throttle period of QEMU's rate-limited events, in milliseconds. Default 1000 (QEMU's). */
  readonly throttlePeriodMs?: number;
  /**
   * Work `quit` does before it is answered — e.g. cancelling jobs, whose events then reach
   * clients before quit's reply, as on qemu-storage-daemon 7.2. The server then answers and
   * closes (qemu-storage-daemon exits on `quit`).
   */
  readonly onQuit?: () => void;
  /** Called when a client is greeted and when it leaves. */
  readonly onClientConnect?: (client: ClientInfo) => void;
  readonly onClientDisconnect?: (client: ClientInfo) => void;
  /**
   * Runs around each built-in command (`qmp_capabilities`, `query-version`, `query-commands`,
   * `query-qmp-schema`, `quit`) after its arguments were validated: `run` does what the server
   * does for it and returns its result (it throws a `CommandError` as the built-in would); what
   * this returns — a value, a promise, or a throw — is the reply, as a handler's is. For test
   * doubles that delay or drop built-ins' replies; a server without it runs them directly.
   */
  readonly aroundBuiltin?: (
    command: string,
    context: CommandContext,
    run: () => unknown,
  ) => unknown;
}

/** Options of a monitor (one listening endpoint). */
export interface MonitorOptions {
  /** Name used in logs (a socket path, `host:port`, …). */
  readonly name?: string;
  /**
   * Serve every client at once (each with its own session). Default false: like QEMU, one
   * client at a time; later ones are accepted but get no greeting until the current one leaves.
   */
  readonly serveAllClients?: boolean;
  /** Runs when the monitor closes (a listener stops listening and removes its socket file). */
  readonly onClose?: () => Promise<void> | void;
}

/** Options of `QmpServer.serve()` / `Monitor.attach()`. */
export interface AttachOptions {
  /** The peer's address for logs. */
  readonly peer?: string;
}
