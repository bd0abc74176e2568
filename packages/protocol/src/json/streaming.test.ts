import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { encodeJson } from './encode.js';
import { JsonStreamer, type JsonStreamerOptions, type JsonStreamItem } from './streamer.js';

const utf8 = (s: string) => new TextEncoder().encode(s);

function summary(items: JsonStreamItem[]): unknown[] {
  return items.map((i) => (i.kind === 'value' ? { value: i.value } : `error: ${i.error.message}`));
}

/** Reads `chunks` one after another through one streamer, then ends the input. */
function readChunks(chunks: Uint8Array[], options: JsonStreamerOptions = {}): unknown[] {
  const s = new JsonStreamer(options);
  const items: JsonStreamItem[] = [];
  for (const chunk of chunks) items.push(...s.feed(chunk));
  items.push(...s.end());
  return summary(items);
}

// A stream mixing the hard parts: multi-byte UTF-8 (2, 3 and 4 bytes), every escape, numbers of
// every shape, big integers, nesting, messages back to back with and without newlines.
const STREAM =
  '{"return": {"name": "disk-é中😀", "path": "/a\\/b\\\\c\\"d\\n\\t\\u00e9\\ud83d\\ude00", ' +
  '"size": 18446744073709551615, "offset": -9223372036854775808, "f": -1.5e-3, "z": 0, ' +
  '"list": [true, false, null, [], {}, [[1]], 12345]}, "id": "x"}\r\n' +
  '{"timestamp": {"seconds": 1795610564, "microseconds": 993065}, "event": "JOB_STATUS_CHANGE", "data": {"status": "running", "id": "job0"}}' +
  '{"return": {}, "id": 2}\n[1,2.5e10,"é"]"str"';

describe('input split anywhere', () => {
  for (const mode of ['strict', 'qemu-input'] as const) {
    const whole = utf8(STREAM);
    const expected = readChunks([whole], { mode });

    test(`${mode}: the reference reading yields every message`, () => {
      expect(expected).toHaveLength(5);
      expect(expected[0]).toEqual({
        value: {
          return: {
            name: 'disk-é中😀',
            path: '/a/b\\c"d\n\té😀',
            size: 18446744073709551615n,
            offset: -9223372036854775808n,
            f: -0.0015,
            z: 0,
            list: [true, false, null, [], {}, [[1]], 12345],
          },
          id: 'x',
        },
      });
      expect(expected[4]).toEqual({ value: 'str' });
    });

    test(`${mode}: split in two at every byte offset gives the same messages`, () => {
      for (let k = 0; k <= whole.length; k++) {
        expect(readChunks([whole.subarray(0, k), whole.subarray(k)], { mode })).toEqual(expected);
      }
    });

    test(`${mode}: byte by byte gives the same messages`, () => {
      const chunks = Array.from(whole, (_, i) => whole.subarray(i, i + 1));
      expect(readChunks(chunks, { mode })).toEqual(expected);
    });

    test(`${mode}: random splits give the same messages`, () => {
      fc.assert(
        fc.property(
          fc.uniqueArray(fc.integer({ min: 1, max: whole.length - 1 }), { maxLength: 12 }),
          (cuts) => {
            const points = [0, ...cuts.sort((a, b) => a - b), whole.length];
            const chunks = points.slice(1).map((end, i) => whole.subarray(points[i], end));
            expect(readChunks(chunks, { mode })).toEqual(expected);
          },
        ),
        { numRuns: 200 },
      );
    });
  }

  test('errors are the same at every split too (QEMU dialect)', () => {
    const input = utf8('{"a": TRUE}\x01{"b": "\\q"}{"c": "é\n"}{"d": 1}');
    const expected = readChunks([input], { mode: 'qemu-input' });
    expect(expected).toEqual([
      "error: JSON parse error, stray 'T'",
      'error: JSON parse error, expecting value',
      "error: JSON parse error, stray '\u0001'",
      'error: JSON parse error, invalid escape sequence in string',
      "error: JSON parse error, stray '\"é\n'",
      'error: JSON parse error, expecting value',
      { value: { d: 1 } },
    ]);
    for (let k = 0; k <= input.length; k++) {
      expect(readChunks([input.subarray(0, k), input.subarray(k)], { mode: 'qemu-input' })).toEqual(
        expected,
      );
    }
  });
});

describe('strict mode', () => {
  test('agrees with JSON.parse on any JSON text (big integers compared by value)', () => {
    const normalise = (v: unknown): unknown =>
      typeof v === 'bigint'
        ? Number(v)
        : Array.isArray(v)
          ? v.map(normalise)
          : v !== null && typeof v === 'object'
            ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalise(x)]))
            : v;
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value);
        const items = new JsonStreamer().feed(`${text}\n`);
        expect(items).toHaveLength(1);
        const item = items[0]!;
        expect(item.kind).toBe('value');
        if (item.kind === 'value') expect(normalise(item.value)).toEqual(JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  test("refuses the QEMU extensions: single quotes and \\'", () => {
    // The stray quote, then recovery resumes at ':' (a message of its own), then 1, then '}'.
    expect(summary(new JsonStreamer().feed("{'a': 1}"))).toEqual([
      "error: JSON parse error, stray '''",
      'error: JSON parse error, expecting value',
      { value: 1 },
      'error: JSON parse error, expecting value',
    ]);
    expect(summary(new JsonStreamer().feed('{"a": "\\\'"}'))).toEqual([
      'error: JSON parse error, invalid escape sequence in string',
    ]);
  });

  test("accepts QEMU's non-finite number output (inf, -inf, nan), unless told not to", () => {
    const items = new JsonStreamer().feed('{"return": [inf, -inf, nan, -nan], "id": 1}');
    expect(summary(items)).toEqual([
      { value: { return: [Infinity, -Infinity, Number.NaN, Number.NaN], id: 1 } },
    ]);
    expect(summary(new JsonStreamer({ nonFinite: false }).feed('[inf]'))).toEqual([
      "error: JSON parse error, invalid keyword 'inf'",
    ]);
  });

  test('standard UTF-8: noncharacters and lone surrogate escapes pass, overlong C0 80 does not', () => {
    expect(summary(new JsonStreamer().feed('"\\uFFFF\\ud800"'))).toEqual([
      { value: '\uFFFF\ud800' },
    ]);
    expect(summary(new JsonStreamer().feed(new Uint8Array([0x22, 0xc0, 0x80, 0x22])))).toEqual([
      'error: JSON parse error, invalid UTF-8 sequence in string',
    ]);
  });
});

describe('integers', () => {
  test('safe integers are numbers; others are bigints, exact, and round-trip through the encoder', () => {
    const text =
      '[9007199254740991, -9007199254740991, 9007199254740992, 18446744073709551615, -9223372036854775808, 123456789012345678901234567890]';
    const [item] = new JsonStreamer().feed(text);
    expect(item).toEqual({
      kind: 'value',
      value: [
        9007199254740991,
        -9007199254740991,
        9007199254740992n,
        18446744073709551615n,
        -9223372036854775808n,
        123456789012345678901234567890n,
      ],
    });
    if (item?.kind === 'value')
      expect(encodeJson(item.value, { style: 'qemu' })).toBe(
        text.replace(', 123456789012345678901234567890', ', 1.2345678901234568e+29'),
      );
    if (item?.kind === 'value') expect(encodeJson(item.value)).toBe(text.replaceAll(', ', ','));
  });

  test('QEMU dialect: integers beyond 64 bits become doubles, as in QEMU', () => {
    expect(
      summary(new JsonStreamer({ mode: 'qemu-input' }).feed('[18446744073709551616]')),
    ).toEqual([{ value: [2 ** 64] }]);
  });
});

describe('"__proto__" keys', () => {
  test('are ordinary own properties; nothing is polluted', () => {
    const [item] = new JsonStreamer().feed('{"__proto__": {"polluted": true}, "constructor": 1}');
    if (item?.kind !== 'value') throw new Error('expected a value');
    const value = item.value as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(['__proto__', 'constructor']);
    expect(Object.getOwnPropertyDescriptor(value, '__proto__')?.value).toEqual({ polluted: true });
    expect((value as { polluted?: unknown }).polluted).toBeUndefined();
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });

  test('a duplicated "__proto__" key is a duplicate key', () => {
    expect(summary(new JsonStreamer().feed('{"__proto__": 1, "__proto__": 2}'))).toEqual([
      'error: JSON parse error, duplicate key',
    ]);
  });
});

describe('bounded input', () => {
  test('a message whose tokens reach maxMessageBytes is refused; later messages still parse', () => {
    const s = new JsonStreamer({ maxMessageBytes: 64 });
    const big = `{"return": [${Array(40).fill('1').join(',')}]}`;
    const items = summary(s.feed(`${big}\n{"return": {}, "id": 2}\n`));
    expect(items[0]).toBe('error: JSON token size limit exceeded');
    expect(items.at(-1)).toEqual({ value: { return: {}, id: 2 } });
    // The refused message never comes out whole.
    expect(
      items.some((i) => typeof i === 'object' && JSON.stringify(i).includes('"return":[')),
    ).toBe(false);
  });

  test('exactly at the limit: total token bytes limit − 1 pass, limit fails', () => {
    // Tokens of '{"a":"…"}' are {, "a", :, "…", } = 1 + 3 + 1 + (n + 2) + 1 bytes.
    const message = (n: number) => `{"a":"${'x'.repeat(n)}"}`;
    const limit = 100;
    const fits = limit - 1 - 8; // total 99
    expect(summary(new JsonStreamer({ maxMessageBytes: limit }).feed(message(fits)))).toEqual([
      { value: { a: 'x'.repeat(fits) } },
    ]);
    expect(summary(new JsonStreamer({ maxMessageBytes: limit }).feed(message(fits + 1)))[0]).toBe(
      'error: JSON token size limit exceeded',
    );
  });

  test('one endless token is cut off at the limit instead of buffering forever', () => {
    const s = new JsonStreamer({ maxMessageBytes: 1000 });
    const items = summary(s.feed(`"${'x'.repeat(5000)}`));
    expect(items[0]).toBe('error: JSON token size limit exceeded');
    expect(s.pendingInputBytes).toBe(0);
  });

  test('token count limit', () => {
    // [1,2,3,4,5] is 11 tokens.
    expect(summary(new JsonStreamer({ maxTokens: 11 }).feed('[1,2,3,4,5]'))).toEqual([
      { value: [1, 2, 3, 4, 5] },
    ]);
    // The 11th token, the closing ']', is the one refused; nothing of the message remains.
    expect(summary(new JsonStreamer({ maxTokens: 10 }).feed('[1,2,3,4,5]'))).toEqual([
      'error: JSON token count limit exceeded',
    ]);
    // Here the 11th token is a ','; the rest, '6]', is read afresh.
    expect(summary(new JsonStreamer({ maxTokens: 10 }).feed('[1,2,3,4,5,6]'))).toEqual([
      'error: JSON token count limit exceeded',
      { value: 6 },
      'error: JSON parse error, expecting value',
    ]);
  });

  test('nesting limit with a configured depth; deep input never overflows the stack', () => {
    const s = new JsonStreamer({ maxDepth: 3 });
    expect(summary(s.feed('[[[1]]]'))).toEqual([{ value: [[[1]]] }]);
    expect(summary(s.feed('[[[[1]]]]'))[0]).toBe('error: JSON nesting depth limit exceeded');
    // Each refusal drops the message so far and counting starts again: one error per 1025.
    const deep = summary(new JsonStreamer().feed('['.repeat(100_000)));
    expect(deep).toHaveLength(Math.floor(100_000 / 1025));
    expect(new Set(deep)).toEqual(new Set(['error: JSON nesting depth limit exceeded']));
  });
});

describe('end of input', () => {
  test('completes a pending number, reports an incomplete message', () => {
    const s = new JsonStreamer();
    expect(s.feed('42')).toEqual([]);
    expect(summary(s.end())).toEqual([{ value: 42 }]);
    expect(s.feed('{"return": {')).toEqual([]);
    expect(summary(s.end())).toEqual(['error: JSON parse error, premature EOI']);
    expect(s.feed('"abc')).toEqual([]);
    expect(summary(s.end())).toEqual(["error: JSON parse error, stray '\"abc'"]);
  });
});

describe('pulling', () => {
  test('next() stops after each item and leaves the rest unread', () => {
    const s = new JsonStreamer({ mode: 'qemu-input' });
    s.push('{"execute":"a"}{"execute":"b"}');
    expect(s.next()).toEqual({ kind: 'value', value: { execute: 'a' } });
    expect(s.pendingInputBytes).toBe(15);
    expect(s.next()).toEqual({ kind: 'value', value: { execute: 'b' } });
    expect(s.next()).toBeUndefined();
    expect(s.pendingInputBytes).toBe(0);
  });
});
