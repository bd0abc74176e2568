import { describe, expect, test } from 'vitest';
import { JsonStreamer, type JsonStreamerOptions, type JsonStreamItem } from './streamer.js';

/** Every outcome of reading `input` at once, as `value` or `error: <desc>`. */
function outcomes(
  input: string | Uint8Array,
  options: JsonStreamerOptions = { mode: 'qemu-input' },
) {
  return new JsonStreamer(options).feed(input).map(describeItem);
}

function describeItem(item: JsonStreamItem): unknown {
  return item.kind === 'value' ? { value: item.value } : `error: ${item.error.message}`;
}

const bytes = (...parts: (string | number[])[]) => {
  const out: number[] = [];
  for (const part of parts) {
    if (typeof part === 'string') out.push(...new TextEncoder().encode(part));
    else out.push(...part);
  }
  return new Uint8Array(out);
};

// Inputs and expected descs from the verified reference, §7.2: each input follows
// `{"execute":"query-version","id":` unless the whole input is given.
const PREFIX = '{"execute":"query-version","id":';

describe('QEMU input dialect: parse errors of reference §7.2', () => {
  const whole: [string, string[]][] = [
    ['{"execute": }', ['JSON parse error, expecting value']],
    [',}', ['JSON parse error, expecting value', 'JSON parse error, expecting value']],
    ['[1,]', ['JSON parse error, expecting value']],
    ['}', ['JSON parse error, expecting value']],
    [']', ['JSON parse error, expecting value']],
    ['{"execute" "query-version"}', ['JSON parse error, missing : in object pair']],
    ['{"a"}', ['JSON parse error, missing : in object pair']],
    ['{1:2}', ['JSON parse error, key is not a string in object']],
    ['[1 2]', ['JSON parse error, expected separator in list']],
    ['{"id":1,"id":2}', ['JSON parse error, duplicate key']],
  ];
  test.each(whole)('whole input %j', (input, expected) => {
    expect(outcomes(input).map(String)).toEqual(expected.map((d) => `error: ${d}`));
  });

  const afterPrefix: [string, string[]][] = [
    ['1 "x":2}', ['JSON parse error, expected separator in dict']],
    ['0x10}', ['JSON parse error, expected separator in dict']],
    ['foo}', ["JSON parse error, invalid keyword 'foo'"]],
    ['TRUE}', ["JSON parse error, stray 'T'", 'JSON parse error, expecting value']],
    ['@}', ["JSON parse error, stray '@'", 'JSON parse error, expecting value']],
    ['01}', ["JSON parse error, stray '01'", 'JSON parse error, expecting value']],
    ['1.}', ["JSON parse error, stray '1.}'"]],
    ['+1}', ["JSON parse error, stray '+'", 'JSON parse error, expecting value']],
    ['.5}', ["JSON parse error, stray '.'", 'JSON parse error, expecting value']],
    ['NaN}', ["JSON parse error, stray 'N'", 'JSON parse error, expecting value']],
    ['Infinity}', ["JSON parse error, stray 'I'", 'JSON parse error, expecting value']],
    ['%s}', ["JSON parse error, stray '%'", 'JSON parse error, expecting value']],
    ['"\\x41"}', ['JSON parse error, invalid escape sequence in string']],
    ['"\\q"}', ['JSON parse error, invalid escape sequence in string']],
    ['"\\ud83d"}', ['JSON parse error, \\ud83d is not a valid Unicode character']],
    ['"\\ude00"}', ['JSON parse error, \\ude00 is not a valid Unicode character']],
    ['"abc\n"}', ["JSON parse error, stray '\"abc\n'", 'JSON parse error, expecting value']],
    ['"abc\t"}', ["JSON parse error, stray '\"abc\t'", 'JSON parse error, expecting value']],
  ];
  test.each(afterPrefix)('after the prefix: %j', (input, expected) => {
    expect(outcomes(PREFIX + input).map(String)).toEqual(expected.map((d) => `error: ${d}`));
  });

  test('whole input %d: one stray error', () => {
    expect(outcomes('%d')).toEqual(["error: JSON parse error, stray '%'"]);
  });

  test('a raw NUL inside a string ends the quoted token text', () => {
    expect(outcomes(bytes(PREFIX, '"a', [0], 'b"}'))).toEqual([
      "error: JSON parse error, stray '\"a'",
      'error: JSON parse error, expecting value',
    ]);
  });

  test.each([
    ['C3', [0xc3]],
    ['ED A0 80', [0xed, 0xa0, 0x80]],
    ['EF BF BF', [0xef, 0xbf, 0xbf]],
    ['F4 90 80 80', [0xf4, 0x90, 0x80, 0x80]],
    ['truncated F0 9F 98', [0xf0, 0x9f, 0x98]],
  ])('invalid UTF-8 %s inside a string', (_name, seq) => {
    expect(outcomes(bytes(PREFIX, '"', seq, '"}'))).toEqual([
      'error: JSON parse error, invalid UTF-8 sequence in string',
    ]);
  });

  test('byte FF inside a string is a stray byte shown as U+FFFD', () => {
    expect(outcomes(bytes(PREFIX, '"', [0xff], '"}'))).toEqual([
      "error: JSON parse error, stray '\"\uFFFD'",
      'error: JSON parse error, expecting value',
    ]);
  });
});

describe('QEMU input dialect: recovery of reference §7.3', () => {
  test('after a lexical error, input is skipped up to a resynchronisation byte', () => {
    expect(outcomes('@ "str" 1 {"execute":"query-version"}')).toEqual([
      "error: JSON parse error, stray '@'",
      { value: { execute: 'query-version' } },
    ]);
    expect(outcomes('@\t1 \n')).toEqual(["error: JSON parse error, stray '@'"]);
    expect(outcomes('@,1 \n')).toEqual([
      "error: JSON parse error, stray '@'",
      'error: JSON parse error, expecting value',
      { value: 1 },
    ]);
  });

  test('control bytes other than TAB and bytes FE/FF get their own error while skipping', () => {
    expect(outcomes(bytes('@', [0x01], ' 1 \n'))).toEqual([
      "error: JSON parse error, stray '@'",
      "error: JSON parse error, stray '\u0001'",
    ]);
    for (const skipped of [0x80, 0xc0, 0xc1, 0xc2, 0xc3, 0xe0, 0xf4, 0xf5, 0xfd, 0x7f, 0x09]) {
      expect(outcomes(bytes('@', [skipped], ' 1 \n'))).toEqual([
        "error: JSON parse error, stray '@'",
      ]);
    }
  });

  test('one control byte resets an unterminated message', () => {
    const open = '{"execute":"query-version", "id": {';
    const next = '{"execute":"query-version"}';
    const cases: [number, string][] = [
      [0x1b, '\u001B'],
      [0x00, ''],
      [0x01, '\u0001'],
      [0x7f, '\u007F'],
      [0xff, '\uFFFD'],
      [0xfe, '\uFFFD'],
      [0xc3, '\uFFFD'],
    ];
    for (const [byte, shown] of cases) {
      expect(outcomes(bytes(open, '\n\n', [byte], next))).toEqual([
        `error: JSON parse error, stray '${shown}'`,
        { value: { execute: 'query-version' } },
      ]);
    }
  });

  test('an unterminated message swallows later objects; newlines do not reset it', () => {
    const s = new JsonStreamer({ mode: 'qemu-input' });
    expect(s.feed('{"execute":"query-version", "id": {\n')).toEqual([]);
    expect(s.feed('{"execute":"query-version"}\n\n')).toEqual([]);
    expect(s.inMessage).toBe(true);
  });

  test('a UTF-8 BOM before an object is one stray error, then the object runs', () => {
    expect(outcomes(bytes([0xef, 0xbb, 0xbf], '{"execute":"query-version"}'))).toEqual([
      "error: JSON parse error, stray '\uFFFD'",
      { value: { execute: 'query-version' } },
    ]);
  });

  test('trailing garbage after a complete object is a separate message', () => {
    expect(outcomes('{"execute":"query-version"} garbage\n')).toEqual([
      { value: { execute: 'query-version' } },
      "error: JSON parse error, invalid keyword 'garbage'",
    ]);
    expect(outcomes('{"execute":"query-version"}]')).toEqual([
      { value: { execute: 'query-version' } },
      'error: JSON parse error, expecting value',
    ]);
  });
});

describe('QEMU input framing of reference §1.3', () => {
  test('objects need no newline; several per write are all read, in order', () => {
    expect(outcomes('{"execute":"a"}{"execute":"b"}{"execute":"c"}')).toEqual([
      { value: { execute: 'a' } },
      { value: { execute: 'b' } },
      { value: { execute: 'c' } },
    ]);
  });

  test('whitespace is allowed anywhere between tokens', () => {
    expect(outcomes('\r\n\r\n   \t{\n"execute"\n:\n"query-version"\r\n}')).toEqual([
      { value: { execute: 'query-version' } },
    ]);
  });

  test('a top-level number or literal completes only when the next byte arrives', () => {
    const s = new JsonStreamer({ mode: 'qemu-input' });
    expect(s.feed('1')).toEqual([]);
    expect(s.feed('\n').map(describeItem)).toEqual([{ value: 1 }]);
    expect(s.feed('true')).toEqual([]);
    expect(s.feed('}').map(describeItem)).toEqual([
      { value: true },
      'error: JSON parse error, expecting value',
    ]);
  });

  test("single-quoted strings, \\' and \\/ are accepted", () => {
    expect(outcomes(`{'execute':'query-version', 'id': 'say "hi"', "a": "it\\'s \\/"}`)).toEqual([
      { value: { execute: 'query-version', id: 'say "hi"', a: "it's /" } },
    ]);
  });

  test('modified UTF-8: C0 80 is U+0000; noncharacters and escapes of them are refused', () => {
    expect(outcomes(bytes('"a', [0xc0, 0x80], 'b"'))).toEqual([{ value: 'a\u0000b' }]);
    expect(outcomes('"\\uFFFF"')).toEqual([
      'error: JSON parse error, \\uFFFF is not a valid Unicode character',
    ]);
    expect(outcomes('"\\ud83d\\ude00"')).toEqual([{ value: '😀' }]);
  });

  test('a non-hex byte in a \\u escape is quoted as QEMU prints it: UTF-8 decoded, else U+FFFD', () => {
    // Recorded on qemu-storage-daemon 7.2 (the desc, before JSON output escapes it).
    expect(outcomes(bytes('"\\u', [0xc3, 0xbf], '000"'))).toEqual([
      'error: JSON parse error, \\u\u00ff00 is not a valid Unicode character',
    ]);
    expect(outcomes(bytes('"\\u000', [0xc3, 0xbf], '0"'))).toEqual([
      'error: JSON parse error, \\u000\ufffd is not a valid Unicode character',
    ]);
  });
});

describe('limits of reference §7.4', () => {
  test('nesting depth 1024 is allowed, the 1025th opener fails at once', () => {
    expect(outcomes(`${'['.repeat(1024)}${']'.repeat(1024)}`)).toHaveLength(1);
    expect(outcomes('['.repeat(1025))).toEqual(['error: JSON nesting depth limit exceeded']);
  });

  test('after a limit error every leftover closer is its own error', () => {
    const items = outcomes(`${'['.repeat(1025)}${']'.repeat(1025)}`);
    expect(items).toHaveLength(1 + 1025);
    expect(items[0]).toBe('error: JSON nesting depth limit exceeded');
    expect(new Set(items.slice(1))).toEqual(new Set(['error: JSON parse error, expecting value']));
  });
});

describe('short strings are reused, never mixed up', () => {
  test('thousands of distinct short keys and values (sharing recent-string slots) read back exactly', () => {
    // Deterministic pseudo-random ASCII: far more distinct strings than the recent-string slots,
    // of every short length, so slots are taken over and the same bytes come back later.
    let seed = 12345;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const words: string[] = [];
    for (let i = 0; i < 3000; i++) {
      let w = '';
      const length = rand(33);
      for (let k = 0; k < length; k++) w += String.fromCharCode(0x20 + rand(0x5f));
      words.push(w);
    }
    const streamer = new JsonStreamer({ mode: 'qemu-input' });
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < words.length; i += 3) {
        const message = { [words[i]!]: words[i + 1]!, id: [words[i + 2]!, words[i]!] };
        // The same member twice would be a duplicate key: keep the message valid.
        if (words[i] === 'id') continue;
        const text = JSON.stringify(message);
        expect(streamer.feed(text).map(describeItem)).toEqual([{ value: JSON.parse(text) }]);
      }
    }
  });

  test('after a message that fails to parse, the next one parses from a clean state', () => {
    const streamer = new JsonStreamer({ mode: 'qemu-input' });
    expect(streamer.feed('{"a": [1 2]}').map(describeItem)).toEqual([
      'error: JSON parse error, expected separator in list',
    ]);
    expect(streamer.feed('{"a": [1, 2]}').map(describeItem)).toEqual([{ value: { a: [1, 2] } }]);
  });
});
