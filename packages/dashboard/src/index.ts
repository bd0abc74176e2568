// @qmpkit/dashboard — a live web dashboard for QEMU block jobs. The Node server is under
// `@qmpkit/dashboard/node`; this entry holds the pure parts: the state, the metrics, the messages.

export { DashboardHub, type HubOptions, ROUND_TRIP_BUCKETS, type TargetCounters } from './hub.js';
export type { HelloMessage, JobRow, LogEntry, TargetState, UpdateMessage } from './messages.js';
export { METRICS_CONTENT_TYPE, type MetricsInput, renderMetrics } from './metrics.js';
