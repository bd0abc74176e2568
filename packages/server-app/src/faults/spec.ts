/**
 * Fault specifications: what `--fault KIND,key=value,…`, a `--faults FILE` and the
 * `x-qmpkit-fault` command describe, checked once here so that every entry point accepts the
 * same faults with the same messages.
 */
import { parseQemuSize } from '@qmpkit/protocol';
import type { IntrospectionEntry, QmpSchemaExtras } from '@qmpkit/qapi-types/7.2';
import { BUILTIN_COMMANDS } from '@qmpkit/server';

/**
 * The kinds of fault, each with the real-world trouble it reproduces (README "Seeded faults").
 *
 * - `hold-greeting`: the monitor accepts but does not greet (for `ms`, or never) — a QEMU whose
 *   main loop is stuck, or a second client on a busy single-client monitor.
 * - `delay-reply`: a command's reply comes `ms` (+ up to `jitter`) late, while job events keep
 *   flowing — a slow main loop (blockdev-add on a slow NFS open, a drained graph).
 * - `events-first`: the events a command causes after its reply come before it: the reply waits
 *   for them (up to `ms`, default 1000) — what QEMU with iothreads can do; a client that only
 *   listens for events once it has the reply misses them.
 * - `drop`: the connection is cut when `job` reaches `status` (before that event is sent), or
 *   right after `command` ran, before its reply — a management daemon restart mid-job; on
 *   `quit`, a QEMU killed just after it acted on it.
 *
 * The commands the server answers itself (qmp_capabilities, query-version, query-commands,
 * query-qmp-schema, quit) meet `delay-reply` and `drop` only when a fault names them.
 * - `split`: every output write goes out in `pieces` parts (2-4 when not given) cut at seeded
 *   places — a reader that assumes one read is one message breaks.
 * - `coalesce`: output is held for `ms` and written in one piece — several replies and events
 *   in one read.
 * - `io-error`: requests of a job on `node` at `at` percent of it fail with `errno` (ENOSPC or
 *   EIO, default EIO) — writes unless `iotype=read`, every time, or once with `count=1` — and the
 *   job's error policy (on-source-error / on-target-error) applies: a target that fills up
 *   mid-mirror.
 * - `dismiss-race`: a poll (`query-jobs`, `query-block-jobs`) that would list `job` (any job
 *   when not given) again after an earlier poll listed it waits until the job is gone (up to
 *   `ms`, default 10000) — an auto-dismissed job that concludes between two polls: the poller
 *   never sees it end.
 * - `slow-progress`: the storage under `job` (every job when not given) moves only `rate` bytes
 *   per second, or `percent` of the rate the job would copy at (its speed, or --throughput): the
 *   job runs on, busy, its offset creeping — a mirror to a congested NFS target or a
 *   thin-provisioned LUN that is being throttled.
 * - `stall-progress`: the requests of `job` (every job when not given) stop completing, for `ms`
 *   or for ever: the job stays `running` with its offset frozen, and a pause or cancel waits for
 *   the stuck request — storage that hangs (a dead NFS server with a hard mount, a multipath
 *   device queueing I/O with no path).
 */
export const FAULT_KINDS = [
  'hold-greeting',
  'delay-reply',
  'events-first',
  'drop',
  'split',
  'coalesce',
  'dismiss-race',
  'io-error',
  'slow-progress',
  'stall-progress',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** One fault, as given. */
export interface FaultSpec {
  readonly kind: FaultKind;
  /** Only this command (delay-reply, events-first, drop). */
  readonly command?: string;
  /** drop: this job reaching `status`; dismiss-race: this job (default: any). */
  readonly job?: string;
  readonly status?: string;
  /** hold-greeting: how long (default: for ever); delay-reply: the delay; coalesce: the window. */
  readonly ms?: number;
  /** io-error: the node, where (percent of its length), the errno and the request type. */
  readonly node?: string;
  readonly at?: number;
  readonly errno?: 'ENOSPC' | 'EIO';
  readonly iotype?: 'read' | 'write';
  /** delay-reply: up to this much more, chosen by the seed. */
  readonly jitter?: number;
  /** split: parts per write. */
  readonly pieces?: number;
  /** slow-progress: bytes per second, or a percentage of the rate the job would copy at. */
  readonly rate?: number;
  readonly percent?: number;
  /** The chance, decided by the seed, that the fault applies where it can (default 1). */
  readonly probability?: number;
  /** Apply at most this many times (default: no limit). */
  readonly count?: number;
}

/** A fault plan as a file holds it (`--faults FILE`). */
export interface FaultFile {
  readonly seed?: number;
  readonly faults: readonly FaultSpec[];
}

/** A fault that cannot be used; the message says why. */
export class FaultSpecError extends Error {
  override readonly name = 'FaultSpecError';
}

const INTEGER_KEYS = ['ms', 'jitter', 'pieces', 'count', 'at', 'percent'] as const;
/** Byte counts (QEMU size suffixes on the command line). */
const SIZE_KEYS = ['rate'] as const;
/** 1 PiB/s: more than any storage moves (and exact in a double). */
const MAX_RATE = 2 ** 50;
const STRING_KEYS = ['command', 'job', 'status', 'node', 'errno', 'iotype'] as const;
const KEYS = new Set<string>([
  'kind',
  ...INTEGER_KEYS,
  ...SIZE_KEYS,
  ...STRING_KEYS,
  'probability',
]);
/** A day: no fault waits longer (a held greeting without `ms` waits for ever). */
const MAX_MS = 86_400_000;
const JOB_STATUSES = [
  'created',
  'running',
  'paused',
  'ready',
  'standby',
  'waiting',
  'pending',
  'aborting',
  'concluded',
  'null',
];

/** A fault while it is checked: its `errno` and `iotype` may still be any name. */
type FaultInChecking = {
  -readonly [K in keyof FaultSpec]: K extends 'errno' | 'iotype' ? string : FaultSpec[K];
};

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isFaultKind(value: unknown): value is FaultKind {
  return FAULT_KINDS.some((kind) => kind === value);
}

/** Whether the names a fault holds are the ones its type allows. */
function isFaultSpec(f: FaultInChecking): f is FaultInChecking & FaultSpec {
  return (
    (f.errno === undefined || f.errno === 'ENOSPC' || f.errno === 'EIO') &&
    (f.iotype === undefined || f.iotype === 'read' || f.iotype === 'write')
  );
}

/** Checks a fault given as JSON (file, command) and returns it typed. */
export function checkFault(value: unknown): FaultSpec {
  if (!isObject(value)) {
    throw new FaultSpecError('a fault is an object with a "kind"');
  }
  const input = value;
  for (const key of Object.keys(input)) {
    if (!KEYS.has(key)) throw new FaultSpecError(`unknown fault parameter '${key}'`);
  }
  const kind = input.kind;
  if (!isFaultKind(kind)) {
    throw new FaultSpecError(`unknown fault kind '${String(kind)}' (${FAULT_KINDS.join(', ')})`);
  }
  const spec: FaultInChecking = { kind };
  for (const key of STRING_KEYS) {
    const v = input[key];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v === '') throw new FaultSpecError(`'${key}' must be a name`);
    spec[key] = v;
  }
  for (const key of INTEGER_KEYS) {
    const v = input[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_MS) {
      throw new FaultSpecError(`'${key}' must be a whole number from 0 to ${MAX_MS}`);
    }
    spec[key] = v;
  }
  for (const key of SIZE_KEYS) {
    const v = input[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_RATE) {
      throw new FaultSpecError(`'${key}' must be a whole number of bytes from 1 to ${MAX_RATE}`);
    }
    spec[key] = v;
  }
  const p = input.probability;
  if (p !== undefined) {
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) {
      throw new FaultSpecError("'probability' must be a number from 0 to 1");
    }
    spec.probability = p;
  }
  checkKindParameters(spec);
  // checkKindParameters refused any other errno or iotype.
  if (!isFaultSpec(spec))
    throw new FaultSpecError("'errno' is ENOSPC or EIO, 'iotype' read or write");
  return spec;
}

function checkKindParameters(f: FaultInChecking): void {
  const allowed: Record<FaultKind, readonly string[]> = {
    'hold-greeting': ['ms'],
    'delay-reply': ['command', 'ms', 'jitter'],
    'events-first': ['command', 'ms'],
    drop: ['command', 'job', 'status'],
    split: ['pieces'],
    coalesce: ['ms'],
    'dismiss-race': ['job', 'ms'],
    'io-error': ['node', 'at', 'errno', 'iotype'],
    'slow-progress': ['job', 'rate', 'percent'],
    'stall-progress': ['job', 'ms'],
  };
  for (const key of Object.keys(f)) {
    if (key === 'kind' || key === 'probability' || key === 'count') continue;
    if (!allowed[f.kind].includes(key)) {
      throw new FaultSpecError(`'${key}' does not apply to a ${f.kind} fault`);
    }
  }
  if (
    f.kind === 'events-first' &&
    f.command !== undefined &&
    (BUILTIN_COMMANDS as readonly string[]).includes(f.command)
  ) {
    throw new FaultSpecError(
      `${f.command} is answered by the QMP server itself: quit's events already come before its reply, the others cause none`,
    );
  }
  if (f.kind === 'delay-reply' && f.ms === undefined && f.jitter === undefined) {
    throw new FaultSpecError("a delay-reply fault needs 'ms' (and/or 'jitter')");
  }
  if (f.kind === 'coalesce' && f.ms === undefined) {
    throw new FaultSpecError("a coalesce fault needs 'ms', the window it gathers output in");
  }
  if (f.kind === 'split' && f.pieces !== undefined && (f.pieces < 2 || f.pieces > 64)) {
    throw new FaultSpecError("'pieces' must be from 2 to 64");
  }
  if (f.kind === 'io-error') {
    if (f.node === undefined || f.at === undefined) {
      throw new FaultSpecError("an io-error fault needs 'node' and 'at' (percent of the node)");
    }
    if (f.at > 99) throw new FaultSpecError("'at' is a percentage from 0 to 99");
    if (f.errno !== undefined && f.errno !== 'ENOSPC' && f.errno !== 'EIO') {
      throw new FaultSpecError("'errno' is ENOSPC or EIO");
    }
    if (f.iotype !== undefined && f.iotype !== 'read' && f.iotype !== 'write') {
      throw new FaultSpecError("'iotype' is read or write");
    }
    if (f.count !== undefined && f.count !== 1) {
      throw new FaultSpecError('an io-error fails every request there, or once with count=1');
    }
    if (f.probability !== undefined) {
      throw new FaultSpecError('an io-error is certain: probability does not apply');
    }
  }
  if (f.kind === 'slow-progress') {
    if ((f.rate === undefined) === (f.percent === undefined)) {
      throw new FaultSpecError(
        "a slow-progress fault needs 'rate' (bytes per second) or 'percent'",
      );
    }
    if (f.percent !== undefined && (f.percent < 1 || f.percent > 99)) {
      throw new FaultSpecError("'percent' must be from 1 to 99");
    }
  }
  if (f.kind === 'drop') {
    const onJob = f.job !== undefined || f.status !== undefined;
    if (onJob === (f.command !== undefined)) {
      throw new FaultSpecError("a drop fault needs either 'command' or 'job' and 'status'");
    }
    if (onJob && (f.job === undefined || f.status === undefined)) {
      throw new FaultSpecError("a drop fault on a job needs both 'job' and 'status'");
    }
    if (f.status !== undefined && !JOB_STATUSES.includes(f.status)) {
      throw new FaultSpecError(`'status' must be a job status (${JOB_STATUSES.join(', ')})`);
    }
  }
}

/** Parses `--fault KIND[,key=value…]` (QEMU's option syntax; `,,` is a literal comma). */
export function parseFaultOption(
  text: string,
  split: (text: string) => [string, string | undefined][],
): FaultSpec {
  const [first, ...rest] = split(text);
  const input: Record<string, unknown> = {};
  if (first !== undefined) {
    const [key, value] = first;
    if (value === undefined) input.kind = key;
    else input[key] = value;
  }
  for (const [key, value] of rest) {
    if (value === undefined) throw new FaultSpecError(`'${key}' needs a value`);
    if (Object.hasOwn(input, key)) throw new FaultSpecError(`'${key}' given twice`);
    input[key] = (INTEGER_KEYS as readonly string[]).includes(key)
      ? toInteger(key, value)
      : (SIZE_KEYS as readonly string[]).includes(key)
        ? toSize(key, value)
        : key === 'probability'
          ? toNumber(key, value)
          : value;
  }
  return checkFault(input);
}

function toInteger(key: string, value: string): number {
  if (!/^\d+$/.test(value)) throw new FaultSpecError(`'${key}' must be a whole number`);
  return Number(value);
}

function toSize(key: string, value: string): number {
  const bytes = parseQemuSize(value);
  if (bytes === undefined || bytes > BigInt(MAX_RATE)) {
    throw new FaultSpecError(`'${key}' must be a size in bytes (suffixes k, M, G, T allowed)`);
  }
  return Number(bytes);
}

function toNumber(key: string, value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value)) throw new FaultSpecError(`'${key}' must be a number`);
  return Number(value);
}

/** Parses a `--faults FILE` text: `{"seed": N?, "faults": [ … ]}`. */
export function parseFaultFile(text: string): FaultFile {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new FaultSpecError(`not JSON: ${(error as Error).message}`);
  }
  if (!isObject(value)) {
    throw new FaultSpecError('expected an object {"seed": N, "faults": [...]}');
  }
  const file = value;
  for (const key of Object.keys(file)) {
    if (key !== 'seed' && key !== 'faults') throw new FaultSpecError(`unknown member '${key}'`);
  }
  const seed = file.seed === undefined ? undefined : checkSeed(file.seed);
  if (!Array.isArray(file.faults)) throw new FaultSpecError('"faults" must be an array');
  if (file.faults.length > MAX_FAULTS) {
    throw new FaultSpecError(`at most ${MAX_FAULTS} faults`);
  }
  return {
    ...(seed === undefined ? {} : { seed }),
    faults: file.faults.map((f, i) => {
      try {
        return checkFault(f);
      } catch (error) {
        throw new FaultSpecError(`faults[${i}]: ${(error as Error).message}`);
      }
    }),
  };
}

/** A plan holds at most this many faults (a bound on what a client can add at run time). */
export const MAX_FAULTS = 256;

/** Seeds are unsigned 32-bit integers. */
export function checkSeed(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new FaultSpecError('the seed must be a whole number from 0 to 4294967295');
  }
  return value;
}

/** A fault in the syntax of `--fault`, for messages and logs. */
export function describeFault(f: FaultSpec): string {
  const parts: string[] = [f.kind];
  for (const [key, value] of Object.entries(f)) if (key !== 'kind') parts.push(`${key}=${value}`);
  return parts.join(',');
}

// ---- the x-qmpkit-fault command in the schema ---------------------------------------------

export const FAULT_COMMAND = 'x-qmpkit-fault';
const FAULT_ARGS = 'q_obj_x-qmpkit-fault-arg';
const FAULT_KIND_ENUM = 'QmpkitFaultKind';

/**
 * The command's schema entries. Its arguments are one fault (`kind` and its parameters) to add,
 * or `clear: true` to remove every fault; it returns the plan (seed, faults, what fired).
 */
const faultSchemaEntries: readonly IntrospectionEntry[] = [
  { name: FAULT_COMMAND, 'meta-type': 'command', 'arg-type': FAULT_ARGS, 'ret-type': 'any' },
  {
    name: FAULT_ARGS,
    'meta-type': 'object',
    members: [
      { name: 'kind', type: FAULT_KIND_ENUM, default: null },
      { name: 'command', type: 'str', default: null },
      { name: 'job', type: 'str', default: null },
      { name: 'status', type: 'str', default: null },
      { name: 'ms', type: 'int', default: null },
      { name: 'jitter', type: 'int', default: null },
      { name: 'pieces', type: 'int', default: null },
      { name: 'probability', type: 'number', default: null },
      { name: 'count', type: 'int', default: null },
      { name: 'node', type: 'str', default: null },
      { name: 'at', type: 'int', default: null },
      { name: 'errno', type: 'str', default: null },
      { name: 'iotype', type: 'str', default: null },
      { name: 'rate', type: 'int', default: null },
      { name: 'percent', type: 'int', default: null },
      { name: 'clear', type: 'bool', default: null },
    ],
  },
  {
    name: FAULT_KIND_ENUM,
    'meta-type': 'enum',
    members: FAULT_KINDS.map((name) => ({ name })),
    values: [...FAULT_KINDS],
  },
];

/** `schema` with `x-qmpkit-fault` (and its argument and enum types) added. */
export function withFaultCommand(
  schema: readonly IntrospectionEntry[],
  extras: QmpSchemaExtras,
): { schema: IntrospectionEntry[]; schemaExtras: QmpSchemaExtras } {
  if (schema.some((e) => e.name === FAULT_COMMAND)) {
    return { schema: [...schema], schemaExtras: extras };
  }
  return {
    schema: [...schema, ...faultSchemaEntries],
    schemaExtras: {
      ...extras,
      typeNames: {
        ...extras.typeNames,
        [FAULT_ARGS]: FAULT_ARGS,
        [FAULT_KIND_ENUM]: FAULT_KIND_ENUM,
      },
    },
  };
}
