// Differential tests: the same bytes sent to a real qemu-storage-daemon and to qmpkit-server
// (both started with the same QEMU-style command line), the replies compared line by line, raw.
// Only timestamps and the version's `package` string and micro number are normalised away.
// Expected values are whatever the real QEMU answers at test time.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Daemon, startDaemon, startQemuStorageDaemon } from '../src/daemon.js';
import { RawQmpSession } from '../src/raw-session.js';

const BIN = fileURLToPath(
  new URL('dist/bin/qmpkit-server.js', import.meta.resolve('@qmpkit/server-app/package.json')),
);

let qemu: Daemon;
let ours: Daemon;

beforeAll(async () => {
  [qemu, ours] = await Promise.all([
    startQemuStorageDaemon(),
    startDaemon(process.execPath, [BIN, '--qemu-version', '7.2']),
  ]);
});
afterAll(async () => {
  await Promise.all([qemu?.stop(), ours?.stop()]);
});

/**
 * One step of an exchange: bytes to send (a string is UTF-8; a list is sent write by write);
 * `{ send, replies }` waits for that many messages before the next step (where order matters:
 * with OOB on, a later `exec-oob` may overtake queued in-band commands).
 */
type Step =
  | string
  | Uint8Array
  | { readonly writes: readonly (string | Uint8Array)[] }
  | { readonly send: string; readonly replies: number };

function normalize(raw: string): string {
  return raw
    .replace(/"timestamp": \{"seconds": \d+, "microseconds": \d+\}/g, '"timestamp": <T>')
    .replace(
      /\{"qemu": \{"micro": \d+, "minor": (\d+), "major": (\d+)\}, "package": "[^"]*"\}/g,
      '{"qemu": {"micro": <M>, "minor": $1, "major": $2}, "package": <P>}',
    );
}

/**
 * Runs the steps on a fresh connection and returns every line received, normalised. The
 * transcript is complete when the server closes the connection after our end of input: like
 * QEMU (which reads nothing more while a command runs when OOB is off), the server answers
 * everything it read before the end, then closes — so the comparison waits for what it
 * compares, whatever the load, and never for a quiet period.
 */
async function transcript(
  daemon: Daemon,
  steps: readonly Step[],
  negotiate: boolean,
): Promise<string[]> {
  const session = await RawQmpSession.connect(daemon.socketPath);
  try {
    await session.waitForCount(1);
    if (negotiate) await session.negotiate();
    for (const step of steps) {
      if (typeof step === 'string' || step instanceof Uint8Array) {
        session.send(step);
      } else if ('writes' in step) {
        for (const write of step.writes) session.send(write);
      } else {
        const before = session.messages.length;
        session.send(step.send);
        await session.waitForCount(before + step.replies);
      }
    }
    session.endInput();
    await session.waitForClose();
    return session.messages.map((m) => normalize(m.raw));
  } finally {
    await session.close();
  }
}

/** Runs the same exchange against both servers and expects identical transcripts. */
async function same(steps: readonly Step[], { negotiate = true } = {}): Promise<string[]> {
  const [theirs, mine] = await Promise.all([
    transcript(qemu, steps, negotiate),
    transcript(ours, steps, negotiate),
  ]);
  expect(mine).toEqual(theirs);
  return theirs;
}

const bytes = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));

describe('qmpkit-server against qemu-storage-daemon', () => {
  test('greeting (byte-exact apart from package and micro)', async () => {
    const lines = await same([], { negotiate: false });
    expect(lines).toHaveLength(1);
  });

  test('negotiation rules', async () => {
    const lines = await same(
      [
        // One reply each, waited for: once id 9 enables OOB, the exec-oob of id 12 would
        // overtake the queued in-band 10 and 11 if sent ahead.
        { send: '{"execute":"query-version","id":1}', replies: 1 },
        { send: '{"execute":"nope","id":2}', replies: 1 },
        { send: '{"exec-oob":"qmp_capabilities","id":3}', replies: 1 },
        {
          send: '{"execute":"qmp_capabilities","arguments":{"enable":["foo"]},"id":4}',
          replies: 1,
        },
        { send: '{"execute":"qmp_capabilities","arguments":{"enable":[1]},"id":5}', replies: 1 },
        { send: '{"execute":"qmp_capabilities","arguments":{"enable":"oob"},"id":6}', replies: 1 },
        { send: '{"execute":"qmp_capabilities","arguments":{"enable":null},"id":7}', replies: 1 },
        { send: '{"execute":"qmp_capabilities","arguments":{"foo":1},"id":8}', replies: 1 },
        {
          send: '{"execute":"qmp_capabilities","arguments":{"enable":["oob","oob"]},"id":9}',
          replies: 1,
        },
        { send: '{"execute":"qmp_capabilities","id":10}', replies: 1 },
        { send: '{"execute":"qmp_capabilities","arguments":{"enable":[]},"id":11}', replies: 1 },
        { send: '{"exec-oob":"qmp_capabilities","id":12}', replies: 1 },
      ],
      { negotiate: false },
    );
    expect(lines).toHaveLength(13);
  });

  test('the command object and unknown commands', async () => {
    await same([
      '[]',
      '1 ',
      '"str"',
      'null ',
      'true ',
      '[{"execute":"query-version"}]',
      '{}',
      '{"id":5}',
      '{"arguments":{}}',
      '{"execute":"query-version","foo":1,"id":1}',
      '{"Execute":"query-version","id":2}',
      '{"execute":1,"id":3}',
      '{"execute":"query-version","arguments":null,"id":4}',
      '{"execute":"query-version","arguments":[],"id":5}',
      '{"execute":"QUERY-VERSION","id":6}',
      '{"execute":"query_version","id":7}',
      '{"execute":"","id":8}',
      '{"execute":"no-such-command","id":9}',
      '{"exec-oob":"query-version","id":10}',
      '{"foo":1,"bar":2,"execute":"query-version","id":11}',
    ]);
  });

  test('OOB rules once OOB is on', async () => {
    const steps: Step[] = [
      // One reply each, waited for: OOB replies may otherwise overtake queued in-band ones.
      { send: '{"execute":"qmp_capabilities","arguments":{"enable":["oob"]},"id":0}', replies: 1 },
      { send: '{"exec-oob":"query-version","id":1}', replies: 1 },
      { send: '{"execute":"query-version","exec-oob":"query-version","id":2}', replies: 1 },
      { send: '{"exec-oob":"query-version","execute":"query-version","id":3}', replies: 1 },
      { send: '{"exec-oob":5,"id":4}', replies: 1 },
      { send: '{"exec-oob":"qmp_capabilities","id":5}', replies: 1 },
      { send: '{"exec-oob":"nope"}', replies: 1 },
      { send: '{"execute":"qmp_capabilities","id":6}', replies: 1 },
    ];
    await same(steps, { negotiate: false });
  });

  test('ids of every JSON type, re-serialised like QEMU', async () => {
    const ids = [
      '1',
      '-5',
      '"s"',
      'null',
      'true',
      'false',
      '[1,"a",null]',
      '{"b":1,"a":[null]}',
      "'single'",
      '"\\u00e9"',
      '"é"',
      '"😀"',
      '"\\u0001\\u007f/"',
      '1.0',
      '0.1e1',
      '1e3',
      '1E+2',
      '-0',
      '0.1',
      '1.5e308',
      '-0.0',
      '-1e-400',
      '1e309',
      '9223372036854775807',
      '-9223372036854775808',
      '18446744073709551615',
      '18446744073709551616',
      '-9223372036854775809',
      '123456789012345678901234567890',
      '{"nested":{"deep":[[{"x":{}}]]}}',
    ];
    await same(ids.map((id) => `{"execute":"query-version","arguments":{"x":1},"id":${id}}`));
  });

  test('several messages in one write, and a message split across writes', async () => {
    const text =
      '{"execute":"query-version","id":1}{"execute":"nope","id":2}\r\n\t {"execute":"query-version","id":3}';
    await same([text, { writes: text.match(/.{1,3}/gs)! }]);
  });

  test('garbage followed by a valid command; parse errors and recovery', async () => {
    await same([
      '{"execute": }',
      ',}',
      '[1,]',
      '{"execute" "query-version"}',
      '{1:2}',
      '[1 2]',
      '{"execute":"query-version","id":1 "x":2}',
      '{"execute":"query-version","id":foo}',
      '{"execute":"query-version","id":TRUE}',
      '@}',
      '{"execute":"query-version","id":01}',
      '{"execute":"query-version","id":1.}',
      '{"execute":"query-version","id":+1}',
      '{"execute":"query-version","id":"\\x41"}',
      '{"execute":"query-version","id":"\\ud83d"}',
      '{"execute":"query-version","id":1,"id":2}',
      '@ "str" 1 {"execute":"query-version","id":"after-garbage"}',
      '{"execute":"query-version","id":3} garbage\n',
      bytes('{"execute":"query-version","id":"a\x01b"}'),
      bytes('{"execute":"query-version","id":"\xc3"}'),
      bytes('\xef\xbb\xbf{"execute":"query-version","id":"bom"}'),
      '{"execute":"query-version", "id": {',
      '{"execute":"query-version","id":"swallowed"}',
      '\x1b{"execute":"query-version","id":"after-reset"}',
    ]);
  });

  test('nesting limit', async () => {
    await same([
      '['.repeat(1025),
      '\x1b{"execute":"query-version","id":1}',
      `${'['.repeat(3)}${']'.repeat(5)}`,
    ]);
  });

  test('argument validation of the built-ins, and which unknown key QEMU names first', async () => {
    const keys = (n: number, prefix: string) =>
      Array.from({ length: n }, (_, i) => `"${prefix}${i}":${i}`).join(',');
    await same([
      '{"execute":"query-version","arguments":{"x":1,"y":2},"id":1}',
      `{"execute":"query-version","arguments":{${keys(5, 'k')}},"id":2}`,
      `{"execute":"query-version","arguments":{${keys(8, 'zz')}},"id":3}`,
      `{"execute":"query-version","arguments":{${keys(13, 'a')}},"id":4}`,
      `{"execute":"query-commands","arguments":{${keys(40, 'opt-')}},"id":5}`,
      '{"execute":"query-qmp-schema","arguments":{"\\u00e9":1,"b":2},"id":6}',
      '{"execute":"quit","arguments":{"now":true},"id":7}',
    ]);
  });

  test('query-version and query-qmp-schema (byte-exact, member order included)', async () => {
    const lines = await same([
      '{"execute":"query-version","id":1}',
      '{"execute":"query-qmp-schema","id":2}',
    ]);
    expect(lines[3]!.length).toBeGreaterThan(100_000);
  });

  test("query-commands: exactly what qmpkit-server answers, in QEMU's order", async () => {
    const ask = async (daemon: Daemon) => {
      const session = await RawQmpSession.connect(daemon.socketPath);
      try {
        await session.negotiate();
        session.send('{"execute":"query-commands","id":"c"}');
        const reply = await session.waitFor((m) => (m as { id?: unknown }).id === 'c');
        return (reply.json as { return: { name: string }[] }).return.map((c) => c.name);
      } finally {
        await session.close();
      }
    };
    const [theirs, mine] = await Promise.all([ask(qemu), ask(ours)]);
    expect(mine).toEqual(theirs.filter((name) => mine.includes(name)));
    // The set server-app's README promises: the built-ins, the block layer's commands and
    // every job command.
    expect([...mine].sort()).toEqual(
      [
        'qmp_capabilities',
        'query-commands',
        'query-qmp-schema',
        'query-version',
        'quit',
        'blockdev-add',
        'blockdev-del',
        'query-named-block-nodes',
        'query-block',
        'block-dirty-bitmap-add',
        'block-dirty-bitmap-remove',
        'block-dirty-bitmap-clear',
        'block-dirty-bitmap-enable',
        'block-dirty-bitmap-disable',
        'block-dirty-bitmap-merge',
        'x-debug-block-dirty-bitmap-sha256',
        'nbd-server-start',
        'nbd-server-stop',
        'block-export-add',
        'block-export-del',
        'query-block-exports',
        'blockdev-mirror',
        'drive-mirror',
        'block-commit',
        'block-stream',
        'blockdev-backup',
        'drive-backup',
        'blockdev-create',
        'transaction',
        'job-pause',
        'job-resume',
        'job-cancel',
        'job-complete',
        'job-finalize',
        'job-dismiss',
        'block-job-pause',
        'block-job-resume',
        'block-job-cancel',
        'block-job-complete',
        'block-job-finalize',
        'block-job-dismiss',
        'block-job-set-speed',
        'query-jobs',
        'query-block-jobs',
      ].sort(),
    );
  });

  test('one client at a time: a second connection gets no greeting until the first leaves', async () => {
    const run = async (daemon: Daemon) => {
      const first = await RawQmpSession.connect(daemon.socketPath);
      await first.waitForCount(1);
      const second = await RawQmpSession.connect(daemon.socketPath);
      second.send('{"execute":"qmp_capabilities","id":"early"}');
      // A round trip of the first client after the second connected: the server has run since,
      // so a greeting it would give the second at accept time would be out by now.
      await first.negotiate();
      const before = second.messages.length;
      await first.close();
      await second.waitForCount(2);
      const after = second.messages.map((m) => normalize(m.raw));
      await second.close();
      return { before, after };
    };
    const [theirs, mine] = await Promise.all([run(qemu), run(ours)]);
    expect(theirs.before).toBe(0);
    expect(mine).toEqual(theirs);
  });

  test('both still serve after all that', async () => {
    await same(['{"execute":"query-version","id":"last"}']);
  });
});
