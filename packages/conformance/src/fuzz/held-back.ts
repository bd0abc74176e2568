// Failure classes the differential tester has found in qmpkit-server and that are not fixed yet.
// The CI test (test/fuzz-diff.test.ts) skips every seed whose sequence can reach one of them, so
// that it stays green while the fix is being made; the command-line run (`fuzz:diff`) skips
// nothing. Each entry names its finding in /work/coord/findings/ (seed, minimal sequence, both
// transcripts) and the regression scenario proposed with it. When the fix lands with its scenario,
// delete the entry: this list is meant to become empty.

import type { FuzzVersion } from './model-version.js';
import type { PredictedCase } from './run.js';

export interface HeldBackClass {
  /** Short name, also the finding's file name. */
  readonly name: string;
  /** What differs, in one line. */
  readonly what: string;
  /** The QEMU versions it differs on (absent: every version). */
  readonly versions?: readonly FuzzVersion[];
  /** Whether a predicted case can run into it (generous: skipping too much is safe). */
  readonly reaches: (predicted: PredictedCase) => boolean;
}

export const HELD_BACK: readonly HeldBackClass[] = [];

/** The held-back classes a case can reach (none: the CI runs it). */
export function heldBackFor(predicted: PredictedCase): HeldBackClass[] {
  return HELD_BACK.filter(
    (c) => (c.versions ?? [predicted.version]).includes(predicted.version) && c.reaches(predicted),
  );
}
