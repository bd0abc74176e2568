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
    name: 'stream-after-partial-stream',
    what: 'a stream started after an earlier stream of the node skips, on QEMU, what the first one copied into the top layer (cancelled part way), or has nothing to do at all (finished: the chain was cut); qmpkit copies again',
    reaches: ({ traits }) => traits.has('stream-after-stream'),
  },
  {
    name: 'active-commit-throttled-chunk',
    what: 'a throttled active commit of top (mid’s MiB at 8M, top’s at 16M) copies one MiB and sleeps on QEMU (offset 1048576); qmpkit copies both (2097152) before its first sleep',
    reaches: ({ scenario }) =>
      scenario.steps.some(
        (step) =>
          'send' in step &&
          step.send === 'block-commit' &&
          step.arguments?.['top-node'] === undefined &&
          typeof step.arguments?.speed === 'number',
      ),
  },
  {
    name: 'mirror-converges-on-wake',
    what: 'a mirror with at most one buffer left (a throttled one that copied everything) goes ready inside the command that wakes it (a drain’s end, resume, set-speed) on QEMU; qmpkit replies first',
    reaches: ({ traits }) => traits.has('mirror-converges-on-wake'),
  },
  {
    name: 'chain-error-progress',
    what: 'a stream or commit whose request fails after a range with nothing to copy: QEMU counts that range as progress (offset 8 MiB in BLOCK_JOB_ERROR’s aftermath); qmpkit reports the offset before it',
    reaches: ({ traits }) => traits.has('chain-error-after-free-range'),
  },
  {
    name: 'stream-cor-write-error',
    what: 'a stream whose copy-on-read write to the top layer fails: QEMU reports BLOCK_JOB_ERROR (operation read) and fails the job; qmpkit completes it',
    reaches: ({ traits, scenario }) =>
      traits.has('stream-io-error') && scenario.blockdevs.some((b) => b.includes('"write_aio"')),
  },
];

/** The held-back classes a case can reach (none: the CI runs it). */
export function heldBackFor(predicted: PredictedCase): HeldBackClass[] {
  return HELD_BACK.filter((c) => c.reaches(predicted));
}
