// A scripted QMP server for the client's unit tests, over @qmpkit/protocol/testing's linked pair.
// The test drives it step by step: take the next command the client sent, write events and
// replies in exactly the order a transcript says.
import {
  type JsonObject,
  type JsonValue,
  makeErrorReply,
  makeEvent,
  makeGreeting,
  makeSuccess,
  type QapiErrorClass,
} from '@qmpkit/protocol';
import { createLinkedPair, type LinkedTransport } from '@qmpkit/protocol/testing';
import type { QmpClient } from '../src/client.js';

/** The name of the marker event `delivered()` sends (no QEMU event has it). */
const MARK_EVENT = 'X-FAKE-DELIVERED';

/** The greeting of the qemu-storage-daemon 7.2 in this repository's reference (§2). */
export const QSD_VERSION = {
  qemu: { major: 7, minor: 2, micro: 22 },
  package: 'Debian 1:7.2+dfsg-7+deb12u18+b3',
};

export interface ReceivedCommand {
  execute: string;
  arguments?: JsonObject;
  id?: JsonValue;
  oob: boolean;
  raw: JsonObject;
}

export interface FakeOptions {
  /** Send the greeting when started (default true). */
  greet?: boolean;
  capabilities?: string[];
  /** Answer qmp_capabilities by itself (default true). */
  autoNegotiate?: boolean;
}

export class FakeQmp {
  readonly clientSide: LinkedTransport;
  readonly serverSide: LinkedTransport;
  readonly received: ReceivedCommand[] = [];
  private readonly inbox: ReceivedCommand[] = [];
  private waiters: Array<(command: ReceivedCommand) => void> = [];
  private seconds = 1_795_610_564;
  private marks = 0;
  private readonly options: FakeOptions;
  closedWith: Error | undefined | null = null;

  constructor(options: FakeOptions = {}) {
    this.options = options;
    [this.clientSide, this.serverSide] = createLinkedPair();
    this.serverSide.onmessage = (message) => this.onCommand(message as JsonObject);
    this.serverSide.onclose = (cause) => {
      this.closedWith = cause;
    };
  }

  async start(): Promise<void> {
    await this.serverSide.start();
    if (this.options.greet !== false) await this.greet();
  }

  greet(capabilities = this.options.capabilities ?? ['oob']): Promise<void> {
    return this.serverSide.send(makeGreeting(QSD_VERSION, capabilities));
  }

  private onCommand(raw: JsonObject): void {
    const oob = typeof raw['exec-oob'] === 'string';
    const command: ReceivedCommand = {
      execute: (oob ? raw['exec-oob'] : raw.execute) as string,
      ...(raw.arguments === undefined ? {} : { arguments: raw.arguments as JsonObject }),
      ...(raw.id === undefined ? {} : { id: raw.id }),
      oob,
      raw,
    };
    this.received.push(command);
    if (command.execute === 'qmp_capabilities' && this.options.autoNegotiate !== false) {
      void this.reply(command, {});
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter(command);
    else this.inbox.push(command);
  }

  /** The next command the client sent (negotiation excluded when auto-negotiating). */
  next(): Promise<ReceivedCommand> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The next `count` commands. */
  async take(count: number): Promise<ReceivedCommand[]> {
    const out: ReceivedCommand[] = [];
    for (let i = 0; i < count; i++) out.push(await this.next());
    return out;
  }

  /** Commands received and not yet taken. */
  get waiting(): number {
    return this.inbox.length;
  }

  reply(command: ReceivedCommand, value: JsonValue): Promise<void> {
    return this.serverSide.send(makeSuccess(value, command.id));
  }

  fail(command: ReceivedCommand, errorClass: QapiErrorClass, desc: string): Promise<void> {
    return this.serverSide.send(makeErrorReply(errorClass, desc, command.id));
  }

  event(name: string, data?: JsonObject): Promise<void> {
    this.seconds++;
    return this.serverSide.send(makeEvent(name, data, { seconds: this.seconds, microseconds: 0 }));
  }

  /** `JOB_STATUS_CHANGE` for `id`. */
  status(id: string, status: string): Promise<void> {
    return this.event('JOB_STATUS_CHANGE', { id, status });
  }

  /**
   * Resolves once `client` has read everything this fake sent before the call: a marker event
   * follows it, and the client hands events to its listeners in the order it reads them (what
   * they then queue, e.g. a job driver's items, stays in that order too).
   */
  async delivered(client: QmpClient): Promise<void> {
    const mark = ++this.marks;
    let unsubscribe = () => {};
    const seen = new Promise<void>((resolve, reject) => {
      unsubscribe = client.subscribe({
        names: new Set([MARK_EVENT]),
        deliver: (event) => {
          if (event.data?.mark === mark) resolve();
        },
        end: () => reject(new Error('the client ended before the marker arrived')),
      });
    });
    try {
      await this.event(MARK_EVENT, { mark });
      await seen;
    } finally {
      unsubscribe();
    }
  }

  send(message: JsonValue): Promise<void> {
    return this.serverSide.send(message);
  }

  /** Closes the server side (the client sees EOF). */
  close(): Promise<void> {
    return this.serverSide.close();
  }

  /** Resets the connection (the client sees ECONNRESET). */
  reset(): void {
    this.serverSide.abort(new Error('server crashed'));
  }
}
