import { describe, expect, test } from 'vitest';
import { type Frame, FrameTap } from './frame-tap.js';

const bytes = (text: string) => new TextEncoder().encode(text);

/** Feeds `text` split at every position in `cuts`, then ends the stream. */
function frames(dialect: 'client' | 'server', text: string, cuts: number[] = []): Frame[] {
  const tap = new FrameTap(dialect);
  const out: Frame[] = [];
  let from = 0;
  for (const cut of [...cuts, text.length]) {
    out.push(...tap.push(bytes(text.slice(from, cut))));
    from = cut;
  }
  out.push(...tap.end());
  return out;
}

describe('FrameTap', () => {
  test("QEMU's CR LF lines become one frame each; any chunking keeps the messages and bytes", () => {
    const text = '{"QMP": {"capabilities": []}}\r\n{"return": {}}\r\n';
    const expected = [
      {
        kind: 'message',
        msg: { QMP: { capabilities: [] } },
        raw: '{"QMP": {"capabilities": []}}\r\n',
      },
      { kind: 'message', msg: { return: {} }, raw: '{"return": {}}\r\n' },
    ];
    expect(frames('server', text)).toEqual(expected);
    for (let cut = 1; cut < text.length; cut++) {
      const out = frames('server', text, [cut]);
      const messages = out.filter((f) => f.kind === 'message');
      expect([cut, messages.map((f) => f.msg)]).toEqual([cut, expected.map((f) => f.msg)]);
      expect(out.map((f) => f.raw).join('')).toBe(text);
    }
  });

  test('the raw texts of a stream put together are the stream, to the byte', () => {
    const text =
      '  {"execute": "a"}{"execute":\n"b"}  \n\n{\'execute\': \'c\'} }\r\n{"execute": "d", "arguments": {"x": "\\u00e9é"}}';
    for (const cuts of [[], [1], [5, 17, 18], [40, 41, 42, 60]]) {
      const out = frames('client', text, cuts);
      expect(out.map((f) => f.raw).join('')).toBe(text);
      expect(
        out.map((f) => (f.kind === 'message' ? f.msg : f.kind === 'error' ? f.error : f.raw)),
      ).toEqual([
        { execute: 'a' },
        { execute: 'b' },
        { execute: 'c' },
        'JSON parse error, expecting value',
        { execute: 'd', arguments: { x: 'éé' } },
      ]);
    }
  });

  test('an incomplete message at the end is reported as the parser sees it; trailing bytes are kept', () => {
    expect(frames('client', '{"execute": "a"}\n   ')).toEqual([
      { kind: 'message', msg: { execute: 'a' }, raw: '{"execute": "a"}\n' },
      { kind: 'bytes', raw: '   ' },
    ]);
    expect(frames('client', '{"execute": "a"}\n{"exec')).toEqual([
      { kind: 'message', msg: { execute: 'a' }, raw: '{"execute": "a"}\n' },
      // As QEMU's parser flushes at end of input: the unfinished string is a stray token.
      { kind: 'error', error: expect.stringMatching(/^JSON parse error/), raw: '{"exec' },
    ]);
  });

  test('a message is framed as soon as it is complete; late white space opens the next frame', () => {
    const tap = new FrameTap('server');
    expect(tap.push(bytes('{"return": {}}\r'))).toEqual([
      { kind: 'message', msg: { return: {} }, raw: '{"return": {}}\r' },
    ]);
    expect(tap.push(bytes('\n{"return": 1}\r\n'))).toEqual([
      { kind: 'message', msg: { return: 1 }, raw: '\n{"return": 1}\r\n' },
    ]);
  });
});
