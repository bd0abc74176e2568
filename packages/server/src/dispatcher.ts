/**
 * The dispatcher: QEMU 7.2's request handling (monitor/qmp.c handle_qmp_command,
 * monitor_qmp_dispatcher_co) and qmp_dispatch (qapi/qmp-dispatch.c).
 *
 * - every complete input item (a JSON value or a parse/limit error) of a session is a request;
 *   `exec-oob` requests are handled at once, all others go to the session's in-band queue;
 * - input is suspended after each queued request when OOB is off, and when the queue holds 8
 *   requests when it is on; it resumes when the request finished (OOB off) or when the queue has
 *   room again (OOB on);
 * - one dispatcher runs in-band requests one at a time, taking sessions round-robin, and
 *   skipping a session whose client has not taken its output (above the high-water mark:
 *   `Session.outputBlocked`) until it has — so queued requests cannot pile up replies;
 * - the reply of a request whose client left goes to whoever is connected to the same
 *   single-client monitor when it completes (reference §10.2).
 */
import {
  CommandError,
  encodeJson,
  isJsonObject,
  type JsonObject,
  type JsonValue,
  makeErrorReply,
  type QmpTimestamp,
  qemuMemberOrder,
} from '@qmpkit/protocol';
import type { BuiltinCommand, CommandRegistry } from './commands.js';
import type { Request, Session } from './session.js';
import type { ClientInfo, CommandContext, EmitOptions, LogLevel } from './types.js';
import type { SchemaValidator } from './validate.js';
import { QEMU_WIRE_ENCODING, QMP_LINE_END } from './wire.js';

/** QEMU's QMP_REQ_QUEUE_LEN_MAX: in-band requests a session queues before it stops reading. */
export const REQUEST_QUEUE_MAX = 8;

/** What the dispatcher needs from the server. */
export interface DispatcherHost {
  readonly commands: CommandRegistry;
  readonly validator: SchemaValidator;
  log(level: LogLevel, message: string): void;
  raiseEvent(event: string, data: unknown, timestamp: QmpTimestamp | undefined): void;
  /** Runs a built-in command (it may change the session: qmp_capabilities). */
  runBuiltin(
    name: BuiltinCommand,
    session: Session,
    args: Record<string, unknown>,
    context: CommandContext,
  ): unknown;
}

/**
 * A request's `CommandContext`. Its methods live on the prototype and what runs after the reply
 * is allocated only when a handler asks for it: most requests need neither.
 */
class RequestContext implements CommandContext {
  /** What runs once the reply is written (`emitAfterReply`, `afterReply`), in call order. */
  afterSteps: (() => void)[] | undefined;

  constructor(
    private readonly host: DispatcherHost,
    readonly command: string,
    readonly id: unknown,
    readonly oob: boolean,
    readonly client: ClientInfo,
  ) {}

  emit(event: string, data: unknown, options?: EmitOptions): void {
    this.host.raiseEvent(event, data, options?.timestamp);
  }

  emitAfterReply(event: string, data: unknown, options?: EmitOptions): void {
    this.afterReply(() => this.host.raiseEvent(event, data, options?.timestamp));
  }

  afterReply(callback: () => void): void {
    if (this.afterSteps === undefined) this.afterSteps = [callback];
    else this.afterSteps.push(callback);
  }
}

/** The order QEMU prints a success reply's two members in (bucket order of its QDict). */
const RETURN_BEFORE_ID = qemuMemberOrder(['return', 'id'])[0] === 'return';

/**
 * A success reply as QEMU writes it. Only the handler's value and the id are encoded: the
 * envelope's text is fixed, so it costs no member sort per reply.
 */
function encodeSuccess(result: unknown, hasId: boolean, id: unknown): string {
  const value = encodeJson(result ?? {}, QEMU_WIRE_ENCODING);
  if (!hasId) return `{"return": ${value}}${QMP_LINE_END}`;
  const idText = encodeJson(id, QEMU_WIRE_ENCODING);
  return RETURN_BEFORE_ID
    ? `{"return": ${value}, "id": ${idText}}${QMP_LINE_END}`
    : `{"id": ${idText}, "return": ${value}}${QMP_LINE_END}`;
}

/**
 * Runs the requests of every session.
 *
 * A request whose handler returns a plain value (not a promise) is answered in the same turn,
 * with no promise in between; and one that arrives while nothing waits anywhere runs at once,
 * from the input that delivered it — the dispatcher would take it next anyway, and since it
 * finishes before the session reads on, QEMU's "read nothing while a command runs" holds without
 * stopping and restarting the input. Only a request that does not finish synchronously stops
 * its session's input (OOB off) until it is done.
 */
export class Dispatcher {
  /** Every open session, in the dispatcher's round-robin order. */
  private order: Session[] = [];
  /** True while an in-band request runs (or the queue is being worked through). */
  private dispatching = false;
  /** In-band requests queued, all sessions together. */
  private queued = 0;

  constructor(private readonly host: DispatcherHost) {}

  /** The open sessions (round-robin order). */
  get sessions(): readonly Session[] {
    return this.order;
  }

  /** A session starts: its requests join the round. */
  add(session: Session): void {
    this.order.push(session);
  }

  /** A session ended: its queued requests are dropped, never executed (monitor_qmp_cleanup_queue). */
  remove(session: Session): void {
    this.queued -= session.queue.length;
    session.queue.length = 0;
    this.order = this.order.filter((s) => s !== session);
  }

  /** One complete input item of a session (QEMU's handle_qmp_command). */
  onInput(session: Session, request: Request): void {
    if (session.closed) return;
    if ('value' in request && isOobRequest(request.value)) {
      // exec-oob bypasses the queue; qmp_dispatch then refuses it unless OOB is on.
      session.running++;
      const done = () => {
        session.running--;
        session.maybeFinish();
      };
      const pending = this.execute(session, request.value);
      if (pending === undefined) done();
      else void pending.then(done, done);
      return;
    }
    if (!this.dispatching && this.queued === 0 && !session.outputBlocked) {
      this.dispatching = true;
      // Input stops only if the request does not finish in this turn (and OOB is off).
      if (this.run(session, request, false, !session.oob)) this.dispatchQueued();
      return;
    }
    if (!session.oob || session.queue.length === REQUEST_QUEUE_MAX - 1) session.suspend();
    session.queue.push(request);
    this.queued++;
    this.kick();
  }

  /** Runs queued requests, if the dispatcher is idle (e.g. a session's output drained). */
  kick(): void {
    if (this.dispatching) return;
    this.dispatching = true;
    this.dispatchQueued();
  }

  /**
   * The in-band dispatcher: one request at a time, sessions round-robin, until no session with
   * queued requests may run one (kick() starts it again) or a request is left running (its
   * completion carries on from here).
   */
  private dispatchQueued(): void {
    while (this.queued > 0) {
      const session = this.order.find(isReady);
      if (session === undefined) break;
      const request = session.queue.shift()!;
      this.queued--;
      const oobWasEnabled = session.oob;
      if (oobWasEnabled && session.queue.length === REQUEST_QUEUE_MAX - 1) session.resume();
      if (!this.run(session, request, !oobWasEnabled, false)) return;
    }
    this.dispatching = false;
  }

  /**
   * Runs one in-band request; true when it finished in this turn. `inputHeld`: the session's
   * input was stopped for it (resumed once it is done); `holdIfPending`: stop the input now if
   * it does not finish in this turn.
   */
  private run(
    session: Session,
    request: Request,
    inputHeld: boolean,
    holdIfPending: boolean,
  ): boolean {
    // Served: to the back of the line.
    if (this.order.length > 1 && this.order[this.order.length - 1] !== session) {
      const index = this.order.indexOf(session);
      if (index >= 0) {
        this.order.splice(index, 1);
        this.order.push(session);
      }
    }
    session.running++;
    let pending: Promise<void> | undefined;
    try {
      if ('inputError' in request) {
        this.replyTo(session, makeErrorReply('GenericError', request.inputError), undefined);
      } else {
        pending = this.execute(session, request.value);
      }
    } catch (error) {
      this.host.log('error', `dispatcher failure: ${describeError(error)}`);
    }
    if (pending === undefined) {
      this.finished(session, inputHeld);
      return true;
    }
    if (holdIfPending) session.suspend();
    const resume = inputHeld || holdIfPending;
    const carryOn = () => {
      this.finished(session, resume);
      this.dispatchQueued();
    };
    pending.then(carryOn, (error: unknown) => {
      this.host.log('error', `dispatcher failure: ${describeError(error)}`);
      carryOn();
    });
    return false;
  }

  private finished(session: Session, resume: boolean): void {
    session.running--;
    if (resume) session.resume();
    session.maybeFinish();
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

  /** Writes an error reply (or a structural one) and runs what waited for it. */
  private replyTo(
    session: Session,
    message: object,
    context: RequestContext | undefined,
  ): undefined {
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
        text = encodeJson(reply, QEMU_WIRE_ENCODING) + QMP_LINE_END;
      } catch (error) {
        text = this.unencodable(session, 'id' in reply, reply.id, error);
      }
      target.writeText(text);
    }
    this.runAfterReply(context);
  }

  /** Writes a success reply and runs what waited for it. */
  private replySuccess(
    session: Session,
    result: unknown,
    hasId: boolean,
    id: unknown,
    context: RequestContext,
  ): undefined {
    const target = this.replyTarget(session);
    if (target !== undefined) {
      let text: string;
      try {
        text = encodeSuccess(result, hasId, id);
      } catch (error) {
        text = this.unencodable(session, hasId, id, error);
      }
      target.writeText(text);
    }
    this.runAfterReply(context);
  }

  /** The error written in place of a reply that cannot be encoded (a handler's bug). */
  private unencodable(session: Session, hasId: boolean, id: unknown, error: unknown): string {
    this.host.log(
      'error',
      `cannot encode the reply to client ${session.info.id}: ${String(error)}`,
    );
    const fallback = makeErrorReply('GenericError', 'Internal error: unencodable reply');
    if (hasId) fallback.id = id as JsonObject;
    return encodeJson(fallback, QEMU_WIRE_ENCODING) + QMP_LINE_END;
  }

  private runAfterReply(context: RequestContext | undefined): void {
    const steps = context?.afterSteps;
    if (steps === undefined) return;
    for (const step of steps) {
      try {
        step();
      } catch (error) {
        this.host.log('error', `an after-reply step threw: ${describeError(error)}`);
      }
    }
  }

  /**
   * qmp_dispatch: structural checks, lookup, validation, the handler, the reply. Returns a
   * promise only when the handler did (the reply is written when it settles); otherwise the
   * reply is written before it returns.
   */
  private execute(session: Session, value: unknown): Promise<void> | undefined {
    if (!isJsonObject(value)) {
      return this.replyTo(
        session,
        makeErrorReply('GenericError', 'QMP input must be a JSON object'),
        undefined,
      );
    }
    const hasId = Object.hasOwn(value, 'id');
    const id = hasId ? value.id : undefined;
    const allowOob = session.oob;
    const execKey = checkedExecKey(value, allowOob);
    if (typeof execKey !== 'string') {
      return this.replyTo(session, makeErrorReply('GenericError', execKey.desc, id), undefined);
    }
    const name = value[execKey] as string;
    const oob = execKey === 'exec-oob';
    // In negotiation mode only qmp_capabilities exists (qmp_cap_negotiation_commands).
    const registered =
      session.negotiated || name === 'qmp_capabilities' ? this.host.commands.get(name) : undefined;
    if (registered === undefined) {
      const reply = makeErrorReply('CommandNotFound', `The command ${name} has not been found`, id);
      return this.replyTo(session, reply, undefined);
    }
    if (oob && !registered.allowOob) {
      const reply = makeErrorReply('GenericError', `The command ${name} does not support OOB`, id);
      return this.replyTo(session, reply, undefined);
    }
    const args = Object.hasOwn(value, 'arguments') ? (value.arguments as JsonObject) : undefined;
    const checked = this.host.validator.validate(name, args);
    if (!checked.ok) {
      return this.replyTo(session, makeErrorReply('GenericError', checked.desc, id), undefined);
    }
    const context = new RequestContext(this.host, name, id, oob, session.info);
    let result: unknown;
    try {
      result = registered.builtin
        ? this.host.runBuiltin(registered.name, session, checked.value, context)
        : registered.handler(checked.value, context);
    } catch (error) {
      return this.replyFailure(session, name, id, error, context);
    }
    if (!isThenable(result)) return this.replySuccess(session, result, hasId, id, context);
    return Promise.resolve(result).then(
      (value: unknown) => this.replySuccess(session, value, hasId, id, context),
      (error: unknown) => this.replyFailure(session, name, id, error, context),
    );
  }

  /** The reply to a handler that threw (or whose promise rejected). */
  private replyFailure(
    session: Session,
    name: string,
    id: JsonValue | undefined,
    error: unknown,
    context: RequestContext,
  ): undefined {
    if (CommandError.isInstance(error)) {
      return this.replyTo(session, makeErrorReply(error.errorClass, error.desc, id), context);
    }
    this.host.log(
      'error',
      `command ${name} of client ${session.info.id} failed: ${describeError(error)}`,
    );
    const desc = error instanceof Error && error.message !== '' ? error.message : 'Internal error';
    return this.replyTo(session, makeErrorReply('GenericError', desc, id), context);
  }
}

/**
 * The member naming the command (`execute`, or `exec-oob` when OOB is on), or the error QEMU
 * reports for the request's members. A well-formed request is checked in one pass; only a faulty
 * one needs QEMU's member order, which decides which fault is reported.
 */
function checkedExecKey(value: JsonObject, allowOob: boolean): string | { desc: string } {
  let execKey: string | undefined;
  let faulty = false;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (key === 'execute' || (key === 'exec-oob' && allowOob)) {
      if (typeof value[key] !== 'string' || execKey !== undefined) faulty = true;
      execKey = key;
    } else if (key === 'arguments') {
      if (!isJsonObject(value[key])) faulty = true;
    } else if (key !== 'id') {
      faulty = true;
    }
  }
  if (!faulty) return execKey ?? { desc: "QMP input lacks member 'execute'" };
  execKey = undefined;
  for (const key of qemuMemberOrder(Object.keys(value))) {
    const member = value[key];
    if (key === 'execute' || (key === 'exec-oob' && allowOob)) {
      if (typeof member !== 'string') return { desc: `QMP input member '${key}' must be a string` };
      if (execKey !== undefined)
        return { desc: `QMP input member '${key}' clashes with '${execKey}'` };
      execKey = key;
    } else if (key === 'arguments') {
      if (!isJsonObject(member)) return { desc: "QMP input member 'arguments' must be an object" };
    } else if (key !== 'id') {
      return { desc: `QMP input member '${key}' is unexpected` };
    }
  }
  return execKey ?? { desc: "QMP input lacks member 'execute'" };
}

/** A session with a queued request whose client has taken its output. */
function isReady(session: Session): boolean {
  return session.queue.length > 0 && !session.outputBlocked;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
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
