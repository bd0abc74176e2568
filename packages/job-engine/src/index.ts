export type {
  CleanEffect,
  Effect,
  EnterEffect,
  EnterReason,
  EventEffect,
  HaltEffect,
  IoErrorResult,
  JobEventName,
  JobResult,
} from './effects.js';
export type {
  CreateJobOptions,
  IoErrorOptions,
  JobRunState,
  JobSnapshot,
  JobTransaction,
  ProgressUpdate,
} from './engine.js';
export { JobEngine } from './engine.js';
export type { JobError } from './errors.js';
export { JobEngineInvariantError, jobErrorText } from './errors.js';
export { isWellFormedJobId } from './job-id.js';
export type { BlockJobInfo, JobCommandArgs, JobCommandName, JobEventMap, JobInfo } from './qapi.js';
export {
  BlockDeviceIoStatus,
  BlockdevOnError,
  BlockErrorAction,
  IoOperationType,
  JobStatus,
  JobType,
  JobVerb,
} from './qapi.js';
export { isTransitionAllowed, isVerbAllowed, transitionTable, verbTable } from './tables.js';
