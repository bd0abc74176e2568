// The time source of the simulator. Jobs never read a wall clock themselves: they ask an
// injected SimClock for the time and for timers, so the same simulation runs against real time
// (a server clients talk to) or against a VirtualClock a test steps by hand, to the nanosecond.
//
// Times are nanoseconds, as QEMU's QEMU_CLOCK_REALTIME: a double holds them exactly up to 2^53 ns
// (104 days of simulated time).

/** Cancels a timer; harmless once it has fired or been cancelled. */
export type CancelTimer = () => void;

export interface SimClock {
  /** The current time, in nanoseconds. Never goes backwards. */
  now(): number;
  /**
   * Calls `callback` once the clock has reached `atNs`. A time in the past fires as soon as the
   * clock next runs its timers (a VirtualClock: at its next step; a RealClock: on a zero-delay
   * host timer), never synchronously inside this call.
   */
  setTimer(atNs: number, callback: () => void): CancelTimer;
  /** Runs every timer that is already due, in time order. The simulator calls it before each
   * command so a late host timer cannot make a command see a stale job. */
  runDue(): void;
}

interface TimerEntry {
  readonly at: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
}

/** A binary min-heap of timers ordered by (time, creation order). */
class TimerHeap {
  readonly #items: TimerEntry[] = [];
  #seq = 0;
  #live = 0;

  get size(): number {
    return this.#live;
  }

  push(at: number, callback: () => void): TimerEntry {
    const entry: TimerEntry = { at, seq: this.#seq++, callback, cancelled: false };
    const items = this.#items;
    items.push(entry);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(entry, items[parent] as TimerEntry)) break;
      items[i] = items[parent] as TimerEntry;
      i = parent;
    }
    items[i] = entry;
    this.#live++;
    return entry;
  }

  cancel(entry: TimerEntry): void {
    if (entry.cancelled) return;
    entry.cancelled = true;
    this.#live--;
    // Cancelled entries leave lazily from the top; rebuild when they dominate, so a timer
    // re-armed many times does not grow the heap.
    const dead = this.#items.length - this.#live;
    if (dead > 1024 && dead > this.#live) this.#rebuild();
  }

  #rebuild(): void {
    const live = this.#items.filter((e) => !e.cancelled);
    live.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
    this.#items.length = 0;
    // A sorted array is a valid heap.
    for (const e of live) this.#items.push(e);
  }

  /** The earliest live timer, dropping cancelled ones from the top. */
  peek(): TimerEntry | undefined {
    const items = this.#items;
    while (items.length > 0 && (items[0] as TimerEntry).cancelled) this.#pop();
    return items[0];
  }

  /** Removes and returns the earliest live timer. */
  take(): TimerEntry | undefined {
    const top = this.peek();
    if (top === undefined) return undefined;
    this.#pop();
    top.cancelled = true;
    this.#live--;
    return top;
  }

  clear(): void {
    this.#items.length = 0;
    this.#live = 0;
  }

  #pop(): void {
    const items = this.#items;
    const last = items.pop() as TimerEntry;
    if (items.length === 0) return;
    let i = 0;
    const n = items.length;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child =
        right < n && before(items[right] as TimerEntry, items[left] as TimerEntry) ? right : left;
      if (!before(items[child] as TimerEntry, last)) break;
      items[i] = items[child] as TimerEntry;
      i = child;
    }
    items[i] = last;
  }
}

function before(a: TimerEntry, b: TimerEntry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** Timers run by one step of a virtual clock, at most: a guard against a timer loop. */
const MAX_TIMERS_PER_STEP = 10_000_000;

/**
 * Simulated time that only moves when told to. `advance(ms)` / `advanceNs(ns)` run every timer
 * due up to the new time, in order, each with `now()` equal to its own due time, and then leave
 * the clock at the new time. Nothing happens between steps, so a test can stop a job at an exact
 * point and look at it for as long as it likes.
 */
export class VirtualClock implements SimClock {
  readonly #timers = new TimerHeap();
  #now: number;
  #stepping = false;

  constructor(startNs = 0) {
    if (!Number.isFinite(startNs) || startNs < 0) throw new RangeError('start time must be >= 0');
    this.#now = startNs;
  }

  now(): number {
    return this.#now;
  }

  setTimer(atNs: number, callback: () => void): CancelTimer {
    const entry = this.#timers.push(Number.isNaN(atNs) ? this.#now : atNs, callback);
    return () => this.#timers.cancel(entry);
  }

  /** Timers still waiting. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** When the next timer fires, or undefined when none is waiting. */
  nextTimerAt(): number | undefined {
    return this.#timers.peek()?.at;
  }

  /** Moves the clock `ms` milliseconds forward (fractions allowed), running due timers. */
  advance(ms: number): void {
    this.advanceNs(ms * 1e6);
  }

  /** Moves the clock `ns` nanoseconds forward, running due timers. */
  advanceNs(ns: number): void {
    if (!Number.isFinite(ns) || ns < 0) throw new RangeError('a clock step must be >= 0');
    this.#runUntil(this.#now + ns);
  }

  /** Runs the timers due at the current time (a zero step). */
  runDue(): void {
    if (this.#stepping) return;
    this.#runUntil(this.#now);
  }

  #runUntil(target: number): void {
    if (this.#stepping) throw new Error('VirtualClock: a step was requested inside a timer');
    this.#stepping = true;
    try {
      let fired = 0;
      for (;;) {
        const next = this.#timers.peek();
        if (next === undefined || next.at > target) break;
        if (++fired > MAX_TIMERS_PER_STEP) {
          throw new Error(`VirtualClock: more than ${MAX_TIMERS_PER_STEP} timers in one step`);
        }
        this.#timers.take();
        if (next.at > this.#now) this.#now = next.at;
        next.callback();
      }
      if (target > this.#now) this.#now = target;
    } finally {
      this.#stepping = false;
    }
  }
}

/** setTimeout's longest delay; longer waits re-arm. */
const MAX_HOST_DELAY_MS = 0x7fffffff;

export interface RealClockOptions {
  /** Milliseconds from a monotonic source; default `performance.now()`. */
  readonly nowMs?: () => number;
}

/**
 * Real (monotonic) time: `now()` follows the host's clock and timers fire from the host's
 * event loop. One host timer is armed at a time, for the earliest simulated timer.
 */
export class RealClock implements SimClock {
  readonly #timers = new TimerHeap();
  readonly #nowMs: () => number;
  #host: ReturnType<typeof setTimeout> | undefined;
  #hostAt = Number.POSITIVE_INFINITY;
  #running = false;
  #closed = false;

  constructor(options: RealClockOptions = {}) {
    this.#nowMs = options.nowMs ?? (() => performance.now());
  }

  now(): number {
    return Math.round(this.#nowMs() * 1e6);
  }

  setTimer(atNs: number, callback: () => void): CancelTimer {
    if (this.#closed) return () => {};
    const entry = this.#timers.push(atNs, callback);
    this.#arm();
    return () => {
      this.#timers.cancel(entry);
    };
  }

  runDue(): void {
    if (this.#running) return;
    this.#running = true;
    try {
      for (;;) {
        const next = this.#timers.peek();
        if (next === undefined || next.at > this.now()) break;
        this.#timers.take();
        next.callback();
      }
    } finally {
      this.#running = false;
    }
    this.#arm();
  }

  /** Drops every timer; the clock arms no host timer afterwards. */
  close(): void {
    this.#closed = true;
    this.#timers.clear();
    if (this.#host !== undefined) clearTimeout(this.#host);
    this.#host = undefined;
  }

  #arm(): void {
    if (this.#closed) return;
    const next = this.#timers.peek();
    if (next === undefined) {
      if (this.#host !== undefined) clearTimeout(this.#host);
      this.#host = undefined;
      this.#hostAt = Number.POSITIVE_INFINITY;
      return;
    }
    if (this.#host !== undefined && this.#hostAt <= next.at) return;
    if (this.#host !== undefined) clearTimeout(this.#host);
    const delayMs = Math.min(Math.max(0, (next.at - this.now()) / 1e6), MAX_HOST_DELAY_MS);
    this.#hostAt = next.at;
    this.#host = setTimeout(() => {
      this.#host = undefined;
      this.#hostAt = Number.POSITIVE_INFINITY;
      this.runDue();
    }, Math.ceil(delayMs));
    // A pending simulated timer must not keep a host process alive on its own.
    const host = this.#host as { unref?: () => void };
    host.unref?.();
  }
}
