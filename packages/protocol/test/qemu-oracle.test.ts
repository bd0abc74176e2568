// The real QEMU is the oracle: a qemu-storage-daemon reads the same bytes as our codec, and
// (1) the sequence of outcomes must agree — every parse/limit error with QEMU's exact desc, every
//     complete value where QEMU got one;
// (2) the server codec must reproduce QEMU's reply bytes exactly when echoing ids.
// Like the conformance suite, this fails loudly when QEMU is missing (`.ci/run` installs it).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '@qmpkit/test-support';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { encodeJson } from '../src/json/encode.js';
import { JsonStreamer } from '../src/json/streamer.js';
import { isJsonObject, type JsonValue } from '../src/json/value.js';
import { makeErrorReply } from '../src/messages.js';
import { SERVER_CODEC } from '../src/transport.js';

const QSD = 'qemu-storage-daemon';

let dir = '';
let daemon: ChildProcess | undefined;
let socket: Socket;
let received = Buffer.alloc(0);
let waiter: (() => void) | undefined;

/** Resolves with the next CR LF-terminated line QEMU writes (without the CR LF). */
async function nextLine(): Promise<string> {
  for (;;) {
    const end = received.indexOf('\r\n');
    if (end >= 0) {
      const line = received.subarray(0, end).toString('latin1');
      received = received.subarray(end + 2);
      return line;
    }
    await new Promise<void>((resolve) => {
      waiter = resolve;
    });
  }
}

beforeAll(async () => {
  try {
    execFileSync('sh', ['-c', `command -v ${QSD}`], { stdio: 'ignore' });
  } catch {
    throw new Error(`${QSD} not found: install Debian's qemu-system-common (bash .ci/run does)`);
  }
  dir = mkdtempSync(join(tmpdir(), 'qmpkit-protocol-oracle-'));
  const path = join(dir, 'qmp.sock');
  const pidfile = join(dir, 'qsd.pid');
  daemon = spawn(
    QSD,
    [
      '--chardev',
      `socket,path=${path},server=on,wait=off,id=m0`,
      '--monitor',
      'chardev=m0',
      '--pidfile',
      pidfile,
    ],
    { stdio: 'ignore' },
  );
  // QEMU creates the socket file before it listens; it writes the pidfile only once every option
  // (the monitor included) is processed, so that is when a connection is accepted.
  await until(() => existsSync(pidfile), `${QSD} to start (its pidfile)`);
  socket = connect(path);
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    const w = waiter;
    waiter = undefined;
    w?.();
  });
  const greeting = await nextLine();
  expect(greeting.startsWith('{"QMP": ')).toBe(true);
  // Start the comparisons in step with the daemon: whatever it writes before the reply to a first
  // command belongs to no input of ours. (Once, in a fresh-clone CI run under heavy load, one line
  // arrived between the greeting and the first outcome; it is printed here if it ever comes again.)
  socket.write('{"execute":"query-version","id":"in-step"}');
  for (;;) {
    const line = await nextLine();
    if (line.includes('"id": "in-step"')) break;
    console.warn(`qemu-storage-daemon wrote before the first reply: ${line}`);
  }
});

afterAll(async () => {
  socket?.destroy();
  if (daemon !== undefined && daemon.exitCode === null && daemon.signalCode === null) {
    // Gone before the directory holding its socket and pidfile is removed.
    const exited = new Promise((resolve) => daemon?.once('exit', resolve));
    daemon.kill('SIGTERM');
    await exited;
  }
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

const NOT_AN_OBJECT = 'QMP input must be a JSON object';

/**
 * Sends `input`, then a reset byte and a sentinel command, and returns QEMU's outcomes up to the
 * sentinel's reply: a JSON-layer desc (`JSON …`, or the not-an-object desc), or `object`.
 */
async function qemuOutcomes(input: Uint8Array, sentinel: string): Promise<string[]> {
  socket.write(input);
  socket.write(`\n\x01{"execute":"query-version","id":"${sentinel}"}`);
  const outcomes: string[] = [];
  for (;;) {
    const line = await nextLine();
    const [item] = new JsonStreamer().feed(`${line}\n`);
    const reply = item?.kind === 'value' ? item.value : undefined;
    if (isJsonObject(reply) && reply.id === sentinel) return outcomes;
    // QMP lets a server send an event at any time; it answers no input.
    if (isJsonObject(reply) && typeof reply.event === 'string') continue;
    if (!isJsonObject(reply))
      throw new Error(`qemu-storage-daemon wrote a line that is not a reply: ${line}`);
    const desc = isJsonObject(reply.error) ? reply.error.desc : undefined;
    outcomes.push(
      typeof desc === 'string' && (desc.startsWith('JSON ') || desc === NOT_AN_OBJECT)
        ? desc
        : 'object',
    );
  }
}

/** Our codec's outcomes for the same bytes, in the same terms. */
function ourOutcomes(input: Uint8Array, sentinel: string): string[] {
  const all = new JsonStreamer({ mode: 'qemu-input' })
    .feed(
      Buffer.concat([input, Buffer.from(`\n\x01{"execute":"query-version","id":"${sentinel}"}`)]),
    )
    .map((item) => {
      if (item.kind === 'error') return item.error.message;
      return isJsonObject(item.value) ? 'object' : NOT_AN_OBJECT;
    });
  return all.slice(0, -1); // the sentinel
}

// Fragments that exercise every lexer state, error and resynchronisation rule.
const ALPHABET = [
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '"',
  "'",
  '\\',
  ' ',
  '1',
  '0',
  '-',
  '.',
  'e',
  'E',
  '+',
  'a',
  'true',
  'null',
  'u',
  '4',
  'd',
  '@',
  '\n',
  '\t',
  '\r',
  '\x01',
  '\x00',
  '\x7f',
  '\xc3',
  '\xa9',
  '\xc0',
  '\x80',
  '\xed',
  '\xfe',
  '\xff',
  '"x"',
  '{"a":',
  '\\u00e9',
  '\\ud83d',
  '\\ude00',
  '%',
  'é',
  '😀',
];

function seeded(seed: number): (n: number) => number {
  let state = seed;
  return (n) => {
    state = (Math.imul(state, 1103515245) + 12345) & 0x7fffffff;
    return state % n;
  };
}

describe('the QEMU input dialect agrees with qemu-storage-daemon', () => {
  test('on random inputs built from every troublesome fragment', async () => {
    const random = seeded(20261125);
    const cases: Buffer[] = [];
    for (let k = 0; k < 250; k++) {
      let text = '';
      const length = 1 + random(16);
      for (let j = 0; j < length; j++) text += ALPHABET[random(ALPHABET.length)];
      // Fragments are byte strings: encode é and 😀 as UTF-8, the \xNN ones as single bytes.
      cases.push(
        Buffer.from(
          [...text].flatMap((ch) =>
            ch.charCodeAt(0) < 0x100 ? [ch.charCodeAt(0)] : [...Buffer.from(ch, 'utf8')],
          ),
        ),
      );
    }
    for (const [k, input] of cases.entries()) {
      const sentinel = `end-${k}`;
      const theirs = await qemuOutcomes(input, sentinel);
      expect([k, input.toString('latin1'), ourOutcomes(input, sentinel)]).toEqual([
        k,
        input.toString('latin1'),
        theirs,
      ]);
    }
  });

  test('on nesting at and beyond the depth limit', async () => {
    for (const text of [
      `{"a":${'['.repeat(1023)}${']'.repeat(1023)}}`,
      `{"a":${'['.repeat(1024)}${']'.repeat(1024)}}`,
      `${'['.repeat(1025)}${']'.repeat(5)}`,
    ]) {
      const input = Buffer.from(text);
      expect(ourOutcomes(input, 'n')).toEqual(await qemuOutcomes(input, 'n'));
    }
  });
});

describe("the server codec writes QEMU's bytes", () => {
  // 'minor' and 'micro' share a bucket: the order within a bucket is tested too.
  const KEYS = [
    'a',
    'b',
    'id',
    'return',
    'x-y',
    'node-name',
    'é',
    'zz',
    'aa',
    'mm',
    'minor',
    'micro',
  ];
  const NUMBERS = [
    '0',
    '-0',
    '1',
    '-5',
    '1.0',
    '0.1',
    '1e3',
    '1E+2',
    '2.5e-7',
    '123.456',
    '9007199254740993',
    '18446744073709551615',
    '18446744073709551616',
    '-9223372036854775809',
    '1e300',
    '-1e-400',
    '0.30000000000000004',
    '100000000000000000000',
    '1e16',
    '1e17',
    '12345678.9',
  ];
  const STRINGS = [
    '""',
    '"abc"',
    '"é"',
    '"\\u00e9"',
    '"😀"',
    '"\\ud83d\\ude00"',
    '"a/b"',
    '"\\t\\n"',
    '"\\u0001\\u007f"',
    "'single'",
    '"\\""',
    '"中文"',
  ];

  test('when echoing random ids (numbers, strings, nested objects in hash order)', async () => {
    const random = seeded(777);
    const gen = (depth: number): string => {
      const r = random(depth > 2 ? 3 : 5);
      if (r === 0) return NUMBERS[random(NUMBERS.length)]!;
      if (r === 1) return STRINGS[random(STRINGS.length)]!;
      if (r === 2) return ['true', 'false', 'null'][random(3)]!;
      if (r === 3) {
        return `[${Array.from({ length: random(4) }, () => gen(depth + 1)).join(', ')}]`;
      }
      const keys = new Set<string>();
      const n = random(5);
      while (keys.size < n) keys.add(KEYS[random(KEYS.length)]!);
      return `{${[...keys].map((k) => `${JSON.stringify(k)}: ${gen(depth + 1)}`).join(', ')}}`;
    };
    const decoder = new JsonStreamer({ mode: 'qemu-input', markFloats: true });
    for (let k = 0; k < 120; k++) {
      const command = `{"execute":"query-version","id":${gen(0)}}`;
      socket.write(command);
      const theirs = await nextLine();
      const [item] = decoder.feed(command);
      const id = (item?.kind === 'value' ? (item.value as { id: JsonValue }).id : undefined)!;
      const ours = encodeJson(
        makeErrorReply(
          'CommandNotFound',
          "Expecting capabilities negotiation with 'qmp_capabilities'",
          id,
        ),
        SERVER_CODEC.encode,
      );
      expect([command, ours]).toEqual([command, theirs]);
    }
  });
});

describe("the client codec reads QEMU's output", () => {
  // Runs last: it leaves negotiation mode.
  test('a large real reply (query-qmp-schema) decodes like JSON.parse, in any chunking', async () => {
    socket.write('{"execute":"qmp_capabilities","id":0}');
    expect(await nextLine()).toBe('{"return": {}, "id": 0}');
    socket.write('{"execute":"query-qmp-schema","id":1}');
    const line = await nextLine();
    expect(line.length).toBeGreaterThan(50_000);
    const bytes = Buffer.from(`${line}\r\n`, 'latin1'); // QEMU's output is pure ASCII
    const expected = JSON.parse(line) as unknown;
    const random = seeded(99);
    for (const chunkSize of [1 + random(7), 4096, 65536, bytes.length]) {
      const decoder = new JsonStreamer();
      const values: unknown[] = [];
      for (let i = 0; i < bytes.length; i += chunkSize) {
        for (const item of decoder.feed(bytes.subarray(i, i + chunkSize))) {
          values.push(item.kind === 'value' ? item.value : item.error);
        }
      }
      expect(values).toEqual([expected]);
    }
  });
});
