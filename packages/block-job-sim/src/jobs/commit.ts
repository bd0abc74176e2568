// The commit job for an intermediate image (block/commit.c): it copies what the images from top
// down to just above base hold into base, 512 KiB at a time, then drops them from the chain. An
// active commit (top is the device itself) is a mirror (./mirror.ts) of type commit.
//
// Its loop is the plain copy loop of the runtime: chunks throttled by the rate limiter, a sleep
// between throttled chunks, the run ending after the delay of its last chunk when an unallocated
// stretch follows it.

import { copyJobDriver, type JobDriver } from '../runtime/job-driver.js';
import type { CommitState } from './driver.js';

export function commitState(): CommitState {
  return { kind: 'commit' };
}

export const commitDriver: JobDriver = {
  ...copyJobDriver,
  // commit_prepare/commit_abort/commit_clean: the commit_top filter dropped and the chain
  // shortened (four); block_job_free detaches the job's BlockBackend (one).
  graphChangesAtEnd: () => 4,
  graphChangesWhenFreed: 1,
  kind: 'commit',
  // A concluded commit kept by auto-dismiss false still holds its nodes until dismissed.
  releasesNodes: 'when-dismissed',
};
