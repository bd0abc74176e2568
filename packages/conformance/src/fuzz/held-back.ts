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

export const HELD_BACK: readonly HeldBackClass[] = [
  {
    name: 'export-detach-drains',
    what: 'letting go of an export (block-export-del, nbd-server-stop, a refusal after attaching) drains its node twice: QEMU pauses and resumes the job using it twice; qmpkit-server does not',
    reaches: (p) => p.traits.has('export-detach-drains'),
  },
  {
    name: 'export-graph-change',
    what: '10.0: attaching or letting go of an export is a change of the graph under the write lock (every job drained once); qmpkit-server --qemu-version 10.0 drains nothing',
    versions: ['10.0'],
    reaches: (p) => p.traits.has('export-graph-change'),
  },
  {
    name: 'export-permission-conflict',
    what: "an export the node's users do not allow (writable on a backup's source, any on a mirror's target) is refused with a permission conflict on QEMU, accepted by qmpkit-server",
    reaches: (p) => p.traits.has('export-permission-conflict'),
  },
  {
    name: 'mirror-copies-guest-write',
    what: "7.2: a ready mirror copies a guest write to its source (its len and offset grow by the dirty granules); qmpkit-server's mirror does not see guest writes",
    versions: ['7.2'],
    reaches: (p) => p.traits.has('mirror-copies-guest-write'),
  },
  {
    name: 'exports-listed',
    what: 'query-block-exports lists the newest export first on QEMU, the oldest first on qmpkit-server',
    reaches: (p) => p.traits.has('exports-listed'),
  },
  {
    name: 'filter-nodes-listed',
    what: "query-named-block-nodes lists a mirror's mirror_top (made last) before a backup's copy-before-write on QEMU, after it on qmpkit-server",
    reaches: (p) => p.traits.has('filter-nodes-listed'),
  },
];

/** The held-back classes a case can reach (none: the CI runs it). */
export function heldBackFor(predicted: PredictedCase): HeldBackClass[] {
  return HELD_BACK.filter(
    (c) => (c.versions ?? [predicted.version]).includes(predicted.version) && c.reaches(predicted),
  );
}
