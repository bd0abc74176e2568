// Failure classes the differential tester has found in qmpkit-server and that are not fixed yet.
// The CI test (test/fuzz-diff.test.ts) skips every seed whose sequence can reach one of them, so
// that it stays green while the fix is being made; the command-line run (`fuzz:diff`) skips
// nothing. Each entry names its finding in /work/coord/findings/ (seed, minimal sequence, both
// transcripts) and the regression scenario proposed with it. When the fix lands with its scenario,
// delete the entry: this list is meant to become empty.

import type { PredictedCase } from './run.js';

export interface HeldBackClass {
  /** Short name, also the finding's file name. */
  readonly name: string;
  /** What differs, in one line. */
  readonly what: string;
  /** Whether a predicted case can run into it (generous: skipping too much is safe). */
  readonly reaches: (predicted: PredictedCase) => boolean;
}

export const HELD_BACK: readonly HeldBackClass[] = [
  {
    name: 'drain-order',
    what: 'a drain of several idle jobs: QEMU resumes them oldest job first (pauses them in node order); qmpkit resumes them in the order it paused them',
    reaches: ({ traits }) => traits.has('drain-resumes-in-another-order'),
  },
  {
    name: 'mirror-target-error',
    what: 'a mirror whose target write fails: QEMU emits BLOCK_JOB_ERROR after the creation reply (then fails, stops or carries on to ready by policy); qmpkit emits it before the reply',
    reaches: ({ scenario }) =>
      scenario.steps.some(
        (step) =>
          'send' in step &&
          step.send === 'blockdev-mirror' &&
          step.arguments?.['on-target-error'] !== undefined,
      ),
  },
  {
    name: 'concluded-stream-holds-node',
    what: 'a concluded (undismissed) stream still holds its node on QEMU (a second block-stream is busy); qmpkit starts the second stream',
    reaches: ({ scenario }) =>
      scenario.steps.filter((step) => 'send' in step && step.send === 'block-stream').length >= 2,
  },
  {
    name: 'backup-set-speed-wake',
    what: 'block-job-set-speed that wakes a running backup (higher speed; 0 for sync none) leaves it busy forever on qmpkit (busy:true, pause after the reply, no drain); QEMU is idle again before the reply (issue 12 classes 1, 2)',
    reaches: ({ coverage }) =>
      coverage.some(
        (c) =>
          c.type === 'backup' &&
          c.status === 'running' &&
          (c.verb === 'set-speed-positive' || (c.verb === 'set-speed-zero' && c.endless === true)),
      ),
  },
  {
    name: 'paused-backup-speed-change',
    what: 'a user-paused throttled backup given a new speed copies on qmpkit when it is next woken (cancel/resume); QEMU copies nothing more',
    reaches: ({ coverage }) =>
      coverage.some(
        (c) =>
          c.type === 'backup' &&
          (c.status === 'paused' || c.status === 'standby') &&
          (c.verb === 'set-speed-zero' || c.verb === 'set-speed-positive'),
      ),
  },
];

/** The held-back classes a case can reach (none: the CI runs it). */
export function heldBackFor(predicted: PredictedCase): HeldBackClass[] {
  return HELD_BACK.filter((c) => c.reaches(predicted));
}
