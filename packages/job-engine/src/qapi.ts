// The QAPI names the engine speaks, transcribed from QEMU 7.2's qapi/job.json, qapi/common.json
// and qapi/block-core.json (../shared/qapi-corpus/schema/qemu-7.2/qapi).
//
// This is the only file that defines wire-level types. It stands in for @qmpkit/qapi-types until
// that package is generated; once it is, these definitions become re-exports from it.

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
] as const;
export type JobType = (typeof JobType)[number];

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
] as const;
export type JobStatus = (typeof JobStatus)[number];

export const JobVerb = [
  'cancel',
  'pause',
  'resume',
  'set-speed',
  'complete',
  'dismiss',
  'finalize',
] as const;
export type JobVerb = (typeof JobVerb)[number];

export const BlockDeviceIoStatus = ['ok', 'failed', 'nospace'] as const;
export type BlockDeviceIoStatus = (typeof BlockDeviceIoStatus)[number];

export const BlockdevOnError = ['report', 'ignore', 'enospc', 'stop', 'auto'] as const;
export type BlockdevOnError = (typeof BlockdevOnError)[number];

export const BlockErrorAction = ['ignore', 'report', 'stop'] as const;
export type BlockErrorAction = (typeof BlockErrorAction)[number];

export const IoOperationType = ['read', 'write'] as const;
export type IoOperationType = (typeof IoOperationType)[number];

/** `query-jobs` element (job.json). */
export interface JobInfo {
  id: string;
  type: JobType;
  status: JobStatus;
  'current-progress': number;
  'total-progress': number;
  error?: string;
}

/** `query-block-jobs` element (block-core.json; `type` is a plain str in 7.2). */
export interface BlockJobInfo {
  type: string;
  device: string;
  len: number;
  offset: number;
  busy: boolean;
  paused: boolean;
  speed: number;
  'io-status': BlockDeviceIoStatus;
  ready: boolean;
  status: JobStatus;
  'auto-finalize': boolean;
  'auto-dismiss': boolean;
  error?: string;
}

/** The data of the events the job machinery sends. */
export interface JobEventMap {
  JOB_STATUS_CHANGE: { id: string; status: JobStatus };
  BLOCK_JOB_READY: { type: JobType; device: string; len: number; offset: number; speed: number };
  BLOCK_JOB_PENDING: { type: JobType; id: string };
  BLOCK_JOB_COMPLETED: {
    type: JobType;
    device: string;
    len: number;
    offset: number;
    speed: number;
    error?: string;
  };
  BLOCK_JOB_CANCELLED: {
    type: JobType;
    device: string;
    len: number;
    offset: number;
    speed: number;
  };
  BLOCK_JOB_ERROR: { device: string; operation: IoOperationType; action: BlockErrorAction };
}

/** Arguments of the QMP commands that act on existing jobs (7.2 introspection). */
export interface JobCommandArgs {
  'job-pause': { id: string };
  'job-resume': { id: string };
  'job-cancel': { id: string };
  'job-complete': { id: string };
  'job-finalize': { id: string };
  'job-dismiss': { id: string };
  'block-job-pause': { device: string };
  'block-job-resume': { device: string };
  'block-job-cancel': { device: string; force?: boolean };
  'block-job-complete': { device: string };
  'block-job-finalize': { id: string };
  'block-job-dismiss': { id: string };
  'block-job-set-speed': { device: string; speed: number };
}
