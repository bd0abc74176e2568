/**
 * The client's own local errors. They extend `LocalError` from `@qmpkit/protocol` and, like the
 * protocol's errors, carry a `Symbol.for` marker checked by a static `isInstance()` (which works
 * across two copies of the package, where `instanceof` does not).
 */
import { LocalError, type QmpkitErrorOptions } from '@qmpkit/protocol';

function stamp(target: object, name: string): void {
  Object.defineProperty(target, Symbol.for(`qmpkit.error.${name}`), {
    value: true,
    enumerable: false,
  });
}

function hasMarker(value: unknown, name: string): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[Symbol.for(`qmpkit.error.${name}`)] === true
  );
}

/** Options of an `EventOverflowError`. */
export interface EventOverflowErrorOptions extends QmpkitErrorOptions {
  /** The queue bound that was exceeded. */
  limit?: number;
}

/**
 * An event stream created with `overflow: 'error'` fell more than its `maxQueued` events behind
 * the connection; the stream ends with this error instead of silently losing events.
 */
export class EventOverflowError extends LocalError {
  readonly limit: number | undefined;

  constructor(message: string, options?: EventOverflowErrorOptions) {
    super(message, options);
    this.name = 'EventOverflowError';
    this.limit = options?.limit;
    stamp(this, 'EventOverflowError');
  }

  static override isInstance(value: unknown): value is EventOverflowError {
    return hasMarker(value, 'EventOverflowError');
  }
}

/** Options of a `JobLostError`. */
export interface JobLostErrorOptions extends QmpkitErrorOptions {
  /** The job's id. */
  jobId?: string;
  /** The last status the client saw before it lost sight of the job. */
  lastStatus?: string;
}

/**
 * A job the client was driving disappeared while the client was disconnected (it concluded and
 * was dismissed automatically, or was dismissed by someone else), so its outcome is unknown.
 */
export class JobLostError extends LocalError {
  readonly jobId: string | undefined;
  readonly lastStatus: string | undefined;

  constructor(message: string, options?: JobLostErrorOptions) {
    super(message, options);
    this.name = 'JobLostError';
    this.jobId = options?.jobId;
    this.lastStatus = options?.lastStatus;
    stamp(this, 'JobLostError');
  }

  static override isInstance(value: unknown): value is JobLostError {
    return hasMarker(value, 'JobLostError');
  }
}
