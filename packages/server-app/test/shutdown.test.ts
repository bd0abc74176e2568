// SIGTERM with a job running: as qemu-storage-daemon 7.2 does (recorded: a 64 MiB null-co backup
// at speed 1, then SIGTERM), the client sees the job drained, cancelled and gone — paused,
// running, aborting, BLOCK_JOB_CANCELLED, concluded, null — before the connection ends.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, test } from 'vitest';

const BIN = fileURLToPath(new URL('../dist/bin/qmpkit-server.js', import.meta.url));
const MiB = 1024 * 1024;

let child: ChildProcess | undefined;
let dir: string | undefined;
afterEach(async () => {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
  child = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** Waits for a condition; the deadline is generous because the machine may be loaded. */
// A guard against a hang, not a timing assertion: bins have taken 38 s to start on a loaded machine.
async function until(predicate: () => boolean, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('SIGTERM cancels the running jobs; their events arrive before EOF', async () => {
  dir = mkdtempSync(join(tmpdir(), 'qmpkit-shutdown-'));
  const path = join(dir, 'qmp.sock');
  const pidfile = join(dir, 'pid');
  const server = spawn(
    process.execPath,
    [
      BIN,
      // What this test recorded is QEMU 7.2's shutdown.
      '--qemu-version',
      '7.2',
      '--blockdev',
      `null-co,node-name=src,size=${64 * MiB}`,
      '--blockdev',
      `null-co,node-name=dst,size=${64 * MiB}`,
      '--socket',
      path,
      '--pidfile',
      pidfile,
    ],
    { stdio: ['ignore', 'ignore', 'ignore'] },
  );
  child = server;
  const exited = new Promise<number | null>((resolve) => server.once('exit', resolve));
  await until(() => existsSync(pidfile));
  const socket = connect({ path });
  socket.setEncoding('utf8');
  const messages: Record<string, unknown>[] = [];
  let buffer = '';
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    for (let end = buffer.indexOf('\n'); end >= 0; end = buffer.indexOf('\n')) {
      const line = buffer.slice(0, end).trim();
      buffer = buffer.slice(end + 1);
      if (line !== '') messages.push(JSON.parse(line) as Record<string, unknown>);
    }
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write('{"execute":"qmp_capabilities","id":1}\n');
  socket.write(
    `${JSON.stringify({
      execute: 'blockdev-backup',
      arguments: { 'job-id': 'b1', device: 'src', target: 'dst', sync: 'full', speed: 1 },
      id: 2,
    })}\n`,
  );
  await until(() => messages.some((m) => m.id === 2));
  const before = messages.length;
  server.kill('SIGTERM');
  await closed;
  const after = messages.slice(before).map((m) => {
    const data = m.data as Record<string, unknown>;
    return m.event === 'JOB_STATUS_CHANGE' ? `${data.id} ${data.status}` : { [`${m.event}`]: data };
  });
  expect(after).toEqual([
    'b1 paused',
    'b1 running',
    'b1 aborting',
    {
      BLOCK_JOB_CANCELLED: { type: 'backup', device: 'b1', len: 64 * MiB, offset: MiB, speed: 1 },
    },
    'b1 concluded',
    'b1 null',
  ]);
  expect(await exited).toBe(0);
});
