/**
 * The client's own local errors. They extend `LocalError` from `@qmpkit/protocol` and, like the
 * protocol's errors, carry a `Symbol.for` marker checked by a static `isInstance()` (which works
 * across two copies of the package, where `instanceof` does not).
 */
import {
  hasErrorMarker,
  LocalError,
  type QmpkitErrorOptions,
  stampErrorMarker,
} from '@qmpkit/protocol';

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
    stampErrorMarker(this, 'EventOverflowError');
  }

  static override isInstance(value: unknown): value is EventOverflowError {
    return hasErrorMarker(value, 'EventOverflowError');
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
    stampErrorMarker(this, 'JobLostError');
  }

  static override isInstance(value: unknown): value is JobLostError {
    return hasErrorMarker(value, 'JobLostError');
  }
}
