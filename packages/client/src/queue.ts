/**
 * A single-consumer asynchronous queue: the producer pushes synchronously (from the connection's
 * reader, which must never wait), the consumer awaits `take()`. The bound and what happens when
 * it is reached are the caller's business (see `EventStream`); this class only stores.
 */
export class AsyncQueue<T> {
  private items: T[] = [];
  private head = 0;
  private waiter: ((result: IteratorResult<T>) => void) | undefined;
  private failWaiter: ((error: unknown) => void) | undefined;
  private finished = false;
  private failure: { error: unknown } | undefined;

  /** Items waiting to be taken. */
  get size(): number {
    return this.items.length - this.head;
  }

  /** True once `end()` or `fail()` was called (items already queued can still be taken). */
  get ended(): boolean {
    return this.finished;
  }

  push(item: T): void {
    if (this.finished) return;
    const waiter = this.waiter;
    if (waiter !== undefined) {
      this.waiter = undefined;
      this.failWaiter = undefined;
      waiter({ value: item, done: false });
      return;
    }
    this.items.push(item);
  }

  /** Removes and returns the oldest queued item. */
  dropOldest(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head] as T;
    this.items[this.head] = undefined as T;
    this.head++;
    this.compact();
    return item;
  }

  /** No more items: the consumer gets what is queued, then `done`. */
  end(): void {
    if (this.finished) return;
    this.finished = true;
    this.wakeAtEnd();
  }

  /** No more items: the consumer gets what is queued, then `error` is thrown. */
  fail(error: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.failure = { error };
    this.wakeAtEnd();
  }

  /** Ends at once, discarding what is queued. */
  clear(): void {
    this.items = [];
    this.head = 0;
    this.end();
  }

  take(): Promise<IteratorResult<T>> {
    if (this.head < this.items.length) {
      const item = this.items[this.head] as T;
      this.items[this.head] = undefined as T;
      this.head++;
      this.compact();
      return Promise.resolve({ value: item, done: false });
    }
    if (this.finished) {
      if (this.failure !== undefined) {
        const { error } = this.failure;
        this.failure = undefined; // thrown once; afterwards the queue is simply done
        return Promise.reject(error);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    if (this.waiter !== undefined) {
      return Promise.reject(new Error('AsyncQueue: take() called while another take() waits'));
    }
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.failWaiter = reject;
    });
  }

  private wakeAtEnd(): void {
    const waiter = this.waiter;
    const failWaiter = this.failWaiter;
    if (waiter === undefined || failWaiter === undefined) return;
    this.waiter = undefined;
    this.failWaiter = undefined;
    if (this.failure !== undefined) {
      const { error } = this.failure;
      this.failure = undefined;
      failWaiter(error);
    } else {
      waiter({ value: undefined, done: true });
    }
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
