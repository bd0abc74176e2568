import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatEntryLine, formatMessageLine, formatRecordingHeader } from '@qmpkit/protocol';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { type RunningReplay, startReplay } from './replay-server.js';

let dir: string;
const running: RunningReplay[] = [];
const sockets: Socket[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'qmpkit-replay-'));
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const r of running.splice(0)) await r.stop();
  rmSync(dir, { recursive: true, force: true });
});

const greeting = (n: number) =>
  `{"QMP": {"version": {"qemu": {"micro": ${n}, "minor": 2, "major": 7}, "package": ""}, "capabilities": []}}\r\n`;

/** Two recorded connections, each a greeting that tells which one it is. */
function writeRecording(): string {
  const file = join(dir, 's.qmp.jsonl');
  let text = formatRecordingHeader({ started: '2026-12-07T08:00:00.000Z' });
  for (const conn of [1, 2]) {
    text += formatEntryLine({ t: conn * 10, conn, state: 'open' });
    text += formatMessageLine(
      conn * 10 + 1,
      conn,
      'out',
      JSON.parse(greeting(conn)),
      greeting(conn),
    );
  }
  writeFileSync(file, text);
  return file;
}

/** Connects and resolves with everything received until the server closes or `bytes` came. */
function read(target: { path: string } | { host: string; port: number }, bytes: number) {
  return new Promise<string>((resolve) => {
    const socket = connect(target);
    sockets.push(socket);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.length >= bytes) resolve(text);
    });
    socket.on('close', () => resolve(text));
    socket.on('error', () => resolve(text));
  });
}

test('the n-th client gets the n-th recorded connection, on any monitor; then clients are turned away', async () => {
  const log: string[] = [];
  const replay = await startReplay({
    file: writeRecording(),
    mode: 'strict',
    monitors: [
      { endpoint: { kind: 'unix', path: join(dir, 'r.sock') }, origin: '--socket' },
      { endpoint: { kind: 'tcp', host: '127.0.0.1', port: 0 }, origin: '--tcp' },
    ],
    log: (line) => log.push(line),
  });
  running.push(replay);
  expect(statSync(join(dir, 'r.sock')).mode & 0o777).toBe(0o600);
  const [path, tcp] = replay.addresses as [string, string];
  expect(tcp).toMatch(/^127\.0\.0\.1:\d+$/);
  const port = Number(tcp.split(':')[1]);
  expect(port).toBeGreaterThan(0);
  expect(await read({ path }, greeting(1).length)).toBe(greeting(1));
  expect(await read({ host: '127.0.0.1', port }, greeting(2).length)).toBe(greeting(2));
  expect(await read({ path }, 1)).toBe('');
  expect(log.join('\n')).toContain('after all 2 recorded connection(s) were served');
  await replay.stop();
  expect(() => statSync(path)).toThrow();
});

test('a file that is not a recording is refused with its line', async () => {
  const file = join(dir, 'bad.jsonl');
  writeFileSync(file, '{"format": "qmpkit-recording", "version": 1}\nnot json\n');
  await expect(
    startReplay({
      file,
      mode: 'strict',
      monitors: [{ endpoint: { kind: 'unix', path: join(dir, 'r.sock') }, origin: '--socket' }],
      log: () => {},
    }),
  ).rejects.toThrow(`--replay ${file}: recording line 2:`);
});
