// What the differential tester's model (model.ts) is made of besides its state machine: the job
// record it keeps, the shape of a prediction, the QMP arguments of the commands it predicts, and
// the query answers it expects (§4.3, §8.2). QEMU facts: docs/reference/job-semantics.md.

import { HANG_GUARD_MS } from '@qmpkit/test-support';
import {
  anyInt,
  blockJobInfo,
  fails,
  generic,
  type Pattern,
  pollBlockJob,
  ready,
  type Step,
  status,
  type Volatile,
} from '../scenario.js';
import type { SyncedBitmap } from './model-bitmaps.js';
import type {
  BackupSpec,
  Coverage,
  ErrorPolicy,
  InjectedError,
  JobProfile,
  JobStatus,
  StartSpec,
} from './vocabulary.js';

export interface ModelJob {
  readonly id: string;
  /** Replaced when guest writes give a mirror more to copy (its len grows). */
  profile: JobProfile;
  /** The node the job was started on (for busy checks). */
  readonly device: string;
  /** A backup's or mirror's target node (the io family's node drains). */
  target?: string;
  /** Its filter node's name, when the command named it. */
  filter?: string;
  /** The transaction it belongs to (a lone job: its own). */
  readonly txn: number;
  readonly autoFinalize: boolean;
  readonly autoDismiss: boolean;
  status: JobStatus;
  userPaused: boolean;
  speed: number;
  offset: number;
  /** False once an I/O error hit a mirror: how far it got depends on its requests in flight. */
  offsetKnown: boolean;
  /** job-complete arrived in standby: it takes effect on resume (§6.5). */
  completeRequested: boolean;
  /** job-complete was accepted: a mirror-like job ends by pivoting to its target. */
  pivots?: boolean;
  /** The dirty bitmap a backup syncs. */
  readonly synced?: SyncedBitmap;
  /** The JobInfo `error` once it ended badly. */
  error?: string;
  /** The policy for the profile's injected error, if any. */
  readonly policy: ErrorPolicy;
  /** `io-status` after a stop action (§6.7). */
  ioStatus: 'ok' | 'failed' | 'nospace';
  /** Stopped by an I/O error: a retry on resume or cancel (the rule fires once). */
  stoppedByError: boolean;
}

/** The prediction for one action: the steps to run, and the coverage it contributes. */
export interface Prediction {
  readonly steps: Step[];
  readonly coverage: Coverage[];
}

/** What an action does around its reply. */
export interface Effect {
  before: Step[];
  /** The reply (default `{}`). */
  reply?: Step;
  after: Step[];
}

export const effect = (before: Step[] = [], after: Step[] = [], reply?: Step): Effect =>
  reply === undefined ? { before, after } : { before, after, reply };

export const notFound = (id: string, blockFamily: boolean): Step =>
  blockFamily ? fails('DeviceNotActive', `Block job '${id}' not found`) : generic('Job not found');

// Queries (§4.3, §8.2)

/** query-jobs as QEMU answers it for `jobs`. */
export function queryJobs(jobs: readonly ModelJob[]): Pattern {
  return jobs.map((j) => ({
    id: j.id,
    type: j.profile.type,
    status: j.status,
    'current-progress': progress(j),
    'total-progress': j.profile.len,
    ...(j.error === undefined ? {} : { error: j.error }),
  }));
}

/** query-block-jobs as QEMU answers it for `jobs`. */
export function queryBlockJobs(jobs: readonly ModelJob[]): Pattern {
  return jobs.map((j) =>
    blockJobInfo(j.profile.type, j.id, {
      len: j.profile.len,
      offset: progress(j),
      // pause_count > 0: a user pause, or a mirror-like job's source kept drained from its
      // completion until finalization (§6.4).
      paused:
        j.userPaused ||
        (j.profile.readyPhase && (j.status === 'waiting' || j.status === 'pending')),
      speed: j.speed,
      'io-status': j.ioStatus,
      ready: j.status === 'ready' || j.status === 'standby',
      status: j.status,
      'auto-finalize': j.autoFinalize,
      'auto-dismiss': j.autoDismiss,
      ...(j.error === undefined ? {} : { error: j.error }),
    }),
  );
}

export function startArgs(spec: StartSpec): Record<string, unknown> {
  const args: Record<string, unknown> = { 'job-id': spec.id };
  if (spec.speed !== 0) args.speed = spec.speed;
  if (!spec.autoFinalize) args['auto-finalize'] = false;
  if (!spec.autoDismiss) args['auto-dismiss'] = false;
  return args;
}

export function backupArgs(b: BackupSpec): Record<string, unknown> {
  return {
    ...startArgs(b),
    device: b.device,
    target: b.target,
    sync: b.sync,
    ...(b.bitmap ? { bitmap: b.bitmap } : {}),
    ...(b.bitmapMode ? { 'bitmap-mode': b.bitmapMode } : {}),
    ...(b.onSourceError ? { 'on-source-error': b.onSourceError } : {}),
    ...(b.onTargetError ? { 'on-target-error': b.onTargetError } : {}),
    ...(b.filter ? { 'filter-node-name': b.filter } : {}),
  };
}

/** Mirror's default buffer (§8.3). */
export const MIRROR_BUFFER = 16 * 1024 * 1024;

/** A job's progress as a pattern: exact, or any integer once it depends on timing. */
export function progress(job: ModelJob): number | Volatile {
  return job.offsetKnown
    ? job.offset
    : anyInt('how far a mirror got when an I/O error hit depends on its requests in flight');
}

/** §5.1: the action an error policy takes for an errno. */
export function errorAction(
  policy: ErrorPolicy,
  errno: InjectedError['errno'],
): 'report' | 'ignore' | 'stop' {
  if (policy === 'report' || policy === 'ignore' || policy === 'stop') return policy;
  return errno === 'ENOSPC' ? 'stop' : 'report';
}

export const ERRNO_TEXT: Record<InjectedError['errno'], string> = {
  EIO: 'Input/output error',
  ENOSPC: 'No space left on device',
};

// Job states the model's state machine shares

/** A mirror-like job converged: READY. */
export function becomeReady(job: ModelJob): Step[] {
  job.status = 'ready';
  return [
    status(job.id, 'ready'),
    ready(job.profile.type, job.id, job.profile.len, progress(job), job.speed),
  ];
}

/** A cancel lets a user-paused job leave its pause point (running or ready again). */
export function releasePause(job: ModelJob): Step[] {
  if (!job.userPaused) return [];
  job.userPaused = false;
  if (job.status === 'paused') job.status = 'running';
  if (job.status === 'standby') job.status = 'ready';
  return [status(job.id, job.status)];
}

/** Poll until the job is at rest at its predicted offset. */
export function idleAt(job: ModelJob): Step {
  if (!job.offsetKnown) {
    return { ...pollBlockJob(job.id, 'idle', (j) => j.busy === false), timeoutMs: HANG_GUARD_MS };
  }
  const offset = job.offset;
  return {
    ...pollBlockJob(
      job.id,
      `idle at offset ${offset}`,
      (j) => j.busy === false && j.offset === offset,
    ),
    timeoutMs: HANG_GUARD_MS,
  };
}

/**
 * Of `jobs` (newest first), the running or ready ones that are not user-paused: a drain shows on
 * them (§7). QEMU drains node by node in the order the nodes were made (`nodes`), and an idle job
 * reaches its pause point as soon as its first node is drained: so they pause in the order of
 * their nodes in the blockdev list (seen on QEMU 7.2).
 */
export function drainable(jobs: readonly ModelJob[], nodes: ReadonlySet<string>): ModelJob[] {
  const order = [...nodes];
  return jobs
    .filter((j) => !j.userPaused && (j.status === 'running' || j.status === 'ready'))
    .sort((a, b) => order.indexOf(a.device) - order.indexOf(b.device));
}

/**
 * `times` changes of the block graph under a write lock that drains every node (QEMU 10.0):
 * each is a drained section of every job not already paused, but `exclude` — paused or standby
 * in node order, then running or ready again, oldest first (as at the end of any drain of
 * everything). Such a drain's end wakes nothing that shows: on 10.0 a woken throttled job sleeps
 * on (model-version.ts wakeCopiesAtOnce), and the only unthrottled jobs at rest never finish.
 */
export function graphChanges(
  jobs: readonly ModelJob[],
  nodes: ReadonlySet<string>,
  times: number,
  exclude: readonly ModelJob[] = [],
): Step[] {
  const drained = drainable(jobs, nodes).filter((j) => !exclude.includes(j));
  const resumed = [...jobs].reverse().filter((j) => drained.includes(j));
  const pair = [
    ...drained.map((j) => status(j.id, j.status === 'ready' ? 'standby' : 'paused')),
    ...resumed.map((j) => status(j.id, j.status)),
  ];
  return Array.from({ length: times }, () => pair).flat();
}
