import { describe, expect, test } from 'vitest';
import { makeErrorReply, makeEvent, makeGreeting, makeSuccess } from '../messages.js';
import { encodeJson } from './encode.js';
import { formatDoubleLikeC, qemuKeyBucket, qemuMemberOrder } from './qemu-format.js';
import { JsonStreamer } from './streamer.js';
import { JsonFloat } from './value.js';

const qemu = { style: 'qemu', memberOrder: 'qemu' } as const;

/** What a QEMU-imitating server echoes for an id written as `text` (decode, then encode). */
function echo(text: string): string {
  const [item] = new JsonStreamer({ mode: 'qemu-input', markFloats: true }).feed(`${text} `);
  if (item?.kind !== 'value') throw new Error(`no value for ${text}`);
  return encodeJson(item.value, qemu);
}

describe("QEMU's output format (reference §1.5)", () => {
  test('string escapes: quotes, backslash, the five short escapes, \\u00XX upper case, / unescaped', () => {
    expect(encodeJson('"\\\b\f\n\r\t/', qemu)).toBe('"\\"\\\\\\b\\f\\n\\r\\t/"');
    expect(encodeJson('\u0001\u001f\u007f\u0000', qemu)).toBe('"\\u0001\\u001F\\u007F\\u0000"');
  });

  test('every non-ASCII character is escaped; above U+FFFF as a surrogate pair', () => {
    expect(encodeJson('é😀', qemu)).toBe('"\\u00E9\\uD83D\\uDE00"');
  });

  test.each([
    ['1', '1'],
    ['-5', '-5'],
    ['9223372036854775807', '9223372036854775807'],
    ['-9223372036854775808', '-9223372036854775808'],
    ['18446744073709551615', '18446744073709551615'],
    ['18446744073709551616', '1.8446744073709552e+19'],
    ['123456789012345678901234567890', '1.2345678901234568e+29'],
    ['-9223372036854775809', '-9.2233720368547758e+18'],
    ['-0', '0'],
    ['1.0', '1'],
    ['0.1e1', '1'],
    ['1e3', '1000'],
    ['1E+2', '100'],
    ['0.1', '0.10000000000000001'],
    ['1.5e308', '1.5e+308'],
    ['-0.0', '-0'],
    ['-1e-400', '-0'],
    ['1e309', 'inf'],
  ])('a number written %s is echoed as %s', (input, output) => {
    expect(echo(input)).toBe(output);
  });

  test('strings are re-escaped on echo: raw é, \\u00e9 and single quotes', () => {
    expect(echo('"\\u00e9"')).toBe('"\\u00E9"');
    expect(echo('"é"')).toBe('"\\u00E9"');
    expect(echo("'single'")).toBe('"single"');
  });

  test('the buckets of the keys that matter most', () => {
    const table: [string, number][] = [
      ['timestamp', 26],
      ['seconds', 5],
      ['microseconds', 374],
      ['event', 361],
      ['data', 505],
      ['QMP', 99],
      ['version', 184],
      ['capabilities', 216],
      ['qemu', 232],
      ['package', 326],
      ['minor', 225],
      ['micro', 225],
      ['major', 481],
      ['return', 401],
      ['id', 486],
      ['error', 489],
      ['class', 211],
      ['desc', 377],
    ];
    for (const [key, bucket] of table) expect([key, qemuKeyBucket(key)]).toEqual([key, bucket]);
    expect(qemuMemberOrder(['execute', 'exec-oob'])).toEqual(['exec-oob', 'execute']);
    expect(qemuMemberOrder(['exec-oob', 'execute'])).toEqual(['exec-oob', 'execute']);
  });

  test('an echoed object is re-ordered', () => {
    expect(echo('{"b":1,"a":[null]}')).toBe('{"a": [null], "b": 1}');
  });

  test('the greeting, byte for byte', () => {
    // Built in schema order (major, minor, micro) and printed in hash order.
    const version = {
      qemu: { major: 7, minor: 2, micro: 22 },
      package: 'Debian 1:7.2+dfsg-7+deb12u18+b3',
    };
    expect(`${encodeJson(makeGreeting(version, ['oob']), qemu)}\r\n`).toBe(
      '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}}\r\n',
    );
  });

  test('replies and events in QEMU member order, with or without hash ordering', () => {
    for (const options of [qemu, { style: 'qemu' } as const]) {
      expect(encodeJson(makeSuccess({}, 1), options)).toBe('{"return": {}, "id": 1}');
      expect(encodeJson(makeErrorReply('GenericError', 'x', 'a'), options)).toBe(
        '{"id": "a", "error": {"class": "GenericError", "desc": "x"}}',
      );
      expect(
        encodeJson(
          makeEvent(
            'SHUTDOWN',
            { guest: false, reason: 'host-qmp-quit' },
            { seconds: 1795610564, microseconds: 993065 },
          ),
          options,
        ),
      ).toBe(
        '{"timestamp": {"seconds": 1795610564, "microseconds": 993065}, "event": "SHUTDOWN", "data": {"guest": false, "reason": "host-qmp-quit"}}',
      );
    }
  });

  test('%.17g formatting of doubles', () => {
    expect(formatDoubleLikeC(0.5)).toBe('0.5');
    expect(formatDoubleLikeC(1e-5)).toBe('1.0000000000000001e-05');
    expect(formatDoubleLikeC(0.0001)).toBe('0.0001');
    expect(formatDoubleLikeC(1e16)).toBe('10000000000000000');
    expect(formatDoubleLikeC(1e17)).toBe('1e+17');
    expect(formatDoubleLikeC(-2.5)).toBe('-2.5');
    expect(formatDoubleLikeC(Number.NaN)).toBe('nan');
    expect(formatDoubleLikeC(Number.NEGATIVE_INFINITY)).toBe('-inf');
  });
});

describe('compact style', () => {
  test('is JSON.stringify without spaces for ordinary values, undefined members dropped', () => {
    const value = { a: [1, 'x', null, true], b: { c: -2.5, 'é/"': '\u0001' }, d: undefined };
    expect(encodeJson(value)).toBe(JSON.stringify(value));
    expect(encodeJson([undefined])).toBe('[null]');
  });

  test('bigints are written as their digits; integers never use exponent notation', () => {
    expect(encodeJson({ x: 18446744073709551615n, y: -9223372036854775808n })).toBe(
      '{"x":18446744073709551615,"y":-9223372036854775808}',
    );
    expect(encodeJson(1e21)).toBe('1000000000000000000000');
    expect(encodeJson(2 ** 64)).toBe('18446744073709551616');
    expect(encodeJson(new JsonFloat(2))).toBe('2');
  });

  test('refuses what JSON cannot hold', () => {
    expect(() => encodeJson(Number.NaN)).toThrow(TypeError);
    expect(() => encodeJson({ f: () => 1 })).toThrow(TypeError);
    expect(() => encodeJson(undefined)).toThrow(TypeError);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => encodeJson(cycle)).toThrow(RangeError);
  });

  test('a "__proto__" own key is written like any other key', () => {
    const o = {};
    Object.defineProperty(o, '__proto__', { value: 1, enumerable: true });
    expect(encodeJson(o)).toBe('{"__proto__":1}');
  });
});

test('alternating options: each call writes as its own options ask', () => {
  const value = { b: [1, 'x'], a: null };
  for (let i = 0; i < 3; i++) {
    expect(encodeJson(value, qemu)).toBe('{"a": null, "b": [1, "x"]}');
    expect(encodeJson(value)).toBe('{"b":[1,"x"],"a":null}');
    expect(encodeJson(value, { style: 'qemu' })).toBe('{"b": [1, "x"], "a": null}');
    expect(() => encodeJson([[1]], { maxDepth: 1 })).toThrow(RangeError);
    expect(encodeJson([[1]])).toBe('[[1]]');
  }
});
