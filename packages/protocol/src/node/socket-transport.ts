/**
 * Node socket transports: a QMP connection over a unix stream socket or TCP.
 *
 * Output is bounded, not blocking: `send()` writes at once (keeping message order) and resolves
 * when the bytes are flushed to the kernel, so a caller may await it for backpressure; if the
 * peer stops reading and more than `maxWriteBufferBytes` pile up in the socket's user-space
 * buffer, the connection is torn down with a `ProtocolError` of kind `output-overflow` rather
 * than growing without bound. Input is read only while the transport is delivering (started and
 * not paused), so a paused transport leaves the peer's bytes in the kernel — real backpressure.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { ConnectError, ProtocolError, TimeoutError } from '../errors.js';
import { type ByteLink, type CodecChoice, type LinkEvents, StreamTransport } from '../transport.js';

/** Default bound of the write buffer: 64 MiB. */
export const DEFAULT_MAX_WRITE_BUFFER_BYTES = 64 * 1024 * 1024;

/** Options shared by every socket transport. */
export interface SocketTransportOptions {
  /** Codec preset or options. Default `'client'` when connecting, `'server'` for `wrapSocket`. */
  codec?: CodecChoice | undefined;
  /** Keep writing after the peer's end of stream (`onend` fires). Default false. */
  halfOpen?: boolean | undefined;
  /** Bytes allowed to wait in the socket's write buffer before giving up on the peer. */
  maxWriteBufferBytes?: number | undefined;
  /**
   * Gather the writes of one event-loop turn into one system call (default true): 64 pipelined
   * commands go out in one `writev`. A writer that already coalesces its own output (one write
   * in flight, what comes meanwhile sent together after it, as `@qmpkit/server`'s sessions do)
   * turns it off, so that its single write goes to the socket at once, without waiting for the
   * turn to end.
   */
  gatherWrites?: boolean | undefined;
}

/** Options of `connectUnix` / `connectTcp`. */
export interface ConnectOptions extends SocketTransportOptions {
  /** Give up connecting after this many milliseconds (`TimeoutError`). Default: no limit. */
  timeoutMs?: number | undefined;
  /** Abort connecting. */
  signal?: AbortSignal | undefined;
}

const EXPLAIN: Record<string, string> = {
  ENOENT: 'no such socket file (is QEMU running with this -qmp/--chardev path?)',
  ECONNREFUSED: 'connection refused (nothing is listening there)',
  EACCES: 'permission denied',
  ENOTSOCK: 'the path is not a socket',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENOTFOUND: 'host name not found',
};

function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function connectFailure(error: unknown, address: string): ConnectError {
  const code = errnoCode(error);
  const why = code === undefined ? String(error) : `${code}: ${EXPLAIN[code] ?? String(error)}`;
  return new ConnectError(`cannot connect to ${address}: ${why}`, {
    cause: error,
    address,
    ...(code === undefined ? {} : { code }),
  });
}

/** What a write that went out at once returns. */
const WRITTEN: Promise<void> = Promise.resolve();
const EMPTY = new Uint8Array(0);

class SocketLink implements ByteLink {
  private failure: Error | undefined;
  private closing = false;
  /** True while writes are gathered for one system call at the end of this turn. */
  private corked = false;
  /** A write went out since the last input arrived: the next one joins a gathered batch. */
  private wroteSinceInput = false;
  /** The promise of the writes gathered in this turn: settled once they went out together. */
  private batch: Promise<void> | undefined;
  private resolveBatch: (() => void) | undefined;
  private rejectBatch: ((error: Error) => void) | undefined;
  readonly #captureBatch = (resolve: () => void, reject: (error: Error) => void) => {
    this.resolveBatch = resolve;
    this.rejectBatch = reject;
  };
  readonly #uncork = () => {
    this.corked = false;
    this.#finishBatch();
    this.socket.uncork();
  };

  constructor(
    private readonly socket: Socket,
    private readonly address: string,
    private readonly maxWriteBufferBytes: number,
    private readonly gatherWrites: boolean,
  ) {}

  bind(events: LinkEvents): void {
    const socket = this.socket;
    socket.on('data', (chunk: Buffer) => {
      this.wroteSinceInput = false;
      events.data(chunk);
    });
    socket.on('end', () => events.end());
    socket.on('error', (error) => {
      this.failure ??= new ConnectError(`connection to ${this.address} failed: ${error.message}`, {
        cause: error,
        address: this.address,
        ...(errnoCode(error) === undefined ? {} : { code: errnoCode(error)! }),
      });
    });
    socket.on('close', () => {
      events.closed(this.closing && this.failure === undefined ? undefined : this.failure);
    });
  }

  write(bytes: Uint8Array): Promise<void> {
    return this.#write(bytes);
  }

  /** Text goes to the socket as it is: Node encodes it into the system call's buffer itself. */
  writeText(text: string): Promise<void> {
    return this.#write(text);
  }

  writeTextNow(text: string): Promise<void> | undefined {
    const written = this.#write(text);
    return written === WRITTEN ? undefined : written;
  }

  #write(data: Uint8Array | string): Promise<void> {
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) return Promise.reject(this.closedError());
    // The first write after input (every write, without gatherWrites) goes out at once, with
    // no callback: once the socket holds nothing back, the bytes are with the OS and the write
    // is done (one command answered, the next sent — the sequential case costs no promise,
    // callback or tick of its own). Writes after it in the same turn (e.g. 64 pipelined commands, each sent as its
    // predecessor's reply resolves) go out together in one writev once the turn's promise
    // jobs ran, and share one promise.
    if (!this.gatherWrites || (!this.wroteSinceInput && !this.corked)) {
      this.wroteSinceInput = true;
      socket.write(data);
      if (socket.errored !== null) return Promise.reject(this.closedError());
      if (socket.writableLength === 0) return WRITTEN;
      this.checkOverflow();
      // Held back (the peer's buffer is full): done when an empty write queued after it is.
      return new Promise((resolve, reject) => {
        socket.write(EMPTY, (error) => {
          if (error) reject(this.failure ?? connectFailure(error, this.address));
          else resolve();
        });
      });
    }
    this.wroteSinceInput = true;
    if (!this.corked) {
      this.corked = true;
      socket.cork();
      process.nextTick(this.#uncork);
    }
    if (this.batch === undefined) this.batch = new Promise(this.#captureBatch);
    const batch = this.batch;
    socket.write(data);
    this.checkOverflow();
    return batch;
  }

  /** Settles the batch's promise once what was gathered went out (an empty write after it). */
  #finishBatch(): void {
    const resolve = this.resolveBatch;
    const reject = this.rejectBatch;
    this.batch = undefined;
    this.resolveBatch = undefined;
    this.rejectBatch = undefined;
    if (resolve === undefined || reject === undefined) return;
    if (this.socket.destroyed || this.socket.writableEnded) {
      reject(this.closedError());
      return;
    }
    this.socket.write(EMPTY, (error) => {
      if (error) reject(this.failure ?? connectFailure(error, this.address));
      else resolve();
    });
  }

  private checkOverflow(): void {
    if (this.socket.writableLength > this.maxWriteBufferBytes) {
      this.failure ??= new ProtocolError(
        'output-overflow',
        `the peer at ${this.address} is not reading: more than ${this.maxWriteBufferBytes} bytes wait to be sent`,
      );
      this.socket.destroy();
    }
  }

  private closedError(): Error {
    return (
      this.failure ??
      new ConnectError(`connection to ${this.address} is closed`, {
        code: 'EPIPE',
        address: this.address,
      })
    );
  }

  end(): void {
    if (this.closing) return;
    this.closing = true;
    this.#finishBatch();
    // Flush what was written, send FIN, then release the socket without waiting for the peer.
    this.socket.end(() => this.socket.destroy());
  }

  abort(cause: Error | undefined): void {
    this.closing = true;
    this.failure ??= cause;
    this.socket.destroy();
    this.#finishBatch();
  }

  setReading(on: boolean): void {
    if (on) this.socket.resume();
    else this.socket.pause();
  }
}

/** A `Transport` over a connected `net.Socket`. */
export class SocketTransport extends StreamTransport {
  /** The underlying socket (for addresses, `setNoDelay`, …; do not read or write it directly). */
  readonly socket: Socket;

  constructor(
    socket: Socket,
    address: string,
    options: SocketTransportOptions & { codec: CodecChoice },
  ) {
    super({ codec: options.codec, halfOpen: options.halfOpen ?? false, peer: address });
    this.socket = socket;
    // Small request/reply messages: do not let Nagle's algorithm hold them back.
    if (typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
    const link = new SocketLink(
      socket,
      address,
      options.maxWriteBufferBytes ?? DEFAULT_MAX_WRITE_BUFFER_BYTES,
      options.gatherWrites ?? true,
    );
    link.bind(this.attach(link));
  }
}

/**
 * Wraps an already-connected socket — typically one a `net.Server` accepted — in a transport.
 * Default codec `'server'`. Create the server with `allowHalfOpen: true` if you use `halfOpen`.
 */
export function wrapSocket(socket: Socket, options: SocketTransportOptions = {}): SocketTransport {
  const address =
    socket.remoteAddress !== undefined
      ? `${socket.remoteAddress}:${socket.remotePort}`
      : 'unix socket peer';
  return new SocketTransport(socket, address, { ...options, codec: options.codec ?? 'server' });
}

function connectSocket(
  target: { path: string } | { host: string; port: number },
  address: string,
  options: ConnectOptions,
): Promise<SocketTransport> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(connectFailure(options.signal.reason ?? new Error('aborted'), address));
      return;
    }
    const socket = netConnect({ ...target, allowHalfOpen: options.halfOpen ?? false });
    // Nothing is read until the transport starts.
    socket.pause();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const cleanup = () => {
      if (timer !== undefined) clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('error', onError);
      options.signal?.removeEventListener('abort', onAbort);
    };
    const onConnect = () => {
      cleanup();
      resolve(
        new SocketTransport(socket, address, { ...options, codec: options.codec ?? 'client' }),
      );
    };
    const onError = (error: Error) => {
      cleanup();
      socket.destroy();
      reject(connectFailure(error, address));
    };
    const onAbort = () => {
      cleanup();
      socket.destroy();
      reject(
        new ConnectError(`connecting to ${address} was aborted`, {
          cause: options.signal?.reason,
          address,
        }),
      );
    };
    socket.once('connect', onConnect);
    socket.once('error', onError);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        cleanup();
        socket.destroy();
        reject(
          new TimeoutError(`connecting to ${address} took longer than ${options.timeoutMs} ms`, {
            timeoutMs: options.timeoutMs!,
          }),
        );
      }, options.timeoutMs);
    }
  });
}

/**
 * Connects to a QMP unix socket. Rejects with a `ConnectError` (`code` `ENOENT` when there is
 * no such socket file, `ECONNREFUSED` when nobody listens, …) or a `TimeoutError`.
 */
export function connectUnix(path: string, options: ConnectOptions = {}): Promise<SocketTransport> {
  return connectSocket({ path }, path, options);
}

/** Connects to a QMP TCP socket. Rejects like `connectUnix`. */
export function connectTcp(
  host: string,
  port: number,
  options: ConnectOptions = {},
): Promise<SocketTransport> {
  return connectSocket({ host, port }, `${host}:${port}`, options);
}

/**
 * `connect(path)` connects to a unix socket, `connect(host, port)` over TCP; see `connectUnix`
 * and `connectTcp`.
 */
export function connect(path: string, options?: ConnectOptions): Promise<SocketTransport>;
export function connect(
  host: string,
  port: number,
  options?: ConnectOptions,
): Promise<SocketTransport>;
export function connect(
  pathOrHost: string,
  portOrOptions?: number | ConnectOptions,
  options?: ConnectOptions,
): Promise<SocketTransport> {
  return typeof portOrOptions === 'number'
    ? connectTcp(pathOrHost, portOrOptions, options)
    : connectUnix(pathOrHost, portOrOptions);
}
