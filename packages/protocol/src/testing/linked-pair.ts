/**
 * An in-memory connection for tests: two `Transport`s joined by a pair of byte pipes.
 *
 * It behaves like a socket, not like a function call: messages are really encoded by the
 * sender's codec and decoded by the receiver's (so bigints, QEMU's dialect and parse errors
 * all apply), every chunk is delivered in its own macrotask turn, a side that is paused or not
 * started leaves chunks in the pipe (so writes stay pending: backpressure), closing one side
 * delivers end-of-stream to the other after the data already sent, and `abort()` resets the
 * connection (the peer sees `ECONNRESET`).
 */
import { ConnectError } from '../errors.js';
import { type ByteLink, type CodecChoice, type LinkEvents, StreamTransport } from '../transport.js';

type Deferred = (fn: () => void) => void;

const defer: Deferred =
  typeof globalThis.setImmediate === 'function'
    ? (fn) => {
        globalThis.setImmediate(fn);
      }
    : (fn) => {
        setTimeout(fn, 0);
      };

type PipeItem =
  | { kind: 'data'; bytes: Uint8Array; resolve: () => void; resolved: boolean }
  | { kind: 'end' }
  | { kind: 'reset' };

/**
 * One direction of the connection. Like a kernel socket buffer it accepts up to `capacity`
 * undelivered bytes at once (their writes complete at once); a write beyond that completes only
 * as the receiver reads.
 */
class Pipe {
  private readonly queue: PipeItem[] = [];
  constructor(private readonly capacity: number) {}
  private reading = false;
  private scheduled = false;
  private dead = false;
  target: LinkEvents | undefined;

  push(item: PipeItem): void {
    if (this.dead) {
      // The receiving side is gone: the bytes vanish, as on a socket the peer has closed.
      if (item.kind === 'data') item.resolve();
      return;
    }
    this.queue.push(item);
    this.releaseWriters();
    this.schedule();
  }

  /** Completes the writes whose bytes fit in the buffer. */
  private releaseWriters(): void {
    let buffered = 0;
    for (const item of this.queue) {
      if (item.kind !== 'data') continue;
      buffered += item.bytes.length;
      if (buffered > this.capacity) break;
      if (!item.resolved) {
        item.resolved = true;
        item.resolve();
      }
    }
  }

  /** The receiving side closed: drop everything now and later. */
  kill(): void {
    this.dead = true;
    this.target = undefined;
    this.clear();
  }

  /** Drops undelivered data (their writes resolve: the bytes are gone, as in a reset). */
  clear(): void {
    for (const item of this.queue) if (item.kind === 'data' && !item.resolved) item.resolve();
    this.queue.length = 0;
  }

  setReading(on: boolean): void {
    this.reading = on;
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    const head = this.queue[0];
    if (head === undefined) return;
    if (!this.reading && head.kind !== 'reset') return;
    this.scheduled = true;
    defer(() => this.run());
  }

  private run(): void {
    this.scheduled = false;
    const head = this.queue[0];
    if (head === undefined) return;
    if (!this.reading && head.kind !== 'reset') return;
    this.queue.shift();
    const target = this.target;
    switch (head.kind) {
      case 'data':
        if (!head.resolved) head.resolve();
        this.releaseWriters();
        target?.data(head.bytes);
        break;
      case 'end':
        target?.end();
        break;
      case 'reset':
        this.queue.length = 0;
        target?.closed(
          new ConnectError('connection reset by peer', { code: 'ECONNRESET', address: 'memory' }),
        );
        break;
    }
    this.schedule();
  }
}

const textEncoder = new TextEncoder();

class PairLink implements ByteLink {
  private ended = false;
  private events: LinkEvents | undefined;

  constructor(
    private readonly out: Pipe,
    private readonly incoming: Pipe,
    private readonly split: ((bytes: Uint8Array) => Uint8Array[]) | undefined,
  ) {}

  bind(events: LinkEvents): void {
    this.events = events;
    this.incoming.target = events;
  }

  write(bytes: Uint8Array): Promise<void> {
    return this.#write(bytes).done;
  }

  /** As a socket: `undefined` when every byte fit in the buffer at once. */
  writeTextNow(text: string): Promise<void> | undefined {
    const { done, atOnce } = this.#write(textEncoder.encode(text));
    return atOnce() ? undefined : done;
  }

  #write(bytes: Uint8Array): { done: Promise<void>; atOnce: () => boolean } {
    if (this.ended) return { done: Promise.resolve(), atOnce: () => true };
    const chunks = this.split === undefined ? [bytes] : this.split(bytes);
    const items: { resolved: boolean }[] = [];
    const writes = chunks
      .filter((c) => c.length > 0)
      .map(
        (chunk) =>
          new Promise<void>((resolve) => {
            // Copy: the caller may reuse its buffer, a socket would have copied too.
            const item = { kind: 'data' as const, bytes: chunk.slice(), resolve, resolved: false };
            items.push(item);
            this.out.push(item);
          }),
      );
    return {
      done: Promise.all(writes).then(() => undefined),
      atOnce: () => items.every((item) => item.resolved),
    };
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.out.push({ kind: 'end' });
    this.incoming.kill();
    defer(() => this.events?.closed(undefined));
  }

  abort(cause: Error | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.out.clear();
    this.out.push({ kind: 'reset' });
    this.incoming.kill();
    defer(() => this.events?.closed(cause));
  }

  setReading(on: boolean): void {
    this.incoming.setReading(on);
  }
}

/** One side of a linked pair: a `Transport` plus `abort()`. */
export class LinkedTransport extends StreamTransport {}

/** Options of one side of the pair. */
export interface LinkedSideOptions {
  /** Codec preset or options (client side default `'client'`, server side `'server'`). */
  codec?: CodecChoice | undefined;
  /** Keep writing after the peer's end of stream (see `Transport.onend`). */
  halfOpen?: boolean | undefined;
}

/** Options of `createLinkedPair`. */
export interface LinkedPairOptions {
  client?: LinkedSideOptions | undefined;
  server?: LinkedSideOptions | undefined;
  /**
   * Splits every write into the chunks to deliver (each in its own turn), in both directions —
   * e.g. `splitEvery(1)` to deliver byte by byte.
   */
  split?: ((bytes: Uint8Array) => Uint8Array[]) | undefined;
  /**
   * Undelivered bytes each direction buffers before writes stop completing (a socket buffer);
   * default 64 KiB. 0 makes every write wait until the peer has read it.
   */
  bufferBytes?: number | undefined;
}

/**
 * Creates two connected transports: `[clientSide, serverSide]`. The client side uses the
 * client codec (strict JSON in, compact out), the server side the server codec (QEMU's input
 * dialect in, QEMU's output format out), unless the options say otherwise.
 */
export function createLinkedPair(
  options: LinkedPairOptions = {},
): [clientSide: LinkedTransport, serverSide: LinkedTransport] {
  const capacity = options.bufferBytes ?? 64 * 1024;
  const toServer = new Pipe(capacity);
  const toClient = new Pipe(capacity);
  const client = new LinkedTransport({
    codec: options.client?.codec ?? 'client',
    halfOpen: options.client?.halfOpen ?? false,
    peer: 'memory:server',
  });
  const server = new LinkedTransport({
    codec: options.server?.codec ?? 'server',
    halfOpen: options.server?.halfOpen ?? false,
    peer: 'memory:client',
  });
  const clientLink = new PairLink(toServer, toClient, options.split);
  const serverLink = new PairLink(toClient, toServer, options.split);
  clientLink.bind(client.attach(clientLink));
  serverLink.bind(server.attach(serverLink));
  return [client, server];
}

/** A `split` function cutting every write into chunks of `size` bytes. */
export function splitEvery(size: number): (bytes: Uint8Array) => Uint8Array[] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError('size must be a positive integer');
  return (bytes) => {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
    return chunks;
  };
}
