import { describe, expect, test } from 'vitest';
import { ProtocolError } from '../errors.js';
import { canonicalJson, createNormalizer, normalizeTranscript } from './normalize.js';
import {
  canonicalWireText,
  formatEntryLine,
  formatMessageLine,
  formatRecordingHeader,
  parseRecording,
  wireText,
} from './recording.js';

const header = formatRecordingHeader({ started: '2026-12-07T08:00:00.000Z', upstream: 'unix:q' });

describe('the recording format', () => {
  test("QEMU's own output text needs no raw copy; anything else keeps its exact bytes", () => {
    // QEMU 7.2's greeting, byte for byte (reference qmp-protocol.md §2).
    const greetingText =
      '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}}\r\n';
    const greeting = JSON.parse(greetingText);
    expect(canonicalWireText('out', greeting)).toBe(greetingText);
    expect(formatMessageLine(5, 1, 'out', greeting, greetingText)).not.toContain('"raw"');
    // qmp-shell writes Python's json.dumps: spaces after ':' and ','.
    const shell = '{"execute": "query-jobs"}\n';
    const line = formatMessageLine(9, 1, 'in', { execute: 'query-jobs' }, shell);
    expect(JSON.parse(line)).toEqual({
      t: 9,
      conn: 1,
      dir: 'in',
      msg: { execute: 'query-jobs' },
      raw: shell,
    });
  });

  test('a file round-trips: uint64 values, raw text, errors, connection lines', () => {
    const big = 18446744073709551615n;
    const text =
      header +
      formatEntryLine({ t: 1, conn: 1, state: 'open', peer: 'unix client' }) +
      formatMessageLine(
        2,
        1,
        'out',
        { return: { size: big } },
        '{"return": {"size": 18446744073709551615}}\r\n',
      ) +
      formatMessageLine(3, 1, 'in', { execute: 'x' }, '{"execute":"x"} ') +
      formatEntryLine({
        t: 4,
        conn: 1,
        dir: 'in',
        error: "JSON parse error, stray '}'",
        raw: '}\n',
      }) +
      formatEntryLine({ t: 5, conn: 1, state: 'closed', by: 'client' });
    const { header: h, entries } = parseRecording(text);
    expect(h).toMatchObject({ format: 'qmpkit-recording', version: 1, upstream: 'unix:q' });
    expect(entries).toHaveLength(5);
    const reply = entries[1]!;
    expect(reply).toEqual({ t: 2, conn: 1, dir: 'out', msg: { return: { size: big } } });
    expect(wireText(reply as never)).toBe('{"return": {"size": 18446744073709551615}}\r\n');
    expect(wireText(entries[2] as never)).toBe('{"execute":"x"} ');
    expect(entries[3]).toMatchObject({ error: "JSON parse error, stray '}'", raw: '}\n' });
    expect(entries[4]).toEqual({ t: 5, conn: 1, state: 'closed', by: 'client' });
  });

  test.each([
    ['', 'line 1: empty file'],
    ['{"format": "other", "version": 1}\n', 'line 1: not a qmpkit recording'],
    ['{"format": "qmpkit-recording", "version": 2}\n', 'line 1: format version 2'],
    [`${header}{"t": 1, "conn": 1, "dir": "sideways", "msg": {}}\n`, 'line 2: "dir"'],
    [`${header}{"t": 1, "conn": 0, "dir": "in", "msg": {}}\n`, 'line 2: "conn"'],
    [`${header}{"t": 1, "conn": 1, "dir": "in", "msg": {}`, 'line 2:'],
  ])('a bad file is refused with its line: %j', (text, message) => {
    expect(() => parseRecording(text)).toThrow(ProtocolError);
    expect(() => parseRecording(text)).toThrow(message);
  });
});

describe('the normalizer', () => {
  const event = {
    timestamp: { seconds: 1765094400, microseconds: 123456 },
    event: 'BLOCK_JOB_COMPLETED',
    data: { device: 'j', len: 1048576, offset: 524288, speed: 0, type: 'mirror' },
  };

  test('timestamps and the version build are masked by default; key order does not matter', () => {
    const normalize = createNormalizer();
    expect(normalize(event)).toMatchObject({ timestamp: '<timestamp>', data: event.data });
    const greeting = {
      QMP: {
        version: { qemu: { micro: 0, minor: 2, major: 7 }, package: 'Debian' },
        capabilities: [],
      },
    };
    expect(canonicalJson(normalize(greeting))).toBe(
      '{"QMP":{"capabilities":[],"version":{"package":"<package>","qemu":{"major":7,"micro":"<micro>","minor":2}}}}',
    );
    expect(canonicalJson({ b: 1, a: [2n ** 64n] })).toBe('{"a":[18446744073709551616],"b":1}');
  });

  test('ids are numbered by first appearance, so replies still pair with commands', () => {
    const lines = normalizeTranscript(
      [
        { dir: 'in', msg: { execute: 'a', id: 'client-17' } },
        { dir: 'in', msg: { execute: 'b', id: 42 } },
        { dir: 'out', msg: { return: {}, id: 42 } },
        { dir: 'out', msg: { return: {}, id: 'client-17' } },
      ],
      { ids: true },
    );
    expect(lines).toEqual([
      '→ {"execute":"a","id":"<id 1>"}',
      '→ {"execute":"b","id":"<id 2>"}',
      '← {"id":"<id 2>","return":{}}',
      '← {"id":"<id 1>","return":{}}',
    ]);
  });

  test('progress values of query-jobs, query-block-jobs and block job events', () => {
    const normalize = createNormalizer({ progress: true });
    expect(normalize(event)).toMatchObject({
      data: { len: '<progress>', offset: '<progress>', speed: 0 },
    });
    const jobs = {
      return: [{ id: 'j', status: 'running', 'current-progress': 5, 'total-progress': 9 }],
    };
    expect(normalize(jobs)).toEqual({
      return: [
        {
          id: 'j',
          status: 'running',
          'current-progress': '<progress>',
          'total-progress': '<progress>',
        },
      ],
    });
    const blockJobs = { return: [{ device: 'j', type: 'mirror', offset: 5, len: 9, busy: false }] };
    expect(normalize(blockJobs)).toEqual({
      return: [
        { device: 'j', type: 'mirror', offset: '<progress>', len: '<progress>', busy: false },
      ],
    });
    // Off by default.
    expect(createNormalizer()(jobs)).toEqual(jobs);
  });

  test('temporary directories inside strings, the longest first', () => {
    const normalize = createNormalizer({ tempDirs: ['/tmp/a', '/tmp/a/b'] });
    const reply = { error: { class: 'GenericError', desc: "Could not open '/tmp/a/b/x.img'" } };
    expect(normalize(reply)).toEqual({
      error: { class: 'GenericError', desc: "Could not open '<tmp>/x.img'" },
    });
  });

  test('a "__proto__" member stays an ordinary member', () => {
    const msg = JSON.parse('{"return": {"__proto__": {"polluted": true}}}');
    const out = createNormalizer({ tempDirs: ['/x'] })(msg) as Record<string, unknown>;
    expect(Object.hasOwn(out.return as object, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
