// QEMU 7.2's two job tables, one row per status (facts dumped from the 7.2 binaries; see
// docs/reference/job-semantics.md §2.1 and §3).
import { JobStatus, type JobVerb } from './qapi.js';

/** For each status, the statuses a job may move to next. Anything else is a broken invariant. */
export const transitionTable: { readonly [from in JobStatus]: readonly JobStatus[] } = {
  undefined: ['created'],
  created: ['running', 'aborting', 'null'],
  running: ['paused', 'ready', 'waiting', 'aborting'],
  paused: ['running'],
  ready: ['standby', 'waiting', 'aborting'],
  standby: ['ready'],
  waiting: ['pending', 'aborting'],
  pending: ['aborting', 'concluded'],
  aborting: ['aborting', 'concluded'],
  concluded: ['null'],
  null: [],
};

/** For each status, the verbs a job accepts in it. `complete` is accepted in standby too (7.2). */
export const verbTable: { readonly [status in JobStatus]: readonly JobVerb[] } = {
  undefined: [],
  created: ['cancel', 'pause', 'resume', 'set-speed'],
  running: ['cancel', 'pause', 'resume', 'set-speed'],
  paused: ['cancel', 'pause', 'resume', 'set-speed'],
  ready: ['cancel', 'pause', 'resume', 'set-speed', 'complete'],
  standby: ['cancel', 'pause', 'resume', 'set-speed', 'complete'],
  waiting: ['cancel'],
  pending: ['cancel', 'finalize'],
  aborting: [],
  concluded: ['dismiss'],
  null: [],
};

// The rows above compiled into sets once, so the hot path is a lookup.
const allowedTargets = new Map<JobStatus, ReadonlySet<JobStatus>>(
  JobStatus.map((s) => [s, new Set(transitionTable[s])]),
);
const allowedVerbs = new Map<JobStatus, ReadonlySet<JobVerb>>(
  JobStatus.map((s) => [s, new Set(verbTable[s])]),
);

/** Whether QEMU allows a job to move from `from` to `to` (the same status counts as a move). */
export function isTransitionAllowed(from: JobStatus, to: JobStatus): boolean {
  return allowedTargets.get(from)?.has(to) === true;
}

/** Whether QEMU's verb table lets a job in `status` accept `verb`. */
export function isVerbAllowed(verb: JobVerb, status: JobStatus): boolean {
  return allowedVerbs.get(status)?.has(verb) === true;
}
