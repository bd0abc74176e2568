/**
 * The session recording format written by `qmpkit record` and replayed by
 * `qmpkit-server --replay` (format version 1). A recording is UTF-8 text, one JSON object per
 * line (JSON Lines):
 *
 * - line 1, the header: `{"format": "qmpkit-recording", "version": 1, "started": ISO-8601,
 *   "upstream": "...", "listen": "..."}`;
 * - then, in the order the proxy saw them, one line per event of a client connection `conn`
 *   (1, 2, … in the order clients connected), `t` nanoseconds after the recording started
 *   (a monotonic clock):
 *   - `{"t", "conn", "state": "open", "peer"}`: a client connected (and the proxy to QEMU);
 *   - `{"t", "conn", "dir": "in", "msg"}`: a message from the client to QEMU;
 *   - `{"t", "conn", "dir": "out", "msg"}`: a message from QEMU to the client;
 *   - `{"t", "conn", "dir": "in"|"out", "error", "raw"}`: input that is not JSON (`error` is
 *     the parser's desc, QEMU's wording);
 *   - `{"t", "conn", "dir": "in"|"out", "raw"}`: bytes after the last message of a stream (say,
 *     the LF of a CR LF that came in a later chunk than the message);
 *   - `{"t", "conn", "state": "closed", "by": "client"|"server"|"proxy"}`: the side that closed
 *     first (`proxy`: the recorder was stopped).
 *
 * A message line carries `raw`, the exact text of the message on the wire (with the white space
 * that followed it up to its end of line), whenever that text differs from the canonical
 * encoding of `msg` (`canonicalWireText`): QEMU's own output format (members in the order they
 * came) plus CR LF from the server, compact JSON plus LF from the client. So a recording is readable, and still exact to the byte.
 * Integers beyond 2^53 are written as digits and read back as `bigint`.
 */
import { ProtocolError } from '../errors.js';
import { encodeJson } from '../json/encode.js';
import { JsonStreamer } from '../json/streamer.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../json/value.js';

/** The `format` of the header line. */
export const RECORDING_FORMAT = 'qmpkit-recording';
/** The format version this module writes and reads. */
export const RECORDING_VERSION = 1;

/** A message's direction: `in` from the client to the server, `out` from the server. */
export type RecordDirection = 'in' | 'out';

/** The first line of a recording. */
export interface RecordingHeader {
  readonly format: typeof RECORDING_FORMAT;
  readonly version: number;
  /** Wall-clock start, ISO 8601. */
  readonly started: string;
  /** The server the proxy connected to (`unix:PATH` or `tcp:HOST:PORT`). */
  readonly upstream?: string | undefined;
  /** Where the proxy listened. */
  readonly listen?: string | undefined;
}

/** One line after the header. */
export type RecordEntry =
  | {
      readonly t: number;
      readonly conn: number;
      readonly dir: RecordDirection;
      readonly msg: JsonValue;
      /** The exact wire text, when it is not `canonicalWireText(dir, msg)`. */
      readonly raw?: string | undefined;
    }
  | {
      readonly t: number;
      readonly conn: number;
      readonly dir: RecordDirection;
      /** The parser's error description for input that is not JSON. */
      readonly error: string;
      readonly raw: string;
    }
  | {
      readonly t: number;
      readonly conn: number;
      readonly dir: RecordDirection;
      readonly raw: string;
    }
  | { readonly t: number; readonly conn: number; readonly state: 'open'; readonly peer?: string }
  | {
      readonly t: number;
      readonly conn: number;
      readonly state: 'closed';
      readonly by: 'client' | 'server' | 'proxy';
    };

/** A message line (`dir` and `msg`). */
export type RecordMessage = Extract<RecordEntry, { msg: JsonValue }>;

/** True for a line carrying a message. */
export function isRecordMessage(entry: RecordEntry): entry is RecordMessage {
  return 'msg' in entry;
}

/** A parsed recording. */
export interface Recording {
  readonly header: RecordingHeader;
  readonly entries: readonly RecordEntry[];
}

/**
 * How `msg` looks on the wire when written the usual way: QEMU's output format and CR LF for
 * `out` (members in the object's own order, which is the order they were read in), compact JSON
 * and LF for `in`.
 */
export function canonicalWireText(dir: RecordDirection, msg: JsonValue): string {
  return dir === 'out' ? `${encodeJson(msg, { style: 'qemu' })}\r\n` : `${encodeJson(msg)}\n`;
}

/** The exact wire text of a message line. */
export function wireText(entry: RecordMessage): string {
  return entry.raw ?? canonicalWireText(entry.dir, entry.msg);
}

/** The header line (with its LF). */
export function formatRecordingHeader(header: Omit<RecordingHeader, 'format' | 'version'>): string {
  return `${encodeJson({ format: RECORDING_FORMAT, version: RECORDING_VERSION, ...header })}\n`;
}

/**
 * The line (with its LF) for a message seen on the wire as `raw`; `raw` is kept only when it
 * differs from the canonical text.
 */
export function formatMessageLine(
  t: number,
  conn: number,
  dir: RecordDirection,
  msg: JsonValue,
  raw: string,
): string {
  const line: Record<string, unknown> = { t, conn, dir, msg };
  if (raw !== canonicalWireText(dir, msg)) line.raw = raw;
  return `${encodeJson(line)}\n`;
}

/** Any other line (an input error, a connection opening or closing), with its LF. */
export function formatEntryLine(entry: Exclude<RecordEntry, RecordMessage>): string {
  return `${encodeJson(entry)}\n`;
}

function fail(line: number, why: string): never {
  throw new ProtocolError('parse', `recording line ${line}: ${why}`);
}

function field(object: JsonObject, key: string): JsonValue | undefined {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

function checkEntry(value: JsonObject, line: number): RecordEntry {
  const t = field(value, 't');
  const conn = field(value, 'conn');
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 0) fail(line, '"t" is not a time');
  if (typeof conn !== 'number' || !Number.isInteger(conn) || conn < 1) {
    fail(line, '"conn" is not a connection number');
  }
  const state = field(value, 'state');
  if (state === 'open') {
    const peer = field(value, 'peer');
    return typeof peer === 'string' ? { t, conn, state, peer } : { t, conn, state };
  }
  if (state === 'closed') {
    const by = field(value, 'by');
    if (by !== 'client' && by !== 'server' && by !== 'proxy') {
      fail(line, '"by" must be "client", "server" or "proxy"');
    }
    return { t, conn, state, by };
  }
  if (state !== undefined) fail(line, `unknown state ${encodeJson(state)}`);
  const dir = field(value, 'dir');
  if (dir !== 'in' && dir !== 'out') fail(line, '"dir" must be "in" or "out"');
  const raw = field(value, 'raw');
  if (raw !== undefined && typeof raw !== 'string') fail(line, '"raw" is not a string');
  const error = field(value, 'error');
  if (error !== undefined) {
    if (typeof error !== 'string' || raw === undefined) fail(line, 'an error line needs "raw"');
    return { t, conn, dir, error, raw };
  }
  if (!Object.hasOwn(value, 'msg')) {
    if (raw === undefined) fail(line, 'no "msg", "error", "raw" or "state"');
    return { t, conn, dir, raw };
  }
  const msg = value.msg as JsonValue;
  return raw === undefined ? { t, conn, dir, msg } : { t, conn, dir, msg, raw };
}

/**
 * Reads a recording (the whole file's text). Throws a `ProtocolError` naming the line of the
 * first problem: not JSON, an unknown format or a newer version, a malformed entry.
 */
export function parseRecording(text: string): Recording {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const values: JsonObject[] = [];
  lines.forEach((lineText, index) => {
    // A strict, bigint-safe reader: uint64 values in messages survive the round trip.
    const reader = new JsonStreamer({ mode: 'strict' });
    const items = [...reader.feed(lineText), ...reader.end()];
    const [first] = items;
    if (items.length !== 1 || first?.kind !== 'value' || !isJsonObject(first.value)) {
      fail(index + 1, first?.kind === 'error' ? first.error.message : 'not one JSON object');
    }
    values.push(first.value);
  });
  const [head, ...rest] = values;
  if (head === undefined) fail(1, 'empty file (no header)');
  if (field(head, 'format') !== RECORDING_FORMAT) {
    fail(1, `not a qmpkit recording (the header's "format" is not "${RECORDING_FORMAT}")`);
  }
  const version = field(head, 'version');
  if (version !== RECORDING_VERSION) {
    fail(1, `format version ${encodeJson(version ?? null)} (this reader knows version 1)`);
  }
  const started = field(head, 'started');
  const upstream = field(head, 'upstream');
  const listen = field(head, 'listen');
  const header: RecordingHeader = {
    format: RECORDING_FORMAT,
    version,
    started: typeof started === 'string' ? started : '',
    ...(typeof upstream === 'string' ? { upstream } : {}),
    ...(typeof listen === 'string' ? { listen } : {}),
  };
  return { header, entries: rest.map((value, index) => checkEntry(value, index + 2)) };
}
