/**
 * Job progress as users want it: monotonic, with a rate and an ETA.
 *
 * QEMU's `current-progress` only grows, but `total-progress` is an estimate that moves both ways
 * (a mirror's total grows after READY as the guest dirties more data), so `current/total` can go
 * down. The meter never reports a smaller `fraction` than before: when the total grows, the
 * fraction holds still until `current` catches up.
 */

/** One progress report. */
export interface JobProgress {
  /** Work done (bytes for block jobs); never decreases. */
  current: number;
  /** QEMU's current estimate of the total, and never less than `current`. */
  total: number;
  /** Done fraction in [0, 1]; never decreases. */
  fraction: number;
  /** Smoothed rate in units (bytes) per second; undefined until two samples are apart in time. */
  rate: number | undefined;
  /** Estimated milliseconds to go; undefined while the rate is unknown or zero. */
  etaMs: number | undefined;
}

/** Options of a `ProgressMeter`. */
export interface ProgressMeterOptions {
  /** Weight of the newest sample in the exponential moving average of the rate (0-1]; 0.3. */
  smoothing?: number;
}

function toNumber(value: number | bigint): number {
  return typeof value === 'bigint' ? Number(value) : value;
}

/** Turns raw (current, total) samples into monotonic `JobProgress` reports; time is injected. */
export class ProgressMeter {
  private readonly smoothing: number;
  private current = 0;
  private total = 0;
  private fraction = 0;
  private rate: number | undefined;
  private lastTime: number | undefined;
  private lastCurrent = 0;
  private started = false;

  constructor(options: ProgressMeterOptions = {}) {
    const smoothing = options.smoothing ?? 0.3;
    if (!(smoothing > 0 && smoothing <= 1)) throw new RangeError('smoothing must be in (0, 1]');
    this.smoothing = smoothing;
  }

  /** The latest report (all zeros before the first sample). */
  get latest(): JobProgress {
    return this.report();
  }

  /**
   * Adds a sample taken at `nowMs` (any monotonic millisecond clock) and returns the report,
   * or `undefined` when nothing visible changed.
   */
  update(current: number | bigint, total: number | bigint, nowMs: number): JobProgress | undefined {
    const sampleCurrent = Math.max(0, toNumber(current));
    const sampleTotal = Math.max(0, toNumber(total));
    const before = this.started ? this.report() : undefined;
    this.started = true;
    const nextCurrent = Math.max(this.current, sampleCurrent);
    if (this.lastTime !== undefined && nowMs > this.lastTime) {
      const instant = ((nextCurrent - this.lastCurrent) * 1000) / (nowMs - this.lastTime);
      this.rate =
        this.rate === undefined
          ? instant
          : this.smoothing * instant + (1 - this.smoothing) * this.rate;
      this.lastTime = nowMs;
      this.lastCurrent = nextCurrent;
    } else if (this.lastTime === undefined) {
      this.lastTime = nowMs;
      this.lastCurrent = nextCurrent;
    }
    this.current = nextCurrent;
    this.total = Math.max(sampleTotal, nextCurrent);
    if (this.total > 0)
      this.fraction = Math.max(this.fraction, Math.min(1, this.current / this.total));
    const after = this.report();
    if (
      before !== undefined &&
      before.current === after.current &&
      before.total === after.total &&
      before.fraction === after.fraction
    ) {
      return undefined;
    }
    return after;
  }

  private report(): JobProgress {
    const remaining = this.total - this.current;
    const etaMs =
      this.rate !== undefined && this.rate > 0
        ? Math.round((remaining * 1000) / this.rate)
        : undefined;
    return {
      current: this.current,
      total: this.total,
      fraction: this.fraction,
      rate: this.rate,
      etaMs: remaining === 0 ? 0 : etaMs,
    };
  }
}
