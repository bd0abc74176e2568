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
  makeErrorReply,
  type QapiErrorClass,
  type QmpTimestamp,
  qemuMemberOrder,
} from '@qmpkit/protocol';
import type { BuiltinCommand, CommandRegistry } from './commands.js';
import type { Request, Session } from './session.js';
import type { CommandContext, LogLevel } from './types.js';
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

/** What a request left to do once its reply is written. */
interface AfterReply {
  readonly steps: (() => void)[];
}

/** Runs the requests of every session. */
export class Dispatcher {
  /** Every open session, in the dispatcher's round-robin order. */
  private order: Session[] = [];
  private dispatching = false;

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
    session.queue.length = 0;
    this.order = this.order.filter((s) => s !== session);
  }

  /** One complete input item of a session (QEMU's handle_qmp_command). */
  onInput(session: Session, request: Request): void {
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

  /** Runs queued requests, if the loop is not already running (e.g. a session's output drained). */
  kick(): void {
    if (this.dispatching) return;
    this.dispatching = true;
    void this.dispatchLoop();
  }

  /** The in-band dispatcher: one request at a time, sessions round-robin. */
  private async dispatchLoop(): Promise<void> {
    try {
      for (;;) {
        const index = this.order.findIndex(isReady);
        if (index < 0) break;
        const session = this.order[index]!;
        // Served: to the back of the line.
        this.order.splice(index, 1);
        this.order.push(session);
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
      this.host.log('error', `dispatcher failure: ${String(error)}`);
    } finally {
      this.dispatching = false;
    }
    // Requests that arrived while the loop was finishing.
    if (this.order.some(isReady)) this.kick();
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
        text = encodeJson(reply, QEMU_WIRE_ENCODING) + QMP_LINE_END;
      } catch (error) {
        this.host.log(
          'error',
          `cannot encode the reply to client ${session.info.id}: ${String(error)}`,
        );
        const fallback = makeErrorReply('GenericError', 'Internal error: unencodable reply');
        if ('id' in reply) fallback.id = reply.id!;
        text = encodeJson(fallback, QEMU_WIRE_ENCODING) + QMP_LINE_END;
      }
      target.writeText(text);
    }
    if (after !== undefined) {
      for (const step of after.steps) {
        try {
          step();
        } catch (error) {
          this.host.log('error', `an after-reply step threw: ${describeError(error)}`);
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
      session.negotiated || name === 'qmp_capabilities' ? this.host.commands.get(name) : undefined;
    if (registered === undefined) {
      fail('CommandNotFound', `The command ${name} has not been found`);
      return;
    }
    if (oob && !registered.allowOob) {
      fail('GenericError', `The command ${name} does not support OOB`);
      return;
    }
    const args = Object.hasOwn(value, 'arguments') ? (value.arguments as JsonObject) : undefined;
    const checked = this.host.validator.validate(name, args);
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
      emit: (event, data, options = {}) => this.host.raiseEvent(event, data, options.timestamp),
      emitAfterReply: (event, data, options = {}) => {
        after.steps.push(() => this.host.raiseEvent(event, data, options.timestamp));
      },
      afterReply: (callback) => {
        after.steps.push(callback);
      },
    };
    let result: unknown;
    try {
      result = registered.builtin
        ? this.host.runBuiltin(registered.name, session, checked.value, context)
        : await registered.handler(checked.value, context);
    } catch (error) {
      if (CommandError.isInstance(error)) {
        fail(error.errorClass, error.desc, after);
      } else {
        this.host.log(
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
}

/** A session with a queued request whose client has taken its output. */
function isReady(session: Session): boolean {
  return session.queue.length > 0 && !session.outputBlocked;
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
