// @qmpkit/client — the typed QMP client: connect, negotiate, typed execute, bounded event
// streams, race-free job helpers, reconnect with reconciliation.

// The error classes a caller catches, re-exported so that one import is enough.
export {
  ConnectError,
  ExecInterruptedError,
  ExecuteError,
  ProtocolError,
  StateError,
  TimeoutError,
} from '@qmpkit/protocol';
// The job types callers meet in outcomes and hooks.
export type { JobInfo, JobStatus, JobType } from '@qmpkit/qapi-types/7.2';
export {
  type ClientOptions,
  type EventMatch,
  type EventsOptions,
  QmpClient,
  type ReconnectOptions,
  type WaitForEventOptions,
} from './client.js';
export type { DropReason, TranscriptEntry } from './connection.js';
export {
  EventOverflowError,
  type EventOverflowErrorOptions,
  JobLostError,
  type JobLostErrorOptions,
} from './errors.js';
export {
  type ClientListener,
  DEFAULT_MAX_QUEUED_EVENTS,
  type EventGuard,
  EventStream,
  type EventStreamOptions,
  type OverflowPolicy,
} from './event-stream.js';
export type { JobClient } from './job-client.js';
export { JOB_EVENT_ID_MEMBER, JOB_EVENT_NAMES, jobIdOfEvent } from './job-ids.js';
export {
  JobTracker,
  type JobTrackerOptions,
  type MissedJobTransition,
  type ReconcileReport,
} from './job-tracker.js';
export type {
  JobOutcome,
  JobStartCommand,
  JobView,
  ReadyAction,
  RunJobOptions,
  WaitForJobOptions,
} from './jobs.js';
export { type JobProgress, ProgressMeter, type ProgressMeterOptions } from './progress.js';
export type { ConnectTarget } from './target.js';
export {
  type JobErrorEntry,
  type JobTimeline,
  JobTimelineModel,
  type ProgressSample,
  type SpeedChange,
  type StatusInterval,
  type TimelineBlockJobInfo,
  type TimelineJobInfo,
  type TimelineOptions,
  type TimelineOutcome,
} from './timeline.js';
export {
  type OtelAttribute,
  type OtelExportOptions,
  type OtelSpan,
  type OtelTraceExport,
  type TimelineRecord,
  timelineRecords,
  timelineToNdjson,
  timelineToOtel,
} from './timeline-export.js';
export type {
  CallOptions,
  ClientEvent,
  ClientState,
  CommandArgs,
  CommandName,
  CommandReturn,
  ConnectHook,
  ConnectInfo,
  EventName,
  ExecuteRest,
} from './types.js';
