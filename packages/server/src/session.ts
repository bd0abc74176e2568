/**
 * A client session: its negotiation state, its in-band queue, and its output — coalesced,
 * bounded, and the reason input stops when the client does not keep up (QEMU's flow control
 * plus an output high-water mark).
 */
import { ProtocolError, type Transport } from '@qmpkit/protocol';
import type { Monitor } from './monitor.js';
import type { ClientInfo, LogLevel } from './types.js';

/**
 * Unsent output above which a session reads no more input, and runs none of its queued
 * requests, until its client has taken most of it: a client that pipelines requests while
 * reading gets every reply (QEMU, too, reads no more while it has work in hand), and what an
 * input can cost stays bounded (this mark plus the reply in progress). Only output the client
 * did not ask for (events) can then pass `maxOutputBytes`: that client truly stopped reading.
 * Kept small (a socket buffer's worth): output waiting longer than a young-generation
 * collection is promoted and grows the heap, so a larger mark makes a flood of small requests
 * cost tens of MiB more. A lower `maxOutputBytes` lowers it to half that bound, so that flow
 * control always acts well before the bound is reached.
 */
export const OUTPUT_HIGH_WATER_BYTES = 64 * 1024;

/** At shutdown, a client whose output makes no progress for this long is cut off. */
const SHUTDOWN_STALL_MS = 250;

/** An in-band request: a JSON value, or the desc of an input error. */
export type Request = { readonly value: unknown } | { readonly inputError: string };

/** What a session needs from the server that owns it. */
export interface SessionHost {
  /** The bound of a client's unsent output. */
  readonly maxOutputBytes: number;
  log(level: LogLevel, message: string): void;
  /** The session's output fell back below the high-water mark: its queued requests may run. */
  outputUnblocked(session: Session): void;
}

/** One client connection. */
export class Session {
  readonly info: ClientInfo;
  negotiated = false;
  oob = false;
  readonly queue: Request[] = [];
  closed = false;
  inputEnded = false;
  /** Requests of this session being executed (in-band or OOB). */
  running = 0;
  private suspended = 0;
  private unsentBytes = 0;
  /** Output written while a write was in flight: it goes out together with the next one. */
  private pendingText = '';
  /** Characters of the write in flight (0: none). */
  private writingSize = 0;
  private writing = false;
  private blocked = false;
  private overflowed = false;
  private finishing = false;
  private onOutputProgress: (() => void) | undefined;

  constructor(
    readonly host: SessionHost,
    readonly monitor: Monitor,
    readonly transport: Transport,
    info: ClientInfo,
  ) {
    this.info = info;
  }

  suspend(): void {
    if (this.suspended++ === 0 && !this.closed) this.transport.pause();
  }

  resume(): void {
    if (this.suspended === 0) return;
    if (--this.suspended === 0 && !this.closed) this.transport.resume();
  }

  /**
   * Writes an encoded reply (or the greeting): output the client asked for. Output is
   * coalesced: one write is handed to the transport at a time and what is written meanwhile
   * goes out together with the next, so many small replies cost bytes, not per-write
   * bookkeeping. Above the high-water mark unsent, input stops and queued requests wait until
   * the client has read most of it; replies never cut a client off — flow control bounds them.
   */
  writeText(text: string): void {
    this.write(text, false);
  }

  /**
   * Writes an encoded event: output the client did not ask for, which nothing it sends can
   * stop. Above `maxOutputBytes` unsent the client has stopped reading and is cut off (logged
   * once).
   */
  writeEvent(text: string): void {
    this.write(text, true);
  }

  /** True while more than the high-water mark is unsent: input and queued requests wait. */
  get outputBlocked(): boolean {
    return this.blocked;
  }

  private write(text: string, unsolicited: boolean): void {
    if (this.closed || this.overflowed) return;
    // QEMU's output is pure ASCII, so characters are bytes.
    this.unsentBytes += text.length;
    if (unsolicited && this.unsentBytes > this.host.maxOutputBytes) {
      this.overflowed = true;
      this.pendingText = '';
      this.host.log(
        'warn',
        `client ${this.info.id} on ${this.info.monitor} is not reading its output (more than ${this.host.maxOutputBytes} bytes unsent); disconnecting it`,
      );
      this.disconnect(
        new ProtocolError('output-overflow', `client ${this.info.id} stopped reading its output`),
      );
      return;
    }
    if (!this.blocked && this.unsentBytes > this.highWater) {
      this.blocked = true;
      this.suspend();
    }
    if (this.writing) this.pendingText += text;
    else this.send(text);
  }

  private get highWater(): number {
    return Math.min(OUTPUT_HIGH_WATER_BYTES, this.host.maxOutputBytes / 2);
  }

  private send(text: string): void {
    this.writing = true;
    const transport = this.transport;
    const pending =
      transport.sendRawNow === undefined ? transport.sendRaw(text) : transport.sendRawNow(text);
    if (pending === undefined) {
      // Handed to the OS at once (the usual case): no promise to wait on. What is written in this
      // same turn (the replies to pipelined requests, answered one after another) still waits
      // and goes out together, in one write, after one microtask.
      this.unsentBytes -= text.length;
      this.writingSize = 0;
      queueMicrotask(this.onWritten);
      return;
    }
    this.writingSize = text.length;
    pending.then(this.onWritten, this.onWritten);
  }

  /** One callback for every write of the session, not a closure per write (one per command). */
  private readonly onWritten = (): void => {
    this.writing = false;
    this.unsentBytes -= this.writingSize;
    this.writingSize = 0;
    if (this.pendingText !== '' && !this.closed && !this.overflowed) {
      const text = this.pendingText;
      this.pendingText = '';
      this.send(text);
    } else if (this.blocked && this.unsentBytes <= this.highWater / 2) {
      this.blocked = false;
      this.resume();
      if (!this.closed) this.host.outputUnblocked(this);
    }
    const wake = this.onOutputProgress;
    this.onOutputProgress = undefined;
    wake?.();
  };

  /** True when every reply and event written so far was handed to the transport. */
  get outputDrained(): boolean {
    return !this.writing && this.pendingText === '';
  }

  /** Closes once the output is handed over (QEMU flushes its replies before closing). */
  closeWhenFlushed(): void {
    if (this.closed || this.finishing) return;
    this.finishing = true;
    void this.drain().then(() => this.transport.close().catch(() => {}));
  }

  private async drain(): Promise<void> {
    while (!this.outputDrained && !this.closed && !this.overflowed) {
      await new Promise<void>((resolve) => {
        this.onOutputProgress = resolve;
      });
    }
  }

  /**
   * Ends the session for a shutdown: the output is flushed while the client takes it; a client
   * whose output stalls (it is not reading) is cut off at once rather than holding up the exit.
   */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    for (;;) {
      if (this.outputDrained) break;
      const progressed = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), SHUTDOWN_STALL_MS);
        this.onOutputProgress = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      if (this.closed) return;
      if (!progressed) {
        this.disconnect();
        return;
      }
    }
    await closeTransport(this.transport, SHUTDOWN_STALL_MS);
  }

  disconnect(cause?: Error): void {
    this.transport.abort(cause);
  }

  /** Half-closed input: close once everything read has been answered (QEMU does). */
  maybeFinish(): void {
    if (this.inputEnded && !this.closed && this.queue.length === 0 && this.running === 0) {
      this.closeWhenFlushed();
    }
  }
}

/**
 * Closes a transport, flushing its output; a peer that does not read within `graceMs` is cut
 * off, so closing never hangs on it.
 */
export async function closeTransport(transport: Transport, graceMs = 2000): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      transport.abort();
      resolve();
    }, graceMs);
  });
  try {
    await Promise.race([transport.close().catch(() => {}), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
