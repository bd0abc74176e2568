// A byte-level QMP session for differential tests: it sends exactly the bytes a test gives it and
// records every message the server writes, so the same exchange can be replayed against a real
// QEMU and against qmpkit-server and the two transcripts compared. It deliberately shares no code
// with @qmpkit/protocol or @qmpkit/client: the oracle side must not depend on what it tests.

import { connect, type Socket } from 'node:net';
import { HANG_GUARD_MS } from '@qmpkit/test-support';

/** One message the server wrote, parsed; `raw` keeps the exact line without its CR LF. */
export interface RecordedMessage {
  readonly raw: string;
  readonly json: unknown;
}

export class RawQmpSession {
  readonly #socket: Socket;
  readonly #messages: RecordedMessage[] = [];
  #buffer = '';
  #closed = false;
  #waiters: Array<() => void> = [];
  /** Every byte received, for framing assertions (CR LF). */
  received = '';

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.received += chunk;
      this.#buffer += chunk;
      let end = this.#buffer.indexOf('\n');
      while (end >= 0) {
        const line = this.#buffer.slice(0, end).replace(/\r$/, '');
        this.#buffer = this.#buffer.slice(end + 1);
        if (line.trim() !== '') this.#messages.push({ raw: line, json: parseLenient(line) });
        end = this.#buffer.indexOf('\n');
      }
      this.#wake();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
    socket.on('error', () => {
      this.#closed = true;
      this.#wake();
    });
  }

  static connect(path: string): Promise<RawQmpSession> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      socket.once('connect', () => resolve(new RawQmpSession(socket)));
      socket.once('error', reject);
    });
  }

  /** Everything recorded so far (the greeting first). */
  get messages(): readonly RecordedMessage[] {
    return this.#messages;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends raw bytes (a string is sent as UTF-8). */
  send(bytes: string | Uint8Array): void {
    this.#socket.write(bytes);
  }

  /** Sends a JSON value followed by a newline. */
  sendJson(value: unknown): void {
    this.#socket.write(`${JSON.stringify(value)}\n`);
  }

  /** Waits until `count` messages in total have been recorded; rejects after `timeoutMs`. */
  async waitForCount(
    count: number,
    timeoutMs = HANG_GUARD_MS,
  ): Promise<readonly RecordedMessage[]> {
    await this.#waitUntil(() => this.#messages.length >= count, timeoutMs, `${count} messages`);
    return this.#messages;
  }

  /** Waits for the first recorded message (from index `from`) that satisfies `match`. */
  async waitFor(
    match: (json: unknown) => boolean,
    timeoutMs = HANG_GUARD_MS,
    from = 0,
  ): Promise<RecordedMessage> {
    let found: RecordedMessage | undefined;
    await this.#waitUntil(
      () => {
        found = this.#messages.slice(from).find((m) => match(m.json));
        return found !== undefined;
      },
      timeoutMs,
      'a matching message',
    );
    return found as RecordedMessage;
  }

  /**
   * Waits until the server has been quiet for `quietMs` (nothing new arrived), or `maxMs` passed:
   * for exchanges whose reply count is what the test wants to find out.
   */
  async settle(quietMs = 150, maxMs = 5000): Promise<readonly RecordedMessage[]> {
    const start = Date.now();
    let seen = this.#messages.length;
    let lastChange = Date.now();
    while (Date.now() - start < maxMs && !this.#closed) {
      await new Promise((r) => setTimeout(r, 10));
      if (this.#messages.length !== seen) {
        seen = this.#messages.length;
        lastChange = Date.now();
      } else if (Date.now() - lastChange >= quietMs) {
        break;
      }
    }
    return this.#messages;
  }

  /** Sends `qmp_capabilities` after the greeting and waits for its reply. */
  async negotiate(): Promise<void> {
    await this.waitForCount(1);
    const from = this.#messages.length;
    this.sendJson({ execute: 'qmp_capabilities', id: '__negotiate' });
    await this.waitFor((m) => isObject(m) && m.id === '__negotiate', HANG_GUARD_MS, from);
  }

  /** Ends our side of the connection (shutdown(SHUT_WR)); the server may still write. */
  endInput(): void {
    this.#socket.end();
  }

  /** Waits until the server closed the connection (after `endInput()`, once it answered all). */
  async waitForClose(timeoutMs = HANG_GUARD_MS): Promise<readonly RecordedMessage[]> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `timed out waiting for the server to close; received:\n${this.#messages.map((m) => m.raw).join('\n')}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.#messages;
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#socket.once('close', () => resolve());
      this.#socket.end();
      setTimeout(() => this.#socket.destroy(), 1000).unref();
    });
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  /**
   * After the event loop was blocked past a deadline (a busy process: an embedded server doing
   * synchronous I/O), expired timers run before the socket's waiting data is read. One turn of
   * the loop reads it: what had arrived in time still counts.
   */
  async #readPending(done: () => boolean): Promise<boolean> {
    await new Promise((resolve) => setImmediate(resolve));
    return done();
  }

  async #waitUntil(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (this.#closed) throw new Error(`connection closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) {
        if (await this.#readPending(done)) break;
        throw new Error(
          `timed out waiting for ${what}; received:\n${this.#messages.map((m) => m.raw).join('\n')}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** QEMU can write things JSON.parse refuses (`inf`); keep those as their raw text. */
function parseLenient(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return { unparsable: line };
  }
}
