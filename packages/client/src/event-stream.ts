/**
 * Event listeners with their own bounded queues.
 *
 * Delivery rule: an event is delivered to every listener that is registered at the moment the
 * client's reader decodes it. `client.events()` registers synchronously, so a stream created
 * before `execute()` is called sees every event the command causes, including the ones QEMU
 * writes before the command's reply.
 *
 * Each listener has its own queue, filled synchronously by the reader: a slow consumer never
 * blocks the reader, the replies, or other listeners. The queue is bounded (`maxQueued`); when it
 * is full the stream's `overflow` policy applies:
 * - `'drop-oldest'` (default): the oldest queued event is discarded to make room and `dropped`
 *   counts the losses; the stream goes on.
 * - `'error'`: the stream stops taking events; the consumer receives the events already queued,
 *   then `next()` rejects with an `EventOverflowError`; the stream is over.
 */
import type { QmpEvent } from '@qmpkit/protocol';
import { EventOverflowError } from './errors.js';
import { AsyncQueue } from './queue.js';

/** What a listener does when its queue is full. */
export type OverflowPolicy = 'drop-oldest' | 'error';

/** Default bound of a listener's queue. */
export const DEFAULT_MAX_QUEUED_EVENTS = 1024;

/**
 * Something the client delivers events to, registered with `QmpClient.subscribe()`: event
 * streams, the job layer, or your own. Delivered synchronously, in the order decoded.
 */
export interface ClientListener {
  /** Only events with these names are delivered; all when undefined. */
  readonly names: ReadonlySet<string> | undefined;
  /** Called synchronously by the reader; must not block or throw. */
  deliver(event: QmpEvent): void;
  /** The client is closed (or gave up reconnecting); `cause` is why, undefined after close(). */
  end(cause: Error | undefined): void;
  /** The connection was lost and the client is trying to reconnect. */
  disconnected?(cause: Error | undefined): void;
  /** The client reconnected (after its connect hooks ran). */
  reconnected?(): void;
}

/** Whether a delivered event is an `E`, given the stream's names (undefined: every name). */
export type EventGuard<E> = (
  event: QmpEvent,
  names: ReadonlySet<string> | undefined,
) => event is QmpEvent & E;

/** Options of an `EventStream`. */
export interface EventStreamOptions<E> {
  /** Only these event names. */
  names?: readonly string[] | undefined;
  /** Only events for which this returns true (runs in the reader: keep it cheap). */
  filter?: ((event: E) => boolean) | undefined;
  /** Queue bound (default 1024). */
  maxQueued?: number | undefined;
  /** Policy when the queue is full (default `'drop-oldest'`). */
  overflow?: OverflowPolicy | undefined;
  /** Ends the stream (done) when aborted. */
  signal?: AbortSignal | undefined;
}

/** An async iterator of events with its own bounded queue. See the module comment. */
export class EventStream<E> implements AsyncIterableIterator<E>, ClientListener {
  readonly names: ReadonlySet<string> | undefined;
  /** Events discarded by the `'drop-oldest'` policy. */
  dropped = 0;
  /**
   * Why the stream ended: `undefined` while open or after a normal end (`return()`, the client's
   * `close()`, the signal); the connection's failure when the client lost it for good.
   */
  endCause: Error | undefined;

  private readonly queue = new AsyncQueue<E>();
  private readonly filter: ((event: E) => boolean) | undefined;
  private readonly maxQueued: number;
  private readonly overflow: OverflowPolicy;
  private readonly unregister: (sink: ClientListener) => void;
  private readonly signal: AbortSignal | undefined;
  private readonly onAbort: (() => void) | undefined;

  private readonly accepts: EventGuard<E>;

  /**
   * `accepts` tells which delivered events are an `E` (by their name: the client trusts QEMU to
   * send the data its schema gives that name); others are not queued.
   */
  constructor(
    options: EventStreamOptions<E>,
    unregister: (sink: ClientListener) => void,
    accepts: EventGuard<E>,
  ) {
    this.accepts = accepts;
    this.names = options.names === undefined ? undefined : new Set(options.names);
    this.filter = options.filter;
    this.maxQueued = Math.max(1, options.maxQueued ?? DEFAULT_MAX_QUEUED_EVENTS);
    this.overflow = options.overflow ?? 'drop-oldest';
    this.unregister = unregister;
    this.signal = options.signal;
    if (this.signal !== undefined) {
      this.onAbort = () => this.finish(undefined);
      if (this.signal.aborted) queueMicrotask(this.onAbort);
      else this.signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  /** Events queued and not yet consumed. */
  get queued(): number {
    return this.queue.size;
  }

  /** True once the stream takes no more events. */
  get closed(): boolean {
    return this.queue.ended;
  }

  deliver(message: QmpEvent): void {
    if (this.queue.ended || !this.accepts(message, this.names)) return;
    const event: E = message;
    if (this.filter !== undefined) {
      let keep: boolean;
      try {
        keep = this.filter(event);
      } catch (error) {
        this.detach();
        this.queue.fail(error);
        return;
      }
      if (!keep) return;
    }
    if (this.queue.size >= this.maxQueued) {
      if (this.overflow === 'drop-oldest') {
        this.queue.dropOldest();
        this.dropped++;
      } else {
        this.detach();
        this.queue.fail(
          new EventOverflowError(
            `an event listener fell more than ${this.maxQueued} events behind; it was stopped`,
            { limit: this.maxQueued },
          ),
        );
        return;
      }
    }
    this.queue.push(event);
  }

  end(cause: Error | undefined): void {
    this.endCause = cause;
    this.finish(cause);
  }

  next(): Promise<IteratorResult<E>> {
    return this.queue.take();
  }

  /** Stops listening; what is still queued is discarded. */
  return(): Promise<IteratorResult<E>> {
    this.detach();
    this.queue.clear();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private finish(_cause: Error | undefined): void {
    this.detach();
    this.queue.end();
  }

  private detach(): void {
    this.unregister(this);
    if (this.onAbort !== undefined) this.signal?.removeEventListener('abort', this.onAbort);
  }
}
