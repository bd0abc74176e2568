// The QAPI names the engine speaks, from @qmpkit/qapi-types (generated from QEMU 7.2's schema).
// This is the only file of the engine that touches the wire-level types.
import type { CommandMap, EventMap } from '@qmpkit/qapi-types';

export type { BlockJobInfo, JobInfo } from '@qmpkit/qapi-types';
export {
  BlockDeviceIoStatus,
  BlockdevOnError,
  BlockErrorAction,
  IoOperationType,
  JobStatus,
  JobType,
  JobVerb,
} from '@qmpkit/qapi-types';

/** The events the job machinery sends, with their data. */
export type JobEventMap = Pick<
  EventMap,
  | 'JOB_STATUS_CHANGE'
  | 'BLOCK_JOB_READY'
  | 'BLOCK_JOB_PENDING'
  | 'BLOCK_JOB_COMPLETED'
  | 'BLOCK_JOB_CANCELLED'
  | 'BLOCK_JOB_ERROR'
>;

/** The QMP commands that act on existing jobs. */
export type JobCommandName =
  | 'job-pause'
  | 'job-resume'
  | 'job-cancel'
  | 'job-complete'
  | 'job-finalize'
  | 'job-dismiss'
  | 'block-job-pause'
  | 'block-job-resume'
  | 'block-job-cancel'
  | 'block-job-complete'
  | 'block-job-finalize'
  | 'block-job-dismiss'
  | 'block-job-set-speed';

/** Their arguments, as the schema declares them. */
export type JobCommandArgs = { [C in JobCommandName]: CommandMap[C]['args'] };
