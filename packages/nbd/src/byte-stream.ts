/**
 * The two halves of a byte connection as the protocol code sees them, without Node: a
 * `ByteReader` fed chunks by whoever owns the socket, read in exact sizes; and a `ByteWriter`
 * that takes whole messages.
 */

/** The peer closed the connection, or it was torn down, while more bytes were expected. */
export class EndOfStreamError extends Error {
  constructor(message = 'the connection closed', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EndOfStreamError';
  }
}

/** Where the protocol code writes. A message's chunks are written together, in order. */
export interface ByteWriter {
  /** Writes the chunks; resolves once the transport accepted them (backpressure). */
  write(chunks: readonly Uint8Array[]): Promise<void>;
  /** Closes the connection (after what was written). */
  close(): void;
}

/** Backpressure hooks: the reader asks its feeder to stop and resume. */
export interface FlowControl {
  pause(): void;
  resume(): void;
}

interface PendingRead {
  readonly length: number;
  readonly discard: boolean;
  resolve(bytes: Uint8Array): void;
  reject(error: Error): void;
}

/**
 * Buffers incoming chunks and hands them out in exact sizes. It holds at most
 * `max(highWaterMark, the read being waited for)` bytes before it asks its feeder to pause, so a
 * peer that sends faster than we handle never grows the buffer without bound.
 */
export class ByteReader {
  readonly #chunks: Uint8Array[] = [];
  #head = 0; // bytes already consumed from #chunks[0]
  #buffered = 0;
  #pending: PendingRead | undefined;
  #ended: Error | undefined;
  #paused = false;
  readonly #highWaterMark: number;
  #flow: FlowControl | undefined;

  readonly #allocate: (length: number) => Uint8Array;

  /**
   * `allocate` makes the array a read spanning several chunks is copied into (every byte of it
   * is overwritten); default `new Uint8Array`, which zeroes it first.
   */
  constructor(
    options: {
      highWaterMark?: number;
      flow?: FlowControl;
      allocate?: (length: number) => Uint8Array;
    } = {},
  ) {
    this.#highWaterMark = options.highWaterMark ?? 1024 * 1024;
    this.#flow = options.flow;
    this.#allocate = options.allocate ?? ((length) => new Uint8Array(length));
  }

  /** Sets who is paused and resumed for backpressure. */
  setFlowControl(flow: FlowControl): void {
    this.#flow = flow;
  }

  /** Bytes received and not yet read. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Whether the stream has ended (no more bytes will come). */
  get ended(): boolean {
    return this.#ended !== undefined;
  }

  /** Feeds a chunk received from the peer. */
  push(chunk: Uint8Array): void {
    if (this.#ended !== undefined || chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    this.#satisfy();
    this.#applyBackpressure();
  }

  /** Marks the end of the stream; a read waiting for more bytes fails with `error`. */
  end(error: Error = new EndOfStreamError()): void {
    if (this.#ended !== undefined) return;
    this.#ended = error;
    const pending = this.#pending;
    if (pending !== undefined && this.#buffered < pending.length) {
      this.#pending = undefined;
      pending.reject(error);
    }
  }

  /** Reads exactly `length` bytes. Only one read may wait at a time. */
  read(length: number): Promise<Uint8Array> {
    return this.#request(length, false);
  }

  /** Reads and discards exactly `length` bytes without holding them all at once. */
  async skip(length: number): Promise<void> {
    let left = length;
    while (left > 0) {
      const step = Math.min(left, this.#highWaterMark);
      await this.#request(step, true);
      left -= step;
    }
  }

  #request(length: number, discard: boolean): Promise<Uint8Array> {
    if (this.#pending !== undefined) {
      return Promise.reject(new Error('ByteReader: a read is already waiting'));
    }
    if (length === 0) return Promise.resolve(new Uint8Array(0));
    if (this.#buffered >= length) return Promise.resolve(this.#take(length, discard));
    if (this.#ended !== undefined) return Promise.reject(this.#ended);
    return new Promise((resolve, reject) => {
      this.#pending = { length, discard, resolve, reject };
      this.#applyBackpressure();
    });
  }

  #satisfy(): void {
    const pending = this.#pending;
    if (pending === undefined || this.#buffered < pending.length) return;
    this.#pending = undefined;
    pending.resolve(this.#take(pending.length, pending.discard));
  }

  #take(length: number, discard: boolean): Uint8Array {
    this.#buffered -= length;
    const first = this.#chunks[0]!;
    let result: Uint8Array;
    if (first.length - this.#head >= length) {
      // The common case: the whole read lies in one chunk; no copy.
      result = first.subarray(this.#head, this.#head + length);
      this.#head += length;
      if (this.#head === first.length) {
        this.#chunks.shift();
        this.#head = 0;
      }
    } else {
      result = discard ? new Uint8Array(0) : this.#allocate(length);
      let filled = 0;
      while (filled < length) {
        const chunk = this.#chunks[0]!;
        const n = Math.min(chunk.length - this.#head, length - filled);
        if (!discard) result.set(chunk.subarray(this.#head, this.#head + n), filled);
        filled += n;
        this.#head += n;
        if (this.#head === chunk.length) {
          this.#chunks.shift();
          this.#head = 0;
        }
      }
    }
    this.#applyBackpressure();
    return result;
  }

  #applyBackpressure(): void {
    if (this.#flow === undefined) return;
    const wanted = Math.max(this.#highWaterMark, this.#pending?.length ?? 0);
    if (!this.#paused && this.#buffered >= wanted) {
      this.#paused = true;
      this.#flow.pause();
    } else if (this.#paused && this.#buffered < wanted) {
      this.#paused = false;
      this.#flow.resume();
    }
  }
}
