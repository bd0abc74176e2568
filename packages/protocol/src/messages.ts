/**
 * QMP message shapes (reference §2–§5, §9), type guards, a classifier for what a server sends,
 * and constructors. The constructors insert members in the order QEMU inserts them, which is
 * what the encoder's `memberOrder: 'qemu'` needs to reproduce QEMU's bytes; for replies and
 * events that order is also QEMU's printed order (`return` before `id`, `id` before `error`,
 * `timestamp` before `event` before `data`).
 */
import type { QapiErrorClass } from './errors.js';
import { isJsonObject, type JsonObject, type JsonValue } from './json/value.js';

/** The `qemu` member of a version: `{"micro", "minor", "major"}` in QEMU's order. */
export interface QmpVersionTriple {
  major: number;
  minor: number;
  micro: number;
}

/** QEMU's version as in the greeting and in `query-version`'s return value. */
export interface QmpVersion {
  qemu: QmpVersionTriple;
  package: string;
}

/** A capability a server can offer in its greeting; QEMU 7.2 knows only `oob`. */
export type QmpCapability = 'oob' | (string & {});

/** The greeting a server sends as soon as a client connects. */
export interface QmpGreeting {
  QMP: {
    version: QmpVersion;
    capabilities: QmpCapability[];
  };
}

/** Any command id: QMP allows any JSON value, echoed back in the reply. */
export type QmpId = JsonValue;

/** An in-band command. */
export interface QmpCommand<Name extends string = string, Args = JsonObject> {
  execute: Name;
  arguments?: Args | undefined;
  id?: QmpId | undefined;
}

/** An out-of-band command (only valid once `oob` was negotiated). */
export interface QmpOobCommand<Name extends string = string, Args = JsonObject> {
  'exec-oob': Name;
  arguments?: Args | undefined;
  id?: QmpId | undefined;
}

/** A successful reply. */
export interface QmpSuccess<Return = JsonValue> {
  return: Return;
  id?: QmpId | undefined;
}

/** The `error` member of an error reply. */
export interface QmpErrorBody {
  class: QapiErrorClass | (string & {});
  desc: string;
}

/** An error reply. */
export interface QmpErrorReply {
  error: QmpErrorBody;
  id?: QmpId | undefined;
}

/** Either reply. */
export type QmpReply<Return = JsonValue> = QmpSuccess<Return> | QmpErrorReply;

/** When an event was raised: host wall-clock time (both −1 if the clock failed). */
export interface QmpTimestamp {
  seconds: number;
  microseconds: number;
}

/** An asynchronous event. */
export interface QmpEvent<Name extends string = string, Data = JsonObject> {
  event: Name;
  data?: Data | undefined;
  timestamp: QmpTimestamp;
}

/** Anything a QMP server sends. */
export type QmpServerMessage = QmpGreeting | QmpReply | QmpEvent;

/** Anything a QMP client sends. */
export type QmpClientMessage = QmpCommand | QmpOobCommand;

// ---------------------------------------------------------------------------------------------
// Guards (shape checks of decoded JSON; extra members are tolerated for forward compatibility)
// ---------------------------------------------------------------------------------------------

function isInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value);
}

/** A well-formed greeting: `QMP.version.qemu.{major,minor,micro}` integers, `package` string, `capabilities` strings. */
export function isGreeting(value: unknown): value is QmpGreeting {
  if (!isJsonObject(value)) return false;
  const qmp = value.QMP;
  if (!isJsonObject(qmp)) return false;
  const version = qmp.version;
  if (!isJsonObject(version) || typeof version.package !== 'string') return false;
  const triple = version.qemu;
  if (!isJsonObject(triple)) return false;
  if (!isInteger(triple.major) || !isInteger(triple.minor) || !isInteger(triple.micro)) {
    return false;
  }
  const caps = qmp.capabilities;
  return Array.isArray(caps) && caps.every((c) => typeof c === 'string');
}

/** A success reply: has `return`, no `error`/`event`. */
export function isSuccessReply(value: unknown): value is QmpSuccess {
  return (
    isJsonObject(value) &&
    Object.hasOwn(value, 'return') &&
    !Object.hasOwn(value, 'error') &&
    !Object.hasOwn(value, 'event')
  );
}

/** An error reply: `error` is an object with string `class` and `desc`. */
export function isErrorReply(value: unknown): value is QmpErrorReply {
  if (!isJsonObject(value) || Object.hasOwn(value, 'return')) return false;
  const error = value.error;
  return isJsonObject(error) && typeof error.class === 'string' && typeof error.desc === 'string';
}

/** Either reply. */
export function isReply(value: unknown): value is QmpReply {
  return isSuccessReply(value) || isErrorReply(value);
}

/** An event: string `event`, `timestamp` with integer `seconds`/`microseconds`, optional object `data`. */
export function isEvent(value: unknown): value is QmpEvent {
  if (!isJsonObject(value) || typeof value.event !== 'string') return false;
  const ts = value.timestamp;
  if (!isJsonObject(ts) || !isInteger(ts.seconds) || !isInteger(ts.microseconds)) return false;
  return !Object.hasOwn(value, 'data') || isJsonObject(value.data);
}

/** An in-band command: string `execute`. (Full §4.1 validation is the server's job.) */
export function isCommand(value: unknown): value is QmpCommand {
  return isJsonObject(value) && typeof value.execute === 'string';
}

/** An out-of-band command: string `exec-oob`. */
export function isOobCommand(value: unknown): value is QmpOobCommand {
  return isJsonObject(value) && typeof value['exec-oob'] === 'string';
}

/** What `classifyServerMessage` found. */
export type ClassifiedServerMessage =
  | { kind: 'greeting'; message: QmpGreeting }
  | { kind: 'return'; message: QmpSuccess; id: QmpId | undefined }
  | { kind: 'error'; message: QmpErrorReply; id: QmpId | undefined }
  | { kind: 'event'; message: QmpEvent }
  | { kind: 'unknown'; message: JsonValue };

/**
 * Sorts a decoded message from a server into greeting / success / error / event, or
 * `unknown` for anything else (which a client should report as an `unexpected-message`
 * ProtocolError rather than crash on).
 */
export function classifyServerMessage(value: JsonValue): ClassifiedServerMessage {
  if (isSuccessReply(value)) return { kind: 'return', message: value, id: value.id };
  if (isErrorReply(value)) return { kind: 'error', message: value, id: value.id };
  if (isEvent(value)) return { kind: 'event', message: value };
  if (isGreeting(value)) return { kind: 'greeting', message: value };
  return { kind: 'unknown', message: value };
}

// ---------------------------------------------------------------------------------------------
// Constructors, in QEMU's member order
// ---------------------------------------------------------------------------------------------

/**
 * `{"QMP": {"version": {"qemu": {major, minor, micro}, "package"}, "capabilities"}}`, members
 * inserted in QEMU's (schema) order, so `memberOrder: 'qemu'` prints QEMU's exact bytes.
 */
export function makeGreeting(
  version: QmpVersion,
  capabilities: readonly QmpCapability[],
): QmpGreeting {
  return {
    QMP: {
      version: {
        // Schema order, as QEMU inserts them; its hash order then prints micro, minor, major.
        qemu: {
          major: version.qemu.major,
          minor: version.qemu.minor,
          micro: version.qemu.micro,
        },
        package: version.package,
      },
      capabilities: [...capabilities],
    },
  };
}

/** `{"return": value, "id": id}` (no `id` member when `id` is undefined). */
export function makeSuccess<R extends JsonValue>(value: R, id?: QmpId): QmpSuccess<R> {
  return id === undefined ? { return: value } : { return: value, id };
}

/** `{"id": id, "error": {"class", "desc"}}` (no `id` member when `id` is undefined). */
export function makeErrorReply(
  errorClass: QapiErrorClass,
  desc: string,
  id?: QmpId,
): QmpErrorReply {
  const error = { class: errorClass, desc };
  return id === undefined ? { error } : { id, error };
}

/** `{"timestamp": {"seconds", "microseconds"}, "event", "data"}` (no `data` when undefined). */
export function makeEvent<N extends string, D extends JsonObject>(
  event: N,
  data: D | undefined,
  timestamp: QmpTimestamp,
): QmpEvent<N, D> {
  const ts = { seconds: timestamp.seconds, microseconds: timestamp.microseconds };
  return data === undefined ? { timestamp: ts, event } : { timestamp: ts, event, data };
}

/** A QMP timestamp for a time in milliseconds since the epoch (e.g. `Date.now()`). */
export function timestampFromMillis(ms: number): QmpTimestamp {
  const totalMicros = Math.round(ms * 1000);
  const seconds = Math.floor(totalMicros / 1_000_000);
  return { seconds, microseconds: totalMicros - seconds * 1_000_000 };
}
