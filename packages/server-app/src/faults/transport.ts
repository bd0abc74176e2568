/**
 * A transport wrapper that carries out the faults of the wire: a greeting held back, output
 * split into pieces or gathered into one, a connection cut. Everything else passes through.
 */
import type { JsonValue, Transport, TransportState } from '@qmpkit/protocol';
import type { FaultPlan } from './plan.js';

/** Gathered output is written early once it reaches this size (coalescing stays bounded). */
const MAX_GATHERED_BYTES = 1024 * 1024;

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class FaultTransport implements Transport {
  private holdTimer: ReturnType<typeof setTimeout> | undefined;
  /** Output waiting while the greeting is held; resolved once written. */
  private held: { text: string; done: () => void; failed: (e: unknown) => void }[] = [];
  private holding = false;
  private startRequested = false;
  private gathered: string[] = [];
  private gatheredBytes = 0;
  private gatherTimer: ReturnType<typeof setTimeout> | undefined;
  private writeChain: Promise<void> = Promise.resolve();
  private aborted = false;

  constructor(
    private readonly inner: Transport,
    private readonly plan: FaultPlan,
  ) {
    inner.onmessage = (m) => this.onmessage?.(m);
    inner.onerror = (e) => this.onerror?.(e);
    inner.onend = () => this.onend?.();
    inner.onclose = (cause) => {
      this.clearTimers();
      for (const h of this.held.splice(0)) h.failed(cause ?? new Error('closed'));
      this.onclose?.(cause);
    };
    const hold = plan.greetingHold();
    if (hold > 0) {
      this.holding = true;
      if (Number.isFinite(hold)) {
        this.holdTimer = setTimeout(() => this.release(), hold);
        (this.holdTimer as { unref?: () => void }).unref?.();
      }
    }
  }

  onmessage?: ((message: JsonValue) => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  onend?: (() => void) | undefined;
  onclose?: ((cause: Error | undefined) => void) | undefined;

  get state(): TransportState {
    return this.inner.state;
  }

  /** The greeting (and everything after it) goes out; input is read from now on. */
  private release(): void {
    this.holdTimer = undefined;
    this.holding = false;
    if (this.inner.state === 'closing' || this.inner.state === 'closed') return;
    for (const h of this.held.splice(0)) this.write(h.text).then(h.done, h.failed);
    if (this.startRequested) this.inner.start().catch(() => {});
  }

  start(): Promise<void> {
    this.startRequested = true;
    // A held monitor reads nothing: the client's commands wait in the socket.
    if (this.holding) return Promise.resolve();
    return this.inner.start();
  }

  send(message: unknown): Promise<void> {
    return this.inner.send(message);
  }

  sendRaw(data: Uint8Array | string): Promise<void> {
    const text = typeof data === 'string' ? data : new TextDecoder().decode(data);
    if (this.aborted) return Promise.resolve();
    if (this.holding) {
      return new Promise((done, failed) => this.held.push({ text, done, failed }));
    }
    return this.write(text);
  }

  private write(text: string): Promise<void> {
    if (this.gatherTimer !== undefined) return this.gather(text);
    const window = this.plan.coalesceWindow();
    if (window > 0) {
      this.gatherTimer = setTimeout(() => this.flushGathered(), window);
      (this.gatherTimer as { unref?: () => void }).unref?.();
      return this.gather(text);
    }
    return this.writeNow(text);
  }

  /** Taken at once, so the server hands over what it writes next; written when the window ends. */
  private gather(text: string): Promise<void> {
    this.gathered.push(text);
    this.gatheredBytes += text.length;
    if (this.gatheredBytes >= MAX_GATHERED_BYTES) this.flushGathered();
    return Promise.resolve();
  }

  private flushGathered(): void {
    clearTimeout(this.gatherTimer);
    this.gatherTimer = undefined;
    const text = this.gathered.join('');
    this.gathered = [];
    this.gatheredBytes = 0;
    if (text !== '') void this.writeNow(text).catch(() => {});
  }

  /** Writes in order; a split write goes out piece by piece, one event-loop turn apart. */
  private writeNow(text: string): Promise<void> {
    const points = this.plan.splitPoints(text.length);
    const pieces =
      points === undefined
        ? [text]
        : [0, ...points].map((from, i) => text.slice(from, points[i] ?? text.length));
    const written = this.writeChain.then(async () => {
      for (let i = 0; i < pieces.length; i++) {
        if (this.aborted) return;
        if (i > 0) await nextTurn();
        await this.inner.sendRaw(pieces[i]!);
      }
    });
    this.writeChain = written.catch(() => {});
    return written;
  }

  close(): Promise<void> {
    this.clearTimers();
    if (this.gathered.length > 0) this.flushGathered();
    return this.writeChain.then(() => this.inner.close());
  }

  /** Cuts the connection at once (a `drop` fault, or the server's own abort). */
  abort(cause?: Error): void {
    this.aborted = true;
    this.clearTimers();
    this.gathered = [];
    this.inner.abort(cause);
  }

  pause(): void {
    this.inner.pause();
  }

  resume(): void {
    this.inner.resume();
  }

  private clearTimers(): void {
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    clearTimeout(this.gatherTimer);
    this.gatherTimer = undefined;
  }
}
