// qmpkit record → qmpkit-server --replay, end to end against real qemu-storage-daemons (7.2, 10.0): a
// qmp-shell-style raw client (one JSON text per line, Python's spacing) drives a mirror and a
// backup through their whole lifecycle via the recording proxy; the recording is then replayed and
// the same client, sending the same lines, must receive the same session — byte for byte in
// strict mode, equal after normalization in tolerant mode.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectQmp } from '@qmpkit/client/node';
import {
  isRecordMessage,
  type JsonValue,
  normalizeTranscript,
  parseRecording,
  wireText,
} from '@qmpkit/protocol';
import { HANG_GUARD_MS, until } from '@qmpkit/test-support';
import { afterEach, describe, expect, test } from 'vitest';
import { startQemuStorageDaemon } from '../src/daemon.js';
import { qemuForTests } from '../src/qemu-binaries.js';
import { RawQmpSession } from '../src/raw-session.js';
import { CLI_BIN, SERVER_BIN } from './cli-harness.js';
import { readmeExample, runScript } from './readme-script.js';

const targets = [
  { version: '7.2', install: qemuForTests('7.2') },
  { version: '10.0', install: qemuForTests('10.0') },
] as const;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A child process that is killed (if still running) after the test. */
function start(args: string[]): {
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr: () => string;
} {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return { child, exited, stderr: () => stderr };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const statusOf = (id: string, status: string) => (m: unknown) =>
  isObject(m) &&
  m.event === 'JOB_STATUS_CHANGE' &&
  isObject(m.data) &&
  m.data.id === id &&
  m.data.status === status;
const replyTo = (id: string) => (m: unknown) => isObject(m) && m.id === id;

/** What the client sends, as qmp-shell writes it (Python's json.dumps spacing, LF). */
const LINES = {
  capabilities: '{"execute": "qmp_capabilities"}\n',
  mirror:
    '{"execute": "blockdev-mirror", "arguments": {"job-id": "m1", "device": "src", "target": "dst", "sync": "full"}, "id": "mirror"}\n',
  queryReady: '{"execute": "query-jobs", "id": "q1"}\n',
  complete: '{"execute": "job-complete", "arguments": {"id": "m1"}, "id": "complete"}\n',
  backup:
    '{"execute": "blockdev-backup", "arguments": {"job-id": "b1", "device": "src", "target": "dst2", "sync": "full", "auto-dismiss": false}, "id": "backup"}\n',
  queryConcluded: '{"execute": "query-jobs", "id": "q2"}\n',
  dismiss: '{"execute": "job-dismiss", "arguments": {"id": "b1"}, "id": "dismiss"}\n',
  dismissNone: '{"execute": "job-dismiss", "arguments": {"id": "nope"}, "id": "nope"}\n',
  garbage: '}\n',
  quit: '{"execute": "quit", "id": "quit"}\n',
};

/**
 * The session: negotiate; a mirror to READY, completed, auto-dismissed; a backup to CONCLUDED,
 * dismissed; a lookup error; unreadable input; quit. Every step waits for the reply and the
 * events it needs, never for time.
 */
async function runSession(socketPath: string): Promise<{ raw: string; messages: JsonValue[] }> {
  const s = await RawQmpSession.connect(socketPath);
  try {
    await s.waitForCount(1);
    let from = 1;
    const step = async (line: string, ...waits: ((m: unknown) => boolean)[]) => {
      s.send(line);
      for (const wait of waits) await s.waitFor(wait, HANG_GUARD_MS, from);
      from = s.messages.length;
    };
    await step(LINES.capabilities, (m) => isObject(m) && 'return' in m);
    await step(
      LINES.mirror,
      replyTo('mirror'),
      (m) => isObject(m) && m.event === 'BLOCK_JOB_READY',
    );
    await step(LINES.queryReady, replyTo('q1'));
    await step(LINES.complete, replyTo('complete'), statusOf('m1', 'null'));
    await step(LINES.backup, replyTo('backup'), statusOf('b1', 'concluded'));
    await step(LINES.queryConcluded, replyTo('q2'));
    await step(LINES.dismiss, replyTo('dismiss'), statusOf('b1', 'null'));
    await step(LINES.dismissNone, replyTo('nope'));
    await step(LINES.garbage, (m) => isObject(m) && isObject(m.error) && !('id' in m));
    s.send(LINES.quit);
    await s.waitFor(replyTo('quit'), HANG_GUARD_MS, from);
    await until(() => s.closed, 'the server to close the connection');
    return { raw: s.received, messages: s.messages.map((m) => m.json as JsonValue) };
  } finally {
    await s.close();
  }
}

/** Starts `qmpkit-server --replay FILE` and waits for its pidfile. */
async function startReplay(dir: string, file: string, mode: 'strict' | 'tolerant') {
  const socket = join(dir, `replay-${mode}.sock`);
  const pidfile = join(dir, `replay-${mode}.pid`);
  const server = start([
    SERVER_BIN,
    '--replay',
    file,
    '--replay-mode',
    mode,
    '--socket',
    socket,
    '--pidfile',
    pidfile,
  ]);
  await until(() => existsSync(pidfile), `qmpkit-server --replay to start (${server.stderr()})`);
  return { socket, server };
}

describe.each(targets)('record → replay against qemu-storage-daemon $version', ({ install }) => {
  test.skipIf(install === undefined)(
    'a mirror and a backup lifecycle, recorded through the proxy, replayed strictly and tolerantly',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'qmpkit-record-replay-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const qemu = await startQemuStorageDaemon(
        {
          blockdevs: [
            'null-co,node-name=src,size=1048576',
            'null-co,node-name=dst,size=1048576',
            'null-co,node-name=dst2,size=1048576',
          ],
        },
        install,
      );
      cleanups.push(() => qemu.stop());

      // Record.
      const file = join(dir, 'session.qmp.jsonl');
      const proxySocket = join(dir, 'proxy.sock');
      const recorder = start([
        CLI_BIN,
        'record',
        '--socket',
        qemu.socketPath,
        '--listen',
        proxySocket,
        '--out',
        file,
      ]);
      // The socket appears only once it listens (it is renamed into place).
      await until(
        () => existsSync(proxySocket),
        `the recording proxy to listen (${recorder.stderr()})`,
      );
      const recorded = await runSession(proxySocket);
      // QEMU quit: the proxy saw the server close. Stop recording as a user would.
      await until(
        () => recorder.stderr().includes('client 1 left'),
        'the recorded connection to end',
      );
      recorder.child.kill('SIGINT');
      expect(await recorder.exited).toBe(0);

      // The session really went through QEMU: its greeting, its job events.
      const [major, minor] = (install?.release ?? '').split('.').map(Number);
      expect(recorded.messages[0]).toMatchObject({ QMP: { version: { qemu: { major, minor } } } });
      expect(recorded.messages.some(statusOf('b1', 'concluded'))).toBe(true);

      // The recording: complete lines, every byte of both directions, closed by the server.
      const { entries } = parseRecording(readFileSync(file, 'utf8'));
      const messages = entries.filter(isRecordMessage);
      const commands = Object.values(LINES).filter((line) => line !== LINES.garbage);
      expect(messages.filter((m) => m.dir === 'in').map(wireText)).toEqual(commands);
      expect(
        entries.filter((e) => 'error' in e && e.dir === 'in').map((e) => 'raw' in e && e.raw),
      ).toEqual([LINES.garbage]);
      expect(
        messages
          .filter((m) => m.dir === 'out')
          .map(wireText)
          .join(''),
      ).toBe(recorded.raw);
      expect(entries.at(-1)).toMatchObject({ conn: 1, state: 'closed', by: 'server' });

      // Strict replay: the same lines get the very same bytes back.
      const strict = await startReplay(dir, file, 'strict');
      const strictRun = await runSession(strict.socket);
      expect(strictRun.raw).toBe(recorded.raw);
      strict.server.child.kill('SIGTERM');
      expect(await strict.server.exited).toBe(0);
      expect(strict.server.stderr()).not.toContain('divergence');

      // Tolerant replay: events carry the current time; equal after normalization.
      const tolerant = await startReplay(dir, file, 'tolerant');
      const tolerantRun = await runSession(tolerant.socket);
      const transcript = (run: { messages: JsonValue[] }) =>
        normalizeTranscript(run.messages.map((msg) => ({ dir: 'out' as const, msg })));
      expect(transcript(tolerantRun)).toEqual(transcript(recorded));
      expect(tolerantRun.raw).not.toBe(recorded.raw);
      tolerant.server.child.kill('SIGTERM');
      expect(await tolerant.server.exited).toBe(0);
    },
  );
});

/**
 * The same idea with this repository's client: a mirror to READY, completed; a lookup error. It
 * picks its own command ids (a random prefix per client), which the replay echoes.
 */
async function runClientSession(socketPath: string) {
  const client = await connectQmp({ path: socketPath });
  const events: JsonValue[] = [];
  const stream = client.events();
  const collected = (async () => {
    for await (const event of stream)
      events.push({ event: event.event, data: event.data } as unknown as JsonValue);
  })();
  try {
    const results: unknown[] = [];
    const ready = client.waitForEvent('BLOCK_JOB_READY', { device: 'm1' });
    results.push(
      await client.execute('blockdev-mirror', {
        'job-id': 'm1',
        device: 'src',
        target: 'dst',
        sync: 'full',
      }),
    );
    await ready;
    results.push(await client.execute('query-jobs'));
    const gone = client.waitForEvent('JOB_STATUS_CHANGE', { id: 'm1', status: 'null' });
    results.push(await client.execute('job-complete', { id: 'm1' }));
    await gone;
    results.push(
      await client.execute('job-dismiss', { id: 'nope' }).catch((error: Error) => error.message),
    );
    return { results, events };
  } finally {
    await client.close();
    await collected;
  }
}

describe.each(targets)(
  'record → replay with the qmpkit client on qemu-storage-daemon $version',
  ({ install }) => {
    test.skipIf(install === undefined)(
      'the client gets the same results and events from the strict replay as from QEMU',
      async () => {
        const dir = mkdtempSync(join(tmpdir(), 'qmpkit-record-replay-'));
        cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
        const qemu = await startQemuStorageDaemon(
          {
            blockdevs: ['null-co,node-name=src,size=1048576', 'null-co,node-name=dst,size=1048576'],
          },
          install,
        );
        cleanups.push(() => qemu.stop());
        const file = join(dir, 'session.qmp.jsonl');
        const proxySocket = join(dir, 'proxy.sock');
        const recorder = start([
          CLI_BIN,
          'record',
          '--socket',
          qemu.socketPath,
          '--listen',
          proxySocket,
          '--out',
          file,
        ]);
        await until(
          () => existsSync(proxySocket),
          `the recording proxy to listen (${recorder.stderr()})`,
        );
        const recorded = await runClientSession(proxySocket);
        await until(
          () => recorder.stderr().includes('client 1 left'),
          'the recorded connection to end',
        );
        recorder.child.kill('SIGTERM');
        expect(await recorder.exited).toBe(0);
        expect(recorded.results.at(-1)).toBe('job-dismiss: Job not found');

        const strict = await startReplay(dir, file, 'strict');
        const replayed = await runClientSession(strict.socket);
        expect(replayed).toEqual(recorded);
        expect(strict.server.stderr()).not.toContain('divergence');
        strict.server.child.kill('SIGTERM');
        expect(await strict.server.exited).toBe(0);
      },
    );
  },
);

describe("the READMEs' record and replay example", () => {
  test.skipIf(qemuForTests('7.2') === undefined)(
    'runs as written: QEMU, the recorder, a polling client, the tolerant replay, the client again',
    async () => {
      const script = readmeExample('../../cli/README.md', '`qmpkit record`');
      expect(
        readmeExample('../../server-app/README.md', 'Replaying a recorded session (`--replay`)'),
      ).toBe(script);
      const { code, output, dir, cleanUp } = await runScript(script, 'qmpkit-readme-record-');
      cleanups.push(cleanUp);
      expect([code, output]).toEqual([0, expect.stringContaining('src: completed')]);
      expect(output.match(/src: completed/g)).toHaveLength(2);
      expect(output).not.toContain('divergence');
      const { entries } = parseRecording(readFileSync(join(dir, 'session.qmp.jsonl'), 'utf8'));
      expect(entries.filter(isRecordMessage).length).toBeGreaterThan(10);
    },
  );
});
