// The conformance scenario format. A scenario is an expected QMP transcript with the commands to
// send written in place: the runner walks the steps in order, sends each command when it reaches
// it, and checks every message the server writes against the next expectation. Because a command
// is sent only once everything expected before it has arrived, "wait for the event that proves a
// state" is simply "write that event before the next command".
//
// Scenarios are plain data built with the small helpers below, one file per topic under
// ../scenarios/. Expected values come from QEMU 7.2 (reference/job-semantics.md, confirmed by
// running qemu-storage-daemon), never from qmpkit's own output.

/** Something to prepare in the scenario's fresh directory before the daemon starts. */
export type SetupStep =
  /** `qemu-img <args>` run in the directory, e.g. `['create', '-f', 'qcow2', 'base.qcow2', '64M']`. */
  | { readonly qemuImg: readonly string[] }
  /** `qemu-io -c <command>... <image>` run in the directory (to allocate data in an image). */
  | { readonly qemuIo: { readonly image: string; readonly commands: readonly string[] } };

/**
 * A value whose exact content legitimately depends on timing (how far a job had got when a
 * command arrived). It matches any value of its kind, and the normalizer replaces the received
 * value with a fixed marker, so two runs (or QEMU and qmpkit) compare equal. `why` says what makes
 * it vary; the scenario is the place that documents it.
 */
export class Volatile {
  readonly kind: 'int' | 'bool' | 'string';
  readonly why: string;
  constructor(kind: 'int' | 'bool' | 'string', why: string) {
    this.kind = kind;
    this.why = why;
  }
  matches(value: unknown): boolean {
    if (this.kind === 'int') return Number.isInteger(value);
    return typeof value === (this.kind === 'bool' ? 'boolean' : 'string');
  }
}

/** The QEMU versions a scenario runs on; its expectations are 7.2's unless it says otherwise. */
export const SCENARIO_VERSIONS = ['7.2', '10.0'] as const;
export type ScenarioVersion = (typeof SCENARIO_VERSIONS)[number];

/**
 * An object member that exists from QEMU `version` on (e.g. `actively-synced`, 8.2): on older
 * versions the member must be absent. Resolved away before a scenario runs (`forVersion`).
 */
export class Since {
  readonly version: ScenarioVersion;
  readonly pattern: Pattern;
  constructor(version: ScenarioVersion, pattern: Pattern) {
    this.version = version;
    this.pattern = pattern;
  }
}

/**
 * A pattern: JSON where any position may be a `Volatile`, and an object member a `Since`.
 * Objects must match key for key.
 */
export type Pattern =
  | null
  | boolean
  | number
  | string
  | Volatile
  | Since
  | readonly Pattern[]
  | { readonly [key: string]: Pattern };

/** What the next message from the server must be. */
export type Expectation =
  /** The reply to the most recent command: success with this return value. */
  | { readonly return: Pattern }
  /** The reply to the most recent command: an error, class and desc to the letter. */
  | { readonly error: { readonly class: string; readonly desc: string } }
  /**
   * An event with exactly this data (no `data` = an event without data). `repeated`: one or more
   * identical events in a row (BLOCK_JOB_ERROR repeats once per failed parallel request, a
   * number that depends on timing); the normalizer keeps one.
   */
  | { readonly event: string; readonly data?: Pattern; readonly repeated?: true };

export type Step =
  /** Send a command. `id` defaults to a running counter (1, 2, …). */
  | {
      readonly send: string;
      readonly arguments?: Record<string, unknown>;
      readonly id?: string | number;
    }
  | { readonly expect: Expectation; readonly timeoutMs?: number }
  /**
   * Send `command` repeatedly (every `intervalMs`) until `until(returnValue)` holds. The polls and
   * their replies stay out of the transcript (how many were needed depends on timing); events
   * arriving meanwhile are checked by the following `expect` steps as usual. Used to wait for a
   * state no event announces, e.g. a throttled job that finished its first chunk (busy:false).
   */
  | {
      readonly poll: string;
      readonly arguments?: Record<string, unknown>;
      readonly until: (returnValue: unknown) => boolean;
      /** Printed in the transcript instead of the polls. */
      readonly label: string;
      readonly intervalMs?: number;
      readonly timeoutMs?: number;
    }
  /** Wait this long. Last resort: prefer an event or a poll, which prove the state. */
  | { readonly sleepMs: number }
  /**
   * Run an external program (qemu-io, qemu-img, nbdinfo) in the scenario's directory, e.g.
   * against an NBD export of the daemon, and check its exit code and standard output. Both go
   * into the transcript, so they are compared between targets like QMP messages.
   */
  | {
      readonly run: string;
      readonly args: readonly string[];
      readonly exitCode: number;
      readonly stdout: string;
      /** How long the program may take before it is killed (default 60 s: a guard against a hang). */
      readonly timeoutMs?: number;
    }
  /**
   * Where the QEMU versions part ways: the steps of the version the scenario runs on. Each list
   * is what that version's real qemu-storage-daemon does.
   */
  | { readonly byVersion: { readonly [V in ScenarioVersion]: readonly Step[] } };

export interface Scenario {
  /** Unique, kebab-case; used as the test name. */
  readonly name: string;
  /** What the scenario shows, and where in job-semantics.md it comes from. */
  readonly about: string;
  /** Images to make in the fresh directory first (file names are relative to it). */
  readonly setup?: readonly SetupStep[];
  /** `--blockdev` values (JSON or key=value), opened before the monitor. */
  readonly blockdevs: readonly string[];
  /** Further daemon arguments. */
  readonly args?: readonly string[];
  readonly steps: readonly Step[];
  /** Quiet period after the last step in which nothing more may arrive (default 150 ms). */
  readonly settleMs?: number;
}

// ---------------------------------------------------------------------------------------------
// Helpers that keep scenarios short and readable.

/** An object member present from QEMU `version` on; see `Since`. */
export const since = (version: ScenarioVersion, pattern: Pattern): Since =>
  new Since(version, pattern);

/** Steps that differ per QEMU version; see `Step`. */
export const byVersion = (steps: { readonly [V in ScenarioVersion]: readonly Step[] }): Step => ({
  byVersion: steps,
});

function versionIndex(version: ScenarioVersion): number {
  return SCENARIO_VERSIONS.indexOf(version);
}

function patternFor(pattern: Pattern, version: ScenarioVersion): Pattern {
  if (pattern instanceof Since) return patternFor(pattern.pattern, version);
  if (pattern === null || typeof pattern !== 'object' || pattern instanceof Volatile)
    return pattern;
  if (Array.isArray(pattern)) return pattern.map((p: Pattern) => patternFor(p, version));
  const out: { [key: string]: Pattern } = {};
  for (const [key, value] of Object.entries(pattern as { readonly [key: string]: Pattern })) {
    if (value instanceof Since && versionIndex(version) < versionIndex(value.version)) continue;
    out[key] = patternFor(value, version);
  }
  return out;
}

function stepsFor(steps: readonly Step[], version: ScenarioVersion): Step[] {
  return steps.flatMap((step): Step[] => {
    if ('byVersion' in step) return stepsFor(step.byVersion[version], version);
    if (!('expect' in step)) return [step];
    const e = step.expect;
    if ('return' in e) return [{ ...step, expect: { return: patternFor(e.return, version) } }];
    if ('event' in e && e.data !== undefined) {
      return [{ ...step, expect: { ...e, data: patternFor(e.data, version) } }];
    }
    return [step];
  });
}

/** The scenario as it runs on QEMU `version`: `byVersion` steps chosen, `Since` members resolved. */
export function forVersion(scenario: Scenario, version: ScenarioVersion): Scenario {
  return { ...scenario, steps: stepsFor(scenario.steps, version) };
}

/** Matches any integer whose value depends on timing; see `Volatile`. */
export const anyInt = (why: string): Volatile => new Volatile('int', why);
/** Matches any boolean whose value depends on timing; see `Volatile`. */
export const anyBool = (why: string): Volatile => new Volatile('bool', why);

/** Matches any string that legitimately varies; see `Volatile`. */
export const anyString = (why: string): Volatile => new Volatile('string', why);

/** Send a command. */
export const send = (command: string, args?: Record<string, unknown>): Step =>
  args === undefined ? { send: command } : { send: command, arguments: args };

/** Expect the reply `{"return": value}` (default `{}`). */
export const ok = (value: Pattern = {}): Step => ({ expect: { return: value } });

/** Expect an error reply. */
export const fails = (errorClass: string, desc: string): Step => ({
  expect: { error: { class: errorClass, desc } },
});

/** Run a program in the scenario directory; it must exit with `exitCode` and print `stdout`. */
export const run = (
  command: string,
  args: readonly string[],
  expected: { exitCode?: number; stdout?: string } = {},
): Step => ({
  run: command,
  args,
  exitCode: expected.exitCode ?? 0,
  stdout: expected.stdout ?? '',
});

/** Expect a GenericError reply. */
export const generic = (desc: string): Step => fails('GenericError', desc);

/** Expect any event. */
export const event = (name: string, data?: Pattern): Step => ({
  expect: data === undefined ? { event: name } : { event: name, data },
});

/** Expect `JOB_STATUS_CHANGE {id, status}`. */
export const status = (id: string, jobStatus: string): Step =>
  event('JOB_STATUS_CHANGE', { id, status: jobStatus });

/** Expect one JOB_STATUS_CHANGE per status, in order. */
export const statuses = (id: string, ...jobStatuses: string[]): Step[] =>
  jobStatuses.map((s) => status(id, s));

/** A command and its expected reply `{}`. */
export const call = (command: string, args?: Record<string, unknown>): Step[] => [
  send(command, args),
  ok(),
];

/** `Job 'id' in state 'status' cannot accept command verb 'verb'`. */
export const verbRefused = (id: string, jobStatus: string, verb: string): Step =>
  generic(`Job '${id}' in state '${jobStatus}' cannot accept command verb '${verb}'`);

/** BLOCK_JOB_* payload for a block job; `len`/`offset` given or volatile. */
export const blockJobData = (
  type: string,
  device: string,
  len: number | Volatile,
  offset: number | Volatile,
  speed = 0,
): { [key: string]: Pattern } => ({ type, device, len, offset, speed });

export const completed = (
  type: string,
  device: string,
  len: number | Volatile,
  offset: number | Volatile = len,
  speed = 0,
  error?: string,
): Step =>
  event('BLOCK_JOB_COMPLETED', {
    ...blockJobData(type, device, len, offset, speed),
    ...(error === undefined ? {} : { error }),
  });

export const cancelled = (
  type: string,
  device: string,
  len: number | Volatile,
  offset: number | Volatile,
  speed = 0,
): Step => event('BLOCK_JOB_CANCELLED', blockJobData(type, device, len, offset, speed));

export const ready = (
  type: string,
  device: string,
  len: number | Volatile,
  offset: number | Volatile = len,
  speed = 0,
): Step => event('BLOCK_JOB_READY', blockJobData(type, device, len, offset, speed));

export const pendingEvent = (type: string, id: string): Step =>
  event('BLOCK_JOB_PENDING', { type, id });

export const blockJobError = (
  device: string,
  operation: 'read' | 'write',
  action: 'ignore' | 'report' | 'stop',
): Step => ({
  expect: { event: 'BLOCK_JOB_ERROR', data: { device, operation, action }, repeated: true },
});

/** Poll `query-block-jobs` until the job `device` satisfies `test`. */
export const pollBlockJob = (
  device: string,
  label: string,
  test: (job: Record<string, unknown>) => boolean,
): Step => ({
  poll: 'query-block-jobs',
  label: `${device}: ${label}`,
  until: (jobs) =>
    Array.isArray(jobs) &&
    jobs.some((j: Record<string, unknown>) => j.device === device && test(j)),
});

/** Poll until the (throttled) block job `device` is idle with progress `offset`. */
export const idleAt = (device: string, offset: number): Step =>
  pollBlockJob(device, `idle at offset ${offset}`, (j) => j.busy === false && j.offset === offset);

/** Poll until the block job `device` is idle (busy:false), whatever its progress. */
export const idle = (device: string): Step => pollBlockJob(device, 'idle', (j) => j.busy === false);

/**
 * A full `query-block-jobs` entry (BlockJobInfo): defaults for a running, unthrottled job. A
 * mirror's carries `actively-synced` from QEMU 8.2 on: false unless `fields` says otherwise (a
 * background mirror is never actively synced).
 */
export const blockJobInfo = (
  type: string,
  device: string,
  fields: { readonly [key: string]: Pattern },
): { [key: string]: Pattern } => ({
  ...(type === 'mirror' ? { 'actively-synced': since('10.0', false) } : {}),
  type,
  device,
  busy: false,
  paused: false,
  speed: 0,
  'io-status': 'ok',
  ready: false,
  status: 'running',
  'auto-finalize': true,
  'auto-dismiss': true,
  ...fields,
});

/** A `query-jobs` entry (JobInfo, 7.2). */
export const jobInfo = (
  type: string,
  id: string,
  jobStatus: string,
  current: number | Volatile,
  total: number | Volatile,
  error?: string,
): { [key: string]: Pattern } => ({
  id,
  type,
  status: jobStatus,
  'current-progress': current,
  'total-progress': total,
  ...(error === undefined ? {} : { error }),
});
