// QEMU 7.2's error texts for the job commands, to the letter (job-semantics.md §4, §5).
import type { JobStatus, JobVerb } from './qapi.js';

/** An error as QEMU sends it: `{"error": {"class", "desc"}}`. */
export interface JobError {
  class: 'GenericError' | 'DeviceNotActive' | 'CommandNotFound';
  desc: string;
}

export const jobErrorText = {
  jobNotFound: 'Job not found',
  blockJobNotFound: (device: string) => `Block job '${device}' not found`,
  verbRefused: (id: string, status: JobStatus, verb: JobVerb) =>
    `Job '${id}' in state '${status}' cannot accept command verb '${verb}'`,
  alreadyPaused: 'Job is already paused',
  notPaused: "Can't resume a job that was not paused",
  currentlyPaused: (device: string) => `The block job for device '${device}' is currently paused`,
  cannotComplete: (id: string) => `The active block job '${id}' cannot be completed`,
  replacesNotFound: (node: string) => `Node name '${node}' not found`,
  negativeSpeed: "Parameter 'speed' expects a non-negative value",
  invalidJobId: (id: string) => `Invalid job ID '${id}'`,
  jobIdInUse: (id: string) => `Job ID '${id}' already in use`,
  /** strerror(ECANCELED): what a cancelled job reports as its error. */
  canceled: 'Operation canceled',
} as const;

const INVARIANT_MARKER = Symbol.for('qmpkit.job-engine.JobEngineInvariantError');

/**
 * Thrown only when something would make a job take an edge QEMU's transition table forbids
 * (QEMU would assert). It always means the caller drove the engine wrongly, never a user error.
 */
export class JobEngineInvariantError extends Error {
  readonly [INVARIANT_MARKER] = true;
  override readonly name = 'JobEngineInvariantError';
  constructor(
    message: string,
    readonly jobId: string,
    readonly from: JobStatus,
    readonly to: JobStatus,
  ) {
    super(message);
  }

  static isInstance(value: unknown): value is JobEngineInvariantError {
    return typeof value === 'object' && value !== null && INVARIANT_MARKER in value;
  }
}
