// How far a copying job gets by a given time, computed in closed form.
//
// A QEMU copy job is a loop: copy one chunk, account its bytes with the block job's rate limiter
// (include/qemu/ratelimit.h), sleep the delay the limiter asks for, repeat. Ranges with nothing
// to copy (unallocated, or already present) are passed over without I/O and without delay, but
// still count as progress where QEMU counts them. Rather than run that loop chunk by chunk, the
// simulator describes one uninterrupted stretch of it as a Plan and answers "which chunk is done
// at time t" by binary search over a monotone formula, so a terabyte job costs the same as a
// megabyte one.

/** BLOCK_JOB_SLICE_TIME: the rate limiter's slice, 100 ms in nanoseconds. */
export const SLICE_NS = 100_000_000;

/**
 * ratelimit_set_speed(): the bytes allowed per slice, MAX(speed * slice / 1e9, 1) computed in
 * double precision and stored in an integer (truncated). 0 disables throttling.
 */
export function sliceQuota(speed: number): number {
  if (speed <= 0) return 0;
  return Math.max(Math.trunc((speed * SLICE_NS) / 1e9), 1);
}

/** The limiter's accounting (RateLimit without the lock). */
export interface RateLimitState {
  sliceStart: number;
  sliceEnd: number;
  dispatched: number;
  /**
   * A plan that starts after a rate-limit delay opens its first slice in advance, at its start.
   * QEMU's limiter has no such slice until a request is issued: until then it still holds this
   * accounting, and a job entered again asks it (with the quota of the moment) what it owes.
   */
  readonly beforeAdvanceSlice?: RateLimitState;
}

export function newRateLimit(): RateLimitState {
  return { sliceStart: 0, sliceEnd: 0, dispatched: 0 };
}

/**
 * ratelimit_calculate_delay(): accounts `bytes` at time `now` and returns the delay before the
 * next request, exactly as QEMU computes it (the slice end is `start + (uint64)(dispatched /
 * quota * slice)` in double precision).
 */
export function rateLimitDelay(
  state: RateLimitState,
  quota: number,
  now: number,
  bytes: number,
): number {
  if (quota === 0) return 0;
  if (state.sliceEnd < now) {
    state.sliceStart = now;
    state.sliceEnd = now + SLICE_NS;
    state.dispatched = 0;
  }
  state.dispatched += bytes;
  if (state.dispatched < quota) return 0;
  state.sliceEnd = state.sliceStart + Math.trunc((state.dispatched / quota) * SLICE_NS);
  return state.sliceEnd - now;
}

/** A stretch of a device, in device order: copied, or passed over. */
export interface Extent {
  readonly copy: boolean;
  readonly length: number;
  /** Where it starts on the device; default: right after the previous extent. */
  readonly device?: number;
}

/** One chunk of copying. `pos` counts copied bytes only; `device` is the device offset. */
export interface Chunk {
  readonly index: number;
  readonly pos: number;
  readonly bytes: number;
  readonly device: number;
}

/**
 * A job's work: extents cut into chunks of at most `chunkSize` bytes (a chunk never spans two
 * extents). Positions are "copy positions": bytes copied before a point. A skipped extent sits at
 * the copy position where the loop reaches it.
 */
export class WorkList {
  readonly chunkSize: number;
  /** Bytes to copy. */
  readonly totalCopy: number;
  /** Bytes passed over without copying. */
  readonly totalSkip: number;
  readonly chunkCount: number;
  readonly #copyPos: number[] = [];
  readonly #copyLen: number[] = [];
  readonly #copyDevice: number[] = [];
  readonly #chunksBefore: number[] = [];
  /** Copy positions that have skipped bytes (ascending, unique) and the bytes at each. */
  readonly #skipPos: number[] = [];
  readonly #skipBytes: number[] = [];
  /** Skip bytes at positions before #skipPos[i]. */
  readonly #skipBefore: number[] = [];

  constructor(extents: readonly Extent[], chunkSize: number) {
    if (!(chunkSize > 0)) throw new RangeError('chunk size must be positive');
    this.chunkSize = chunkSize;
    let pos = 0;
    let device = 0;
    let chunks = 0;
    let skip = 0;
    for (const extent of extents) {
      if (extent.length <= 0) continue;
      if (extent.device !== undefined) device = extent.device;
      if (extent.copy) {
        const last = this.#copyPos.length - 1;
        if (
          last >= 0 &&
          (this.#copyPos[last] as number) + (this.#copyLen[last] as number) === pos &&
          (this.#copyDevice[last] as number) + (this.#copyLen[last] as number) === device
        ) {
          // Adjacent copy extents merge (a chunk may then span them, as QEMU's would).
          chunks -= Math.ceil((this.#copyLen[last] as number) / chunkSize);
          this.#copyLen[last] = (this.#copyLen[last] as number) + extent.length;
          chunks += Math.ceil((this.#copyLen[last] as number) / chunkSize);
        } else {
          this.#copyPos.push(pos);
          this.#copyLen.push(extent.length);
          this.#copyDevice.push(device);
          this.#chunksBefore.push(chunks);
          chunks += Math.ceil(extent.length / chunkSize);
        }
        pos += extent.length;
      } else {
        const last = this.#skipPos.length - 1;
        if (last >= 0 && this.#skipPos[last] === pos) {
          this.#skipBytes[last] = (this.#skipBytes[last] as number) + extent.length;
        } else {
          this.#skipPos.push(pos);
          this.#skipBytes.push(extent.length);
          this.#skipBefore.push(skip);
        }
        skip += extent.length;
      }
      device += extent.length;
    }
    this.totalCopy = pos;
    this.totalSkip = skip;
    this.chunkCount = chunks;
  }

  /** The k-th chunk (0-based). */
  chunk(index: number): Chunk {
    const e = upperBound(this.#chunksBefore, index) - 1;
    const within = index - (this.#chunksBefore[e] as number);
    const offset = within * this.chunkSize;
    const length = this.#copyLen[e] as number;
    return {
      index,
      pos: (this.#copyPos[e] as number) + offset,
      bytes: Math.min(this.chunkSize, length - offset),
      device: (this.#copyDevice[e] as number) + offset,
    };
  }

  /** The index of the chunk that starts at copy position `pos` or contains it. */
  chunkIndexAt(pos: number): number {
    if (pos >= this.totalCopy) return this.chunkCount;
    const e = upperBound(this.#copyPos, pos) - 1;
    return (
      (this.#chunksBefore[e] as number) +
      Math.floor((pos - (this.#copyPos[e] as number)) / this.chunkSize)
    );
  }

  /** The copy position of a device offset inside a copied extent, or undefined. */
  copyPositionOf(deviceOffset: number): number | undefined {
    const e = upperBound(this.#copyDevice, deviceOffset) - 1;
    if (e < 0) return undefined;
    const start = this.#copyDevice[e] as number;
    if (deviceOffset >= start + (this.#copyLen[e] as number)) return undefined;
    return (this.#copyPos[e] as number) + (deviceOffset - start);
  }

  /** The device ranges of the bytes copied between copy positions `from` and `to`. */
  deviceRanges(from: number, to: number): Array<{ start: number; length: number }> {
    const out: Array<{ start: number; length: number }> = [];
    for (let e = Math.max(0, upperBound(this.#copyPos, from) - 1); e < this.#copyPos.length; e++) {
      const pos = this.#copyPos[e] as number;
      if (pos >= to) break;
      const a = Math.max(from, pos);
      const b = Math.min(to, pos + (this.#copyLen[e] as number));
      if (b > a) out.push({ start: (this.#copyDevice[e] as number) + (a - pos), length: b - a });
    }
    return out;
  }

  /** Skipped bytes at copy positions below `pos` (and at `pos` too when `inclusive`). */
  skippedBefore(pos: number, inclusive: boolean): number {
    const i = inclusive ? upperBound(this.#skipPos, pos) : lowerBound(this.#skipPos, pos);
    if (i === 0) return 0;
    return (this.#skipBefore[i - 1] as number) + (this.#skipBytes[i - 1] as number);
  }

  /** Whether bytes are passed over at the very end (after the last chunk). */
  get hasTrailingSkip(): boolean {
    const last = this.#skipPos.length - 1;
    return last >= 0 && this.#skipPos[last] === this.totalCopy;
  }

  /** Progress (copied + passed-over bytes) once the loop is at `pos`. */
  progressAt(pos: number, skipsAtPosDone: boolean): number {
    return pos + this.skippedBefore(pos, skipsAtPosDone);
  }
}

/** First index whose value is > x. */
function upperBound(values: readonly number[], x: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((values[mid] as number) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose value is >= x. */
function lowerBound(values: readonly number[], x: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((values[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * One uninterrupted stretch of a job's loop, from the chunk at copy position `base` onwards.
 *
 * Throttled (quota > 0): a chunk's I/O is treated as instant, so a chunk completes when it is
 * issued; the first is issued at `start`, and after it the limiter's own schedule holds: a job
 * that wakes exactly at the slice end never resets its slice, so the chunk issued with
 * `dispatched = D` (bytes accounted before it, slice start `sigma`) goes at
 * `sigma + trunc(D / quota * slice)` once D has reached the quota, and at once before that.
 *
 * Unthrottled: the device moves `nsPerByte` nanoseconds per byte, chunk after chunk; with a
 * request latency (null-co's `latency-ns`), chunks complete in waves of `wave` requests in
 * flight together, each wave `latency` nanoseconds after the previous one.
 */
export interface Plan {
  readonly start: number;
  readonly base: number;
  /** Chunk index at `base`. */
  readonly firstChunk: number;
  readonly quota: number;
  readonly sigma: number;
  /** Limiter bytes accounted before the first chunk (after its slice check). */
  readonly dispatched0: number;
  readonly nsPerByte: number;
  /** Unthrottled only: nanoseconds each wave of requests takes (0: none). */
  readonly latency?: number;
  /** Requests in flight together (default 1). */
  readonly wave?: number;
  /** The work's chunk index at a copy position (needed with a latency). */
  readonly chunkIndexAt?: (pos: number) => number;
}

/** Waves of requests completed once the loop is at copy position `pos`. */
function wavesBefore(plan: Plan, pos: number): number {
  const latency = plan.latency ?? 0;
  if (latency === 0 || plan.chunkIndexAt === undefined || pos <= plan.base) return 0;
  const chunks = plan.chunkIndexAt(pos) - plan.firstChunk;
  return Math.ceil(chunks / (plan.wave ?? 1));
}

/** When the loop arrives at copy position `pos` (>= plan.base): the chunk there is issued. */
export function arriveAt(plan: Plan, pos: number): number {
  if (pos <= plan.base) return plan.start;
  if (plan.quota > 0) {
    const dispatched = plan.dispatched0 + (pos - plan.base);
    if (dispatched < plan.quota) return plan.start;
    return Math.max(plan.start, plan.sigma + Math.trunc((dispatched / plan.quota) * SLICE_NS));
  }
  return (
    plan.start +
    Math.floor((pos - plan.base) * plan.nsPerByte) +
    wavesBefore(plan, pos) * (plan.latency ?? 0)
  );
}

/** When a chunk's bytes are done. */
export function chunkDoneAt(plan: Plan, chunk: Chunk): number {
  if (plan.quota > 0) return arriveAt(plan, chunk.pos);
  const latency = plan.latency ?? 0;
  const bytes = Math.floor((chunk.pos + chunk.bytes - plan.base) * plan.nsPerByte);
  if (latency === 0) return plan.start + bytes;
  const wave = Math.floor((chunk.index - plan.firstChunk) / (plan.wave ?? 1)) + 1;
  return plan.start + bytes + wave * latency;
}

/** The last chunk of the wave `chunk` is sent with (all of them complete together). */
export function waveEnd(plan: Plan, chunkIndex: number, chunkCount: number): number {
  if (plan.quota > 0 || (plan.latency ?? 0) === 0) return chunkIndex;
  const wave = plan.wave ?? 1;
  const w = Math.floor((chunkIndex - plan.firstChunk) / wave);
  return Math.min(chunkCount - 1, plan.firstChunk + (w + 1) * wave - 1);
}

/**
 * The index of the last chunk in [plan.firstChunk, limit) done by time `t`, or
 * plan.firstChunk - 1 when none is.
 */
export function lastChunkDoneBy(work: WorkList, plan: Plan, t: number, limit: number): number {
  let lo = plan.firstChunk;
  let hi = Math.min(limit, work.chunkCount) - 1;
  if (hi < lo || chunkDoneAt(plan, work.chunk(lo)) > t) return plan.firstChunk - 1;
  while (lo < hi) {
    const mid = lo + Math.ceil((hi - lo) / 2);
    if (chunkDoneAt(plan, work.chunk(mid)) <= t) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The first chunk of the plan whose completion is strictly after `t` (the one in flight). */
export function chunkInFlightAt(work: WorkList, plan: Plan, t: number): number {
  const last = lastChunkDoneBy(work, plan, t, work.chunkCount);
  return last + 1;
}

/** The limiter's state once the plan has accounted every chunk before copy position `pos`. */
export function rateLimitAfter(plan: Plan, pos: number, before: RateLimitState): RateLimitState {
  if (plan.quota === 0 || pos <= plan.base) return { ...before };
  const dispatched = plan.dispatched0 + (pos - plan.base);
  const sliceEnd =
    dispatched >= plan.quota
      ? plan.sigma + Math.trunc((dispatched / plan.quota) * SLICE_NS)
      : Math.max(before.sliceEnd, plan.sigma + SLICE_NS);
  return { sliceStart: plan.sigma, sliceEnd, dispatched };
}
