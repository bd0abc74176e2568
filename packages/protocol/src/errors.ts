/**
 * The qmpkit error hierarchy.
 *
 * Two families that must never be confused:
 * - wire errors, i.e. QMP `{"error": {"class", "desc"}}` replies: `ExecuteError` (what a client
 *   raises when QEMU answers a command with an error) and `CommandError` (what a server-side
 *   command handler throws so that the server answers with an error reply);
 * - local errors (`LocalError` and its subclasses), raised by this process about its own
 *   situation: the connection, the session state, malformed input, timeouts.
 *
 * `instanceof` breaks when two copies of this package are loaded (a bundled dependency, a
 * monorepo with two versions), so every class also stamps its instances with a
 * `Symbol.for('qmpkit.error.<Name>')` marker and offers a static `isInstance()` that checks the
 * marker instead of the prototype chain.
 */

/** The error classes QEMU 7.2 defines in qapi/error.json, in its order. */
export const QAPI_ERROR_CLASSES = [
  'GenericError',
  'CommandNotFound',
  'DeviceNotActive',
  'DeviceNotFound',
  'KVMMissingCap',
] as const;

/** One of QEMU 7.2's QMP error classes. */
export type QapiErrorClass = (typeof QAPI_ERROR_CLASSES)[number];

/** True when `value` is one of the five QMP error classes QEMU 7.2 defines. */
export function isQapiErrorClass(value: unknown): value is QapiErrorClass {
  return typeof value === 'string' && (QAPI_ERROR_CLASSES as readonly string[]).includes(value);
}

function markerOf(name: string): symbol {
  return Symbol.for(`qmpkit.error.${name}`);
}

/**
 * Stamps an error instance with the `Symbol.for('qmpkit.error.<name>')` marker. Error classes
 * of other packages call it in their constructor to join the scheme.
 */
export function stampErrorMarker(target: object, name: string): void {
  Object.defineProperty(target, markerOf(name), { value: true, enumerable: false });
}

/** True when `value` carries the marker `stampErrorMarker(…, name)` sets: for `isInstance()`. */
export function hasErrorMarker(value: unknown, name: string): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[markerOf(name)] === true
  );
}

/** Options every qmpkit error accepts: the standard `cause`. */
export interface QmpkitErrorOptions {
  cause?: unknown;
}

function errorOptions(options: QmpkitErrorOptions | undefined): ErrorOptions | undefined {
  return options !== undefined && 'cause' in options ? { cause: options.cause } : undefined;
}

/** Base class of every error qmpkit raises. */
export class QmpkitError extends Error {
  constructor(message: string, options?: QmpkitErrorOptions) {
    super(message, errorOptions(options));
    this.name = 'QmpkitError';
    stampErrorMarker(this, 'QmpkitError');
  }

  /** True for any qmpkit error, from any copy of the package. */
  static isInstance(value: unknown): value is QmpkitError {
    return hasErrorMarker(value, 'QmpkitError');
  }
}

// ---------------------------------------------------------------------------------------------
// Wire errors
// ---------------------------------------------------------------------------------------------

/** The command as it was sent, kept on an `ExecuteError` for diagnostics. */
export interface SentCommand {
  /** `execute` or `exec-oob` name. */
  readonly execute: string;
  readonly arguments?: unknown;
  readonly id?: unknown;
  /** True when the command was sent with `exec-oob`. */
  readonly oob?: boolean | undefined;
}

/**
 * QEMU answered a command with `{"error": {"class", "desc"}}`. Raised by the client.
 * `desc` is QEMU's text verbatim; `message` prefixes it with the command name.
 */
export class ExecuteError extends QmpkitError {
  /** The QMP error class; QEMU 7.2 only sends `QapiErrorClass` values, newer QEMUs might not. */
  readonly errorClass: QapiErrorClass | (string & {});
  /** QEMU's human-readable text, verbatim. */
  readonly desc: string;
  /** The command that got this reply. */
  readonly command: SentCommand;

  constructor(
    errorClass: QapiErrorClass | (string & {}),
    desc: string,
    command: SentCommand,
    options?: QmpkitErrorOptions,
  ) {
    super(`${command.execute}: ${desc}`, options);
    this.name = 'ExecuteError';
    this.errorClass = errorClass;
    this.desc = desc;
    this.command = command;
    stampErrorMarker(this, 'ExecuteError');
  }

  static override isInstance(value: unknown): value is ExecuteError {
    return hasErrorMarker(value, 'ExecuteError');
  }
}

/**
 * Thrown by a server-side command handler to make the server answer with
 * `{"error": {"class": errorClass, "desc": desc}}`. `message` is `desc`.
 */
export class CommandError extends QmpkitError {
  readonly errorClass: QapiErrorClass;
  readonly desc: string;

  constructor(errorClass: QapiErrorClass, desc: string, options?: QmpkitErrorOptions) {
    super(desc, options);
    this.name = 'CommandError';
    this.errorClass = errorClass;
    this.desc = desc;
    stampErrorMarker(this, 'CommandError');
  }

  static override isInstance(value: unknown): value is CommandError {
    return hasErrorMarker(value, 'CommandError');
  }
}

// ---------------------------------------------------------------------------------------------
// Local errors
// ---------------------------------------------------------------------------------------------

/** Base class of the errors this process raises about its own situation (never a QMP reply). */
export class LocalError extends QmpkitError {
  constructor(message: string, options?: QmpkitErrorOptions) {
    super(message, options);
    this.name = 'LocalError';
    stampErrorMarker(this, 'LocalError');
  }

  static override isInstance(value: unknown): value is LocalError {
    return hasErrorMarker(value, 'LocalError');
  }
}

/** Options of a `ConnectError`. */
export interface ConnectErrorOptions extends QmpkitErrorOptions {
  /** The errno-style code (`ENOENT`, `ECONNREFUSED`, `ECONNRESET`, …) or `EOF` for a peer's close. */
  code?: string | undefined;
  /** The address involved: a socket path or `host:port`. */
  address?: string | undefined;
}

/**
 * The connection could not be made, failed, or was closed by the peer. `code` says which:
 * an errno code such as `ENOENT` (no socket file), `ECONNREFUSED`, `ECONNRESET`, `EPIPE`,
 * or `EOF` when the peer closed the connection cleanly.
 */
export class ConnectError extends LocalError {
  readonly code: string | undefined;
  readonly address: string | undefined;

  constructor(message: string, options?: ConnectErrorOptions) {
    super(message, options);
    this.name = 'ConnectError';
    this.code = options?.code;
    this.address = options?.address;
    stampErrorMarker(this, 'ConnectError');
  }

  static override isInstance(value: unknown): value is ConnectError {
    return hasErrorMarker(value, 'ConnectError');
  }
}

/** Options of a `StateError`. */
export interface StateErrorOptions extends QmpkitErrorOptions {
  /** The state the object was in when the operation was refused. */
  state?: string | undefined;
}

/** An operation was refused because of the object's state (send after close, start twice…). */
export class StateError extends LocalError {
  readonly state: string | undefined;

  constructor(message: string, options?: StateErrorOptions) {
    super(message, options);
    this.name = 'StateError';
    this.state = options?.state;
    stampErrorMarker(this, 'StateError');
  }

  static override isInstance(value: unknown): value is StateError {
    return hasErrorMarker(value, 'StateError');
  }
}

/**
 * What went wrong in a `ProtocolError`:
 * - `parse`: lexical or syntax error in the input (`message` is QEMU's `JSON parse error, …`);
 * - `message-too-large`: a message exceeded the byte or token limit (`JSON token size limit
 *   exceeded` / `JSON token count limit exceeded`);
 * - `nesting-too-deep`: more containers open at once than allowed (`JSON nesting depth limit
 *   exceeded`);
 * - `unexpected-message`: valid JSON that is not what the protocol allows at this point;
 * - `bad-greeting`: the first message was not a well-formed QMP greeting;
 * - `output-overflow`: the peer did not read and the bounded write buffer filled up.
 */
export type ProtocolErrorKind =
  | 'parse'
  | 'message-too-large'
  | 'nesting-too-deep'
  | 'unexpected-message'
  | 'bad-greeting'
  | 'output-overflow';

/** Options of a `ProtocolError`. */
export interface ProtocolErrorOptions extends QmpkitErrorOptions {
  /** The offending message, when there is one (decoded JSON). */
  received?: unknown;
}

/**
 * The peer broke the protocol, or input could not be decoded. For the codec kinds (`parse`,
 * `message-too-large`, `nesting-too-deep`) `message` is exactly the desc QEMU 7.2 would send
 * back for the same input, so a server can reply with it verbatim.
 */
export class ProtocolError extends LocalError {
  readonly kind: ProtocolErrorKind;
  readonly received: unknown;

  constructor(kind: ProtocolErrorKind, message: string, options?: ProtocolErrorOptions) {
    super(message, options);
    this.name = 'ProtocolError';
    this.kind = kind;
    this.received = options?.received;
    stampErrorMarker(this, 'ProtocolError');
  }

  static override isInstance(value: unknown): value is ProtocolError {
    return hasErrorMarker(value, 'ProtocolError');
  }
}

/** Options of a `TimeoutError`. */
export interface TimeoutErrorOptions extends QmpkitErrorOptions {
  /** The time limit that passed, in milliseconds. */
  timeoutMs?: number | undefined;
}

/** An operation did not complete within its time limit. */
export class TimeoutError extends LocalError {
  readonly timeoutMs: number | undefined;

  constructor(message: string, options?: TimeoutErrorOptions) {
    super(message, options);
    this.name = 'TimeoutError';
    this.timeoutMs = options?.timeoutMs;
    stampErrorMarker(this, 'TimeoutError');
  }

  static override isInstance(value: unknown): value is TimeoutError {
    return hasErrorMarker(value, 'TimeoutError');
  }
}

/** Options of an `ExecInterruptedError`. */
export interface ExecInterruptedErrorOptions extends QmpkitErrorOptions {
  /** The command whose reply will never come. */
  command?: SentCommand | undefined;
}

/**
 * A command was sent but the connection ended before its reply arrived; whether it ran is
 * unknown. `cause` is the reason the connection ended.
 */
export class ExecInterruptedError extends LocalError {
  readonly command: SentCommand | undefined;

  constructor(message: string, options?: ExecInterruptedErrorOptions) {
    super(message, options);
    this.name = 'ExecInterruptedError';
    this.command = options?.command;
    stampErrorMarker(this, 'ExecInterruptedError');
  }

  static override isInstance(value: unknown): value is ExecInterruptedError {
    return hasErrorMarker(value, 'ExecInterruptedError');
  }
}
