/**
 * Normalizing QMP transcripts: two sessions that behaved the same give the same normalized
 * lines, whichever server (QEMU, a replay, qmpkit-server) and whenever they ran. This is what
 * turns a recording of one's own QEMU into a regression fixture. Each rule replaces a value that
 * legitimately differs between runs, and can be turned off:
 *
 * - `timestamps`: an event's `timestamp` → `"<timestamp>"` (the host's wall clock);
 * - `version`: `package` and `qemu.micro` of the greeting's version and of a `query-version`
 *   return → `"<package>"`/`"<micro>"` (a distribution's build string and stable release);
 * - `ids`: command and reply `id`s → `"<id 1>"`, `"<id 2>"`, … numbered by first appearance, so
 *   which reply answers which command still shows (clients choose ids freely);
 * - `progress`: job progress (`current-progress`/`total-progress` of `query-jobs`,
 *   `offset`/`len` of `query-block-jobs` and of the `BLOCK_JOB_*` events) → `"<progress>"`
 *   (how far a job got when it was polled or cancelled depends on timing);
 * - `tempDirs`: every occurrence of one of these directories inside a string → `"<tmp>"` (error
 *   messages and `filename`s quote per-run temporary paths).
 *
 * Object keys are sorted in the canonical text: QEMU prints hash-bucket order, and equality is
 * about parsed JSON.
 */
import { encodeJson } from '../json/encode.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../json/value.js';
import type { RecordDirection } from './recording.js';

export interface NormalizeOptions {
  /** Event timestamps. Default true. */
  readonly timestamps?: boolean | undefined;
  /** Version `package` and `qemu.micro` (greeting, `query-version`). Default true. */
  readonly version?: boolean | undefined;
  /** Command/reply ids, numbered by first appearance. Default false. */
  readonly ids?: boolean | undefined;
  /** Job progress values. Default false. */
  readonly progress?: boolean | undefined;
  /** Directories replaced by `<tmp>` wherever a string contains them. Default none. */
  readonly tempDirs?: readonly string[] | undefined;
}

/** JSON text with object keys sorted (bigint-safe), so that member order does not matter. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isJsonObject(value)) {
    const members = Object.keys(value)
      .sort()
      .map((k) => `${encodeJson(k)}:${canonicalJson(value[k])}`);
    return `{${members.join(',')}}`;
  }
  return value === undefined ? 'undefined' : encodeJson(value);
}

const PROGRESS = '<progress>';

/** `{"qemu": {…, "micro"}, "package"}` with package and micro masked. */
function maskVersion(version: JsonValue | undefined): JsonValue | undefined {
  if (!isJsonObject(version) || !isJsonObject(version.qemu) || !Object.hasOwn(version, 'package')) {
    return version;
  }
  if (Object.keys(version).length !== 2) return version;
  return { ...version, package: '<package>', qemu: { ...version.qemu, micro: '<micro>' } };
}

/** A copy of `object` with `keys` replaced where present (own members only). */
function replaceMembers(object: JsonObject, keys: readonly string[], value: string): JsonObject {
  const out = Object.fromEntries(Object.entries(object));
  for (const key of keys) if (Object.hasOwn(out, key)) out[key] = value;
  return out;
}

/** A `query-block-jobs` entry: `{type, device, len, offset, …}`. */
function isBlockJobInfo(value: JsonValue): value is JsonObject {
  return (
    isJsonObject(value) &&
    typeof value.device === 'string' &&
    typeof value.type === 'string' &&
    Object.hasOwn(value, 'offset')
  );
}

function maskProgressInReturn(value: JsonValue): JsonValue {
  if (!Array.isArray(value)) return value;
  return value.map((item) => {
    if (!isJsonObject(item)) return item;
    if (isBlockJobInfo(item)) return replaceMembers(item, ['offset', 'len'], PROGRESS);
    if (Object.hasOwn(item, 'current-progress')) {
      return replaceMembers(item, ['current-progress', 'total-progress'], PROGRESS);
    }
    return item;
  });
}

function replaceInStrings(value: JsonValue, dirs: readonly string[]): JsonValue {
  if (typeof value === 'string') {
    let text = value;
    for (const dir of dirs) text = text.split(dir).join('<tmp>');
    return text;
  }
  if (Array.isArray(value)) return value.map((v) => replaceInStrings(v, dirs));
  if (isJsonObject(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, replaceInStrings(v, dirs)]),
    );
  }
  return value;
}

/**
 * A normalizer for one session: `normalize(msg)` for each message in order (ids are numbered
 * across the session). Messages that are not objects come back unchanged.
 */
export function createNormalizer(options: NormalizeOptions = {}): (msg: JsonValue) => JsonValue {
  const ids = new Map<string, number>();
  // Longest first, so that a directory inside another one is not cut in half.
  const dirs = [...(options.tempDirs ?? [])]
    .filter((d) => d !== '')
    .sort((a, b) => b.length - a.length);
  return (msg) => {
    if (!isJsonObject(msg)) return msg;
    let out: JsonObject = Object.fromEntries(Object.entries(msg));
    if (options.timestamps !== false && isJsonObject(out.timestamp)) out.timestamp = '<timestamp>';
    if (options.version !== false) {
      if (isJsonObject(out.QMP) && Object.hasOwn(out.QMP, 'version')) {
        out.QMP = { ...out.QMP, version: maskVersion(out.QMP.version) ?? null };
      }
      if (Object.hasOwn(out, 'return')) out.return = maskVersion(out.return) ?? null;
    }
    if (options.ids === true && Object.hasOwn(out, 'id')) {
      const key = canonicalJson(out.id);
      if (!ids.has(key)) ids.set(key, ids.size + 1);
      out.id = `<id ${ids.get(key)}>`;
    }
    if (options.progress === true) {
      if (Object.hasOwn(out, 'return')) out.return = maskProgressInReturn(out.return as JsonValue);
      const event = out.event;
      if (typeof event === 'string' && event.startsWith('BLOCK_JOB_') && isJsonObject(out.data)) {
        out.data = replaceMembers(out.data, ['offset', 'len'], PROGRESS);
      }
    }
    if (dirs.length > 0) out = replaceInStrings(out, dirs) as JsonObject;
    return out;
  };
}

/** `→ {…}` for a message to the server, `← {…}` for one from it. */
export function transcriptLine(dir: RecordDirection, msg: JsonValue): string {
  return `${dir === 'in' ? '→' : '←'} ${canonicalJson(msg)}`;
}

/**
 * The normalized transcript of one session: a line per message, in order (see the module
 * comment for the rules and `NormalizeOptions` for the defaults).
 */
export function normalizeTranscript(
  messages: readonly { readonly dir: RecordDirection; readonly msg: JsonValue }[],
  options: NormalizeOptions = {},
): string[] {
  const normalize = createNormalizer(options);
  return messages.map(({ dir, msg }) => transcriptLine(dir, normalize(msg)));
}
