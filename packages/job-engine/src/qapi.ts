// The QAPI names the engine speaks, from QEMU 7.2's schema. This is the only file of the engine
// that touches the wire-level types. The types come from @qmpkit/qapi-types (GPL-2.0-or-later, as
// it is generated from QEMU's schema) as type-only imports, which vanish at compile time; the few
// enum values the engine needs at run time are carried here, so this MIT package never loads GPL
// code. Each list is checked against the schema's type here (`satisfies`) and against the
// generated array, order included, in qapi.test.ts.
import type * as Qapi from '@qmpkit/qapi-types/7.2';
import type { CommandMap, EventMap } from '@qmpkit/qapi-types/7.2';

export type { BlockJobInfo, JobInfo } from '@qmpkit/qapi-types/7.2';

/** QAPI `BlockDeviceIoStatus`. */
export const BlockDeviceIoStatus = [
  'ok',
  'failed',
  'nospace',
] as const satisfies readonly Qapi.BlockDeviceIoStatus[];
export type BlockDeviceIoStatus = Qapi.BlockDeviceIoStatus;

/** QAPI `BlockdevOnError`. */
export const BlockdevOnError = [
  'report',
  'ignore',
  'enospc',
  'stop',
  'auto',
] as const satisfies readonly Qapi.BlockdevOnError[];
export type BlockdevOnError = Qapi.BlockdevOnError;

/** QAPI `BlockErrorAction`. */
export const BlockErrorAction = [
  'ignore',
  'report',
  'stop',
] as const satisfies readonly Qapi.BlockErrorAction[];
export type BlockErrorAction = Qapi.BlockErrorAction;

/** QAPI `IoOperationType`. */
export const IoOperationType = ['read', 'write'] as const satisfies readonly Qapi.IoOperationType[];
export type IoOperationType = Qapi.IoOperationType;

/** QAPI `JobStatus`, in the schema's order. */
export const JobStatus = [
  'undefined',
  'created',
  'running',
  'paused',
  'ready',
  'standby',
  'waiting',
  'pending',
  'aborting',
  'concluded',
  'null',
] as const satisfies readonly Qapi.JobStatus[];
export type JobStatus = Qapi.JobStatus;

/** QAPI `JobType`, in the schema's order. */
export const JobType = [
  'commit',
  'stream',
  'mirror',
  'backup',
  'create',
  'amend',
  'snapshot-load',
  'snapshot-save',
  'snapshot-delete',
] as const satisfies readonly Qapi.JobType[];
export type JobType = Qapi.JobType;

/** QAPI `JobVerb`, in the schema's order. */
export const JobVerb = [
  'cancel',
  'pause',
  'resume',
  'set-speed',
  'complete',
  'dismiss',
  'finalize',
] as const satisfies readonly Qapi.JobVerb[];
export type JobVerb = Qapi.JobVerb;

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
