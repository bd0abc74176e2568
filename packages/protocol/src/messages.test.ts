import { describe, expect, test } from 'vitest';
import { JsonStreamer } from './json/streamer.js';
import type { JsonValue } from './json/value.js';
import {
  classifyServerMessage,
  isCommand,
  isErrorReply,
  isEvent,
  isGreeting,
  isOobCommand,
  isSuccessReply,
  makeEvent,
  timestampFromMillis,
} from './messages.js';

/** Decodes QEMU's bytes as a client would. */
const decode = (text: string): JsonValue => {
  const [item] = new JsonStreamer().feed(text);
  if (item?.kind !== 'value') throw new Error(`not a value: ${text}`);
  return item.value;
};

// Real QEMU 7.2 output, from the reference (§2, §5, §9).
const GREETING =
  '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}}\r\n';
const EVENT =
  '{"timestamp": {"seconds": 1795610564, "microseconds": 993065}, "event": "SHUTDOWN", "data": {"guest": false, "reason": "host-qmp-quit"}}\r\n';

describe('classifyServerMessage', () => {
  test("sorts QEMU's messages", () => {
    expect(classifyServerMessage(decode(GREETING)).kind).toBe('greeting');
    expect(classifyServerMessage(decode(EVENT))).toMatchObject({
      kind: 'event',
      message: { event: 'SHUTDOWN', data: { guest: false, reason: 'host-qmp-quit' } },
    });
    expect(classifyServerMessage(decode('{"return": {}, "id": 1}'))).toEqual({
      kind: 'return',
      message: { return: {}, id: 1 },
      id: 1,
    });
    expect(classifyServerMessage(decode('{"return": {}}'))).toMatchObject({
      kind: 'return',
      id: undefined,
    });
    expect(
      classifyServerMessage(
        decode(
          '{"id": "x", "error": {"class": "CommandNotFound", "desc": "The command foo has not been found"}}',
        ),
      ),
    ).toMatchObject({ kind: 'error', id: 'x', message: { error: { class: 'CommandNotFound' } } });
  });

  test('anything else is unknown', () => {
    for (const text of [
      '[]',
      '1 ',
      '{"QMP": {}}',
      '{"error": "x"}',
      '{"event": "X"}',
      '{"event": "X", "timestamp": {"seconds": 1.5, "microseconds": 0}}',
      '{"event": "X", "timestamp": {"seconds": 1, "microseconds": 0}, "data": []}',
    ]) {
      expect([text, classifyServerMessage(decode(text)).kind]).toEqual([text, 'unknown']);
    }
  });
});

describe('guards', () => {
  test('greeting', () => {
    expect(isGreeting(decode(GREETING))).toBe(true);
    expect(
      isGreeting(
        decode('{"QMP": {"version": {"qemu": {"major": 7}, "package": ""}, "capabilities": []}}'),
      ),
    ).toBe(false);
  });
  test('replies, events, commands', () => {
    expect(isSuccessReply({ return: null })).toBe(true);
    expect(isErrorReply({ error: { class: 'GenericError', desc: 'x' }, id: null })).toBe(true);
    expect(isErrorReply({ error: { class: 'GenericError' } })).toBe(false);
    expect(isEvent(decode(EVENT))).toBe(true);
    expect(isCommand({ execute: 'query-jobs' })).toBe(true);
    expect(isCommand({ execute: 1 })).toBe(false);
    expect(isOobCommand({ 'exec-oob': 'yank' })).toBe(true);
  });
});

describe('timestamps', () => {
  test('milliseconds to seconds + microseconds', () => {
    expect(timestampFromMillis(1795610564993.065)).toEqual({
      seconds: 1795610564,
      microseconds: 993065,
    });
    expect(timestampFromMillis(0)).toEqual({ seconds: 0, microseconds: 0 });
  });
  test('events without data have no data member', () => {
    expect(Object.keys(makeEvent('STOP', undefined, { seconds: 1, microseconds: 2 }))).toEqual([
      'timestamp',
      'event',
    ]);
  });
});
