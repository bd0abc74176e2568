// Where the QEMU versions the differential tester checks part ways, for its model (model.ts): one
// profile per version, consulted at the few places where the versions differ. Facts measured on
// the real qemu-storage-daemons (Debian 7.2.22 and 10.0.2, null-co nodes and qcow2 chains, same
// command sequences; /work/coord/qemu10-notes.md and runtime-notes.md, 14:35 UTC) and checked by
// the tester itself against real 10.0.2.

import type { JobType } from './vocabulary.js';

/** The QEMU versions the tester runs against. */
export const FUZZ_VERSIONS = ['7.2', '10.0'] as const;
export type FuzzVersion = (typeof FUZZ_VERSIONS)[number];

export interface ModelVersion {
  readonly version: FuzzVersion;
  /**
   * The block graph's write lock (bdrv_graph_wrlock, QEMU 8.2 on) drains every node: each change
   * of the graph — a job's filter node put in or taken out, its nodes attached or let go — is a
   * drained section of every job not already paused (paused/running, standby/ready). On 7.2 the
   * same changes drain only the nodes they touch, which the tester's jobs never share.
   */
  readonly graphLockDrainsAll: boolean;
  /**
   * A throttled job entered early (job-resume, a drain's end, a raised speed) copies its next
   * chunk at once (7.2), or sleeps again until the delay it owes has passed (10.0:
   * block_job_ratelimit_sleep loops until the limiter lets it through; only speed 0 frees it).
   */
  readonly wakeCopiesAtOnce: boolean;
  /**
   * A mirror woken with one buffer or less left converges (READY) inside the waking command
   * (7.2), or after its reply (10.0: it yields between buffers).
   */
  readonly wokenMirrorConvergesInside: boolean;
  /** A transaction commits and cleans its actions newest first (QEMU 8.0's Transaction API). */
  readonly transactionNewestFirst: boolean;
}

export const MODEL_7_2: ModelVersion = {
  version: '7.2',
  graphLockDrainsAll: false,
  wakeCopiesAtOnce: true,
  wokenMirrorConvergesInside: true,
  transactionNewestFirst: false,
};

export const MODEL_10_0: ModelVersion = {
  version: '10.0',
  graphLockDrainsAll: true,
  wakeCopiesAtOnce: false,
  wokenMirrorConvergesInside: false,
  transactionNewestFirst: true,
};

export function modelVersion(version: FuzzVersion): ModelVersion {
  return version === '7.2' ? MODEL_7_2 : MODEL_10_0;
}

/**
 * How often each kind of job changes the block graph (takes the write lock) while it is made:
 * before block_job_create has made the job (its filter node), after it (the job's nodes
 * attached), and when job_create refuses it (a job id in use: the filter node undone). QEMU's
 * code paths, the same on every version; counted on 10.0.2, where each one is visible.
 */
export interface CreationChanges {
  readonly beforeJob: number;
  readonly afterJob: number;
  readonly onRefusal: number;
}

/** `activeCommit`: a commit of the active layer (the mirror engine). */
export function creationChanges(type: JobType, activeCommit = false): CreationChanges {
  switch (type) {
    case 'mirror':
      return { beforeJob: 2, afterJob: 2, onRefusal: 2 };
    case 'commit':
      return activeCommit
        ? { beforeJob: 2, afterJob: 2, onRefusal: 2 }
        : { beforeJob: 1, afterJob: 4, onRefusal: 0 };
    case 'stream':
      return { beforeJob: 3, afterJob: 2, onRefusal: 2 };
    case 'backup':
      return { beforeJob: 4, afterJob: 1, onRefusal: 2 };
  }
}

/**
 * Graph changes when a job ends (job_clean, before its COMPLETED or CANCELLED): a mirror's
 * filter dropped and its nodes let go (4; 5 when it pivots to the target on job-complete; an
 * active commit the same), a backup's copy-before-write filter (3). A stream and a commit depend
 * on how they end: succeeded, a commit's prepare drops its base's BlockBackend and the committed
 * images (4) and a stream's its copy-on-read filter and the streamed images (3); failed or
 * cancelled (`failed`, job_abort's path), a commit's abort also lets go of its nodes and drops
 * and closes its commit_top filter (5), and a stream only drops its filter (2).
 */
export function endChanges(
  type: JobType,
  readyPhase: boolean,
  pivots: boolean,
  failed: boolean,
): number {
  if (readyPhase) return pivots ? 5 : 4;
  switch (type) {
    case 'mirror':
      return 4;
    case 'commit':
      return failed ? 5 : 4;
    case 'stream':
      return failed ? 2 : 3;
    case 'backup':
      return 3;
  }
}

/** Graph changes when a job is freed (right after `null`): a stream lets go of two nodes. */
export function freedChanges(type: JobType): number {
  return type === 'stream' ? 2 : 1;
}
