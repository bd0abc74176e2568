/**
 * The `Transport` contract: a message-level, bidirectional connection. A transport owns its
 * codec: it decodes incoming bytes into JSON values and encodes outgoing messages into bytes.
 * Both the QMP client and the QMP server are written against this interface only.
 *
 * `StreamTransport` implements it over any ordered byte stream (a `ByteLink`); the Node socket
 * transports (`@qmpkit/protocol/node`) and the in-memory pair (`@qmpkit/protocol/testing`)
 * are thin links plugged into it.
 */
import { ConnectError, StateError } from './errors.js';
import { type EncodeOptions, encodeJson } from './json/encode.js';
import { JsonStreamer, type JsonStreamerOptions } from './json/streamer.js';
import type { JsonValue } from './json/value.js';

/** Where a transport is in its life. */
export type TransportState = 'idle' | 'running' | 'closing' | 'closed';

/**
 * A message-level connection.
 *
 * Delivery: after `start()`, each complete incoming JSON value goes to `onmessage` and each
 * undecodable stretch of input to `onerror` (a `ProtocolError` of kind `parse`,
 * `message-too-large` or `nesting-too-deep`, whose `message` is QEMU's desc) — in input order,
 * synchronously one after another, never before `start()`, never while paused. Input errors
 * are not fatal: reading continues after them.
 *
 * `onclose(cause)` fires exactly once when the connection is over: `cause` is `undefined`
 * after a local `close()`; otherwise it says why — a `ConnectError` with `code: 'EOF'` when
 * the peer closed cleanly, another `ConnectError` (`ECONNRESET`, …) for a failure, a
 * `ProtocolError` of kind `output-overflow` when the peer stopped reading.
 */
export interface Transport {
  /** Current state. */
  readonly state: TransportState;
  /** Starts delivering incoming messages; install the callbacks first. Rejects if not idle. */
  start(): Promise<void>;
  /**
   * Encodes `message` with the transport's codec and writes it, followed by the codec's end of
   * line. Allowed before `start()`. Resolves once the bytes were handed to the peer/OS;
   * rejects with `StateError` once closing/closed, or with the connection's failure.
   */
  send(message: unknown): Promise<void>;
  /** Writes bytes (or UTF-8 text) exactly as given — for tests and byte-exact output. */
  sendRaw(data: Uint8Array | string): Promise<void>;
  /**
   * Optional: writes text like `sendRaw`, but returns `undefined` — no promise at all — when the
   * text was handed to the OS at once, and `sendRaw`'s promise otherwise (held back by a full
   * peer, closing, failed). For a writer of many small messages, such as a server's replies,
   * that should not pay for a promise and a microtask per message. Wrappers that do not have it
   * are used through `sendRaw`.
   */
  sendRawNow?(text: string): Promise<void> | undefined;
  /**
   * Closes the connection: stops delivery, flushes what was sent, ends the connection. Resolves
   * when closed (after `onclose(undefined)`). Idempotent.
   */
  close(): Promise<void>;
  /**
   * Tears the connection down at once: pending output is dropped, nothing more is delivered,
   * and `onclose(cause)` follows (with `cause`, or the reason already known). For a peer that
   * does not read, where `close()` would wait on it. Idempotent.
   */
  abort(cause?: Error): void;
  /**
   * Stops delivering incoming messages, right after the one being delivered, and stops
   * reading from the peer (backpressure), until `resume()`. Used by a server that, like QEMU,
   * reads nothing more while a command runs.
   */
  pause(): void;
  /** Resumes delivery (synchronously delivers what is already buffered). */
  resume(): void;
  /** A complete incoming JSON value (any value: classify it). */
  onmessage?: ((message: JsonValue) => void) | undefined;
  /** Non-fatal trouble: undecodable input, or an exception thrown by `onmessage`. */
  onerror?: ((error: Error) => void) | undefined;
  /**
   * The peer sent end-of-stream while this side may still write (only with `halfOpen`).
   * Call `close()` when done; without `halfOpen` the transport closes by itself with cause EOF.
   */
  onend?: (() => void) | undefined;
  /** The connection is over; see the interface comment for `cause`. */
  onclose?: ((cause: Error | undefined) => void) | undefined;
}

/** How a transport encodes and decodes. */
export interface CodecOptions {
  /** Decoder (input dialect and limits). */
  decode?: JsonStreamerOptions | undefined;
  /** Encoder (output style). */
  encode?: EncodeOptions | undefined;
  /** End of line written after each message sent with `send()`. */
  eol?: '\n' | '\r\n' | '' | undefined;
  /**
   * At end of input, finish a pending number/keyword and report an incomplete message as an
   * error (true); or drop it silently as QEMU does when a client disconnects (false).
   */
  flushAtEnd?: boolean | undefined;
}

/**
 * The client's codec: strict JSON in (plus QEMU's `inf`/`nan`), lossless big integers, compact
 * JSON out, one message per line.
 */
export const CLIENT_CODEC: Readonly<CodecOptions> = Object.freeze({
  decode: Object.freeze({ mode: 'strict' }),
  encode: Object.freeze({ style: 'compact' }),
  eol: '\n',
  flushAtEnd: true,
});

/**
 * The server's codec: QEMU's input dialect and limits in, QEMU's exact output format out
 * (compact style, ASCII escapes, `%.17g` floats, hash-bucket member order, CR LF).
 */
export const SERVER_CODEC: Readonly<CodecOptions> = Object.freeze({
  decode: Object.freeze({ mode: 'qemu-input' }),
  encode: Object.freeze({ style: 'qemu', memberOrder: 'qemu' }),
  eol: '\r\n',
  flushAtEnd: false,
});

/** A codec preset name or explicit options (merged over the client preset). */
export type CodecChoice = 'client' | 'server' | CodecOptions;

/** Resolves a codec choice to complete options. */
export function resolveCodec(choice: CodecChoice | undefined): ResolvedCodec {
  const base = choice === 'server' ? SERVER_CODEC : CLIENT_CODEC;
  const given = typeof choice === 'object' ? choice : base;
  return {
    decode: given.decode ?? CLIENT_CODEC.decode ?? {},
    encode: given.encode ?? CLIENT_CODEC.encode ?? {},
    eol: given.eol ?? CLIENT_CODEC.eol ?? '\n',
    flushAtEnd: given.flushAtEnd ?? CLIENT_CODEC.flushAtEnd ?? true,
  };
}

/** Complete codec options, as `resolveCodec` returns them. */
export interface ResolvedCodec {
  decode: JsonStreamerOptions;
  encode: EncodeOptions;
  eol: '\n' | '\r\n' | '';
  flushAtEnd: boolean;
}

/**
 * An ordered byte stream underneath a `StreamTransport`. The link reports back through the
 * `LinkEvents` it was attached with.
 */
export interface ByteLink {
  /** Writes bytes in order; resolves when written, rejects if the link failed. */
  write(bytes: Uint8Array): Promise<void>;
  /**
   * Writes text as UTF-8, like `write` (optional: without it the transport encodes the text and
   * calls `write`). For a link that can hand text to the OS without a byte copy of its own.
   */
  writeText?(text: string): Promise<void>;
  /**
   * Writes text like `writeText`, returning `undefined` when it was handed to the OS at once
   * (optional; see `Transport.sendRawNow`).
   */
  writeTextNow?(text: string): Promise<void> | undefined;
  /** Graceful end: flush pending writes, then close; report `closed(undefined)` when done. */
  end(): void;
  /** Immediate teardown; pending writes are dropped; report `closed(cause)`. */
  abort(cause: Error | undefined): void;
  /** Turns reading from the peer on or off (backpressure). */
  setReading(on: boolean): void;
}

/** What a `ByteLink` tells its transport. */
export interface LinkEvents {
  /** Bytes arrived. */
  data(bytes: Uint8Array): void;
  /** The peer will send nothing more. */
  end(): void;
  /** The link is closed (cause undefined for a requested close). */
  closed(cause: Error | undefined): void;
}

/** Options of a `StreamTransport`. */
export interface StreamTransportOptions {
  /** Codec preset or options; default `'client'`. */
  codec?: CodecChoice | undefined;
  /** Keep writing after the peer's end of stream (`onend` fires); default false. */
  halfOpen?: boolean | undefined;
  /** Describes the peer in error messages (a socket path, `host:port`, …). */
  peer?: string | undefined;
}

const textEncoder = new TextEncoder();

/** A `Transport` over a `ByteLink`. */
export class StreamTransport implements Transport {
  onmessage?: ((message: JsonValue) => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  onend?: (() => void) | undefined;
  onclose?: ((cause: Error | undefined) => void) | undefined;

  private current: TransportState = 'idle';
  private readonly streamer: JsonStreamer;
  private readonly encodeOptions: EncodeOptions;
  private readonly eol: string;
  private readonly flushAtEnd: boolean;
  private readonly halfOpen: boolean;
  private readonly peer: string | undefined;
  private link: ByteLink | undefined;
  private paused = false;
  private delivering = false;
  private inputEnded = false;
  private endHandled = false;
  private closeCause: Error | undefined;
  private closedPromise: Promise<void> | undefined;
  private resolveClosed: (() => void) | undefined;

  constructor(options: StreamTransportOptions = {}) {
    const codec = resolveCodec(options.codec);
    this.streamer = new JsonStreamer(codec.decode);
    this.encodeOptions = codec.encode;
    this.eol = codec.eol;
    this.flushAtEnd = codec.flushAtEnd;
    this.halfOpen = options.halfOpen ?? false;
    this.peer = options.peer;
  }

  /**
   * Attaches the byte link (once). Returns the events the link must report to. Reading stays
   * off until `start()`.
   */
  attach(link: ByteLink): LinkEvents {
    if (this.link !== undefined) throw new StateError('a link is already attached');
    this.link = link;
    link.setReading(false);
    return {
      data: (bytes) => this.onLinkData(bytes),
      end: () => this.onLinkEnd(),
      closed: (cause) => this.onLinkClosed(cause),
    };
  }

  get state(): TransportState {
    return this.current;
  }

  async start(): Promise<void> {
    if (this.current !== 'idle') {
      throw new StateError(`cannot start a transport that is ${this.current}`, {
        state: this.current,
      });
    }
    this.current = 'running';
    this.pump();
  }

  // send and sendRaw return the link's promise itself (no async wrappers): they run once per
  // command, and each promise and microtask hop is CPU on the round trip.
  send(message: unknown): Promise<void> {
    let text: string;
    try {
      text = encodeJson(message, this.encodeOptions) + this.eol;
    } catch (error) {
      // Encoding errors (a function, a cycle…) reject this send only.
      return Promise.reject(error);
    }
    return this.sendRaw(text);
  }

  sendRaw(data: Uint8Array | string): Promise<void> {
    const link = this.link;
    if (this.current === 'closing' || this.current === 'closed' || link === undefined) {
      return Promise.reject(
        new StateError(`cannot send on a transport that is ${this.current}`, {
          state: this.current,
        }),
      );
    }
    if (typeof data !== 'string') return link.write(data);
    return link.writeText === undefined
      ? link.write(textEncoder.encode(data))
      : link.writeText(data);
  }

  sendRawNow(text: string): Promise<void> | undefined {
    const link = this.link;
    if (
      link?.writeTextNow === undefined ||
      this.current === 'closing' ||
      this.current === 'closed'
    ) {
      return this.sendRaw(text);
    }
    return link.writeTextNow(text);
  }

  close(): Promise<void> {
    if (this.closedPromise !== undefined) return this.closedPromise;
    this.closedPromise = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    if (this.current === 'closed') {
      this.resolveClosed?.();
      return this.closedPromise;
    }
    this.current = 'closing';
    if (this.link === undefined) {
      this.finish(undefined);
    } else {
      this.link.end();
    }
    return this.closedPromise;
  }

  /** Tears the connection down at once (pending output dropped); `onclose(cause)` follows. */
  abort(cause?: Error): void {
    if (this.current === 'closed') return;
    if (this.closedPromise === undefined) {
      this.closedPromise = new Promise((resolve) => {
        this.resolveClosed = resolve;
      });
    }
    this.current = 'closing';
    this.closeCause = cause;
    if (this.link === undefined) this.finish(cause);
    else this.link.abort(cause);
  }

  pause(): void {
    this.paused = true;
    this.link?.setReading(false);
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.pump();
  }

  // -------------------------------------------------------------------------------------------

  private onLinkData(bytes: Uint8Array): void {
    if (this.current === 'closing' || this.current === 'closed') return;
    this.streamer.push(bytes);
    this.pump();
  }

  private onLinkEnd(): void {
    this.inputEnded = true;
    this.pump();
  }

  private onLinkClosed(cause: Error | undefined): void {
    if (this.current === 'closed') return;
    // A requested close reports no cause; anything else keeps the first reason we learned.
    const requested = this.current === 'closing' && this.closeCause === undefined;
    this.finish(requested ? undefined : (this.closeCause ?? cause ?? this.eofError()));
  }

  private eofError(): ConnectError {
    const where = this.peer === undefined ? '' : ` (${this.peer})`;
    return new ConnectError(`the peer closed the connection${where}`, {
      code: 'EOF',
      ...(this.peer === undefined ? {} : { address: this.peer }),
    });
  }

  private finish(cause: Error | undefined): void {
    if (this.current === 'closed') return;
    this.current = 'closed';
    this.streamer.reset();
    if (this.closedPromise === undefined) this.closedPromise = Promise.resolve();
    this.resolveClosed?.();
    const onclose = this.onclose;
    onclose?.(cause);
  }

  /** Delivers buffered items while running and not paused; handles end of input. */
  private pump(): void {
    if (this.delivering) return;
    if (this.current !== 'running' || this.paused) {
      this.link?.setReading(false);
      return;
    }
    this.delivering = true;
    try {
      while (this.current === 'running' && !this.paused) {
        const item = this.streamer.next();
        if (item === undefined) break;
        if (item.kind === 'value') this.deliverMessage(item.value);
        else this.deliverError(item.error);
      }
      if (this.current === 'running' && !this.paused) {
        if (this.inputEnded) this.handleEnd();
        else this.link?.setReading(true);
      } else {
        this.link?.setReading(false);
      }
    } finally {
      this.delivering = false;
    }
  }

  private handleEnd(): void {
    if (this.endHandled) return;
    this.endHandled = true;
    if (this.flushAtEnd) {
      for (const item of this.streamer.end()) {
        if (this.current !== 'running') break;
        if (item.kind === 'value') this.deliverMessage(item.value);
        else this.deliverError(item.error);
      }
    } else {
      this.streamer.reset();
    }
    if (this.current !== 'running') return;
    if (this.halfOpen) {
      this.onend?.();
      return;
    }
    this.closeCause = this.eofError();
    this.current = 'closing';
    if (this.closedPromise === undefined) {
      this.closedPromise = new Promise((resolve) => {
        this.resolveClosed = resolve;
      });
    }
    this.link?.end();
  }

  private deliverMessage(value: JsonValue): void {
    try {
      this.onmessage?.(value);
    } catch (error) {
      this.deliverError(
        error instanceof Error ? error : new Error('onmessage threw a non-Error', { cause: error }),
      );
    }
  }

  private deliverError(error: Error): void {
    const onerror = this.onerror;
    if (onerror === undefined) return;
    try {
      onerror(error);
    } catch (thrown) {
      // A throwing error handler is a bug in the consumer: make it loud, outside our stack.
      queueMicrotask(() => {
        throw thrown;
      });
    }
  }
}
