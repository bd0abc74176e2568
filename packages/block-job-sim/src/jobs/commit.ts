// The commit job for an intermediate image (block/commit.c): it copies what the images from top
// down to just above base hold into base, 512 KiB at a time, then drops them from the chain. An
// active commit (top is the device itself) is a mirror (./mirror.ts) of type commit.
//
// Its loop is the plain copy loop of the runtime: chunks throttled by the rate limiter, a sleep
// between throttled chunks, the run ending after the delay of its last chunk when an unallocated
// stretch follows it. An error the policy ignores is retried on the same chunk, a main-loop turn
// later (for ever while it persists). Succeeded, it drops the images it committed from the chain
// (./chain-change.ts).

import { errorAction, retryAfterTurn } from '../runtime/io-errors.js';
import { copyJobDriver, type JobDriver } from '../runtime/job-driver.js';
import { shortenChain } from './chain-change.js';
import type { CommitState, JobRun } from './driver.js';

export function commitState(options: Omit<CommitState, 'kind'>): CommitState {
  return { kind: 'commit', ...options };
}

function stateOf(d: JobRun): CommitState {
  if (d.state.kind !== 'commit') throw new Error(`job '${d.id}' is not a commit`);
  return d.state;
}

export const commitDriver: JobDriver = {
  ...copyJobDriver,
  // Succeeded: commit_prepare drops the base's BlockBackend and the intermediate images, and
  // commit_clean the top's BlockBackend (four). Failed or cancelled: commit_abort drops the base's
  // BlockBackend, the job's nodes, the commit_top filter from the chain and then closes it, and
  // commit_clean the top's BlockBackend (five). block_job_free takes the lock once more (one).
  // Counts measured on QEMU 10.0.2.
  graphChangesAtEnd: (_d, failed) => (failed ? 5 : 4),
  graphChangesWhenFreed: 1,
  kind: 'commit',
  // A concluded commit kept by auto-dismiss false still holds its nodes until dismissed.
  releasesNodes: 'when-dismissed',
  requestFailed: (rt, d, index, failure) => {
    // An ignored error does not move the loop on: the same chunk is tried again (for ever, if
    // the error persists; the job stays running at that offset until it is cancelled).
    if (!errorAction(rt, d, failure, index)) retryAfterTurn(rt, d, index);
    return true;
  },
  // commit_prepare(): bdrv_drop_intermediate() makes the base the overlay's backing.
  prepare: (rt, d) => {
    const { overlay, base, backingFile } = stateOf(d);
    shortenChain(rt, d, overlay, base, backingFile);
  },
};
