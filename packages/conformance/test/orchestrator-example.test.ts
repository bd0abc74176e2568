// The example in packages/block-job-sim/README.md ("Testing an orchestrator against
// qmpkit-server") is this file, from the marker below to the end: the README quotes it, and the
// last test checks the quote is still exact. The expected numbers are QEMU's rate-limiter
// arithmetic (job-semantics.md §8.3), not the simulator's output.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const readmePath = fileURLToPath(new URL('../../block-job-sim/README.md', import.meta.url));
const serverBin = fileURLToPath(
  new URL('dist/bin/qmpkit-server.js', import.meta.resolve('@qmpkit/server-app/package.json')),
);
execFileSync(process.execPath, [serverBin, '--version']); // fails loudly if server-app is not built

// --- example ---
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { QmpClient } from '@qmpkit/client';
import { connectQmp } from '@qmpkit/client/node';
import { afterAll, beforeAll, expect, test } from 'vitest';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
let dir: string;
let server: ChildProcess;
let qmp: QmpClient;

beforeAll(async () => {
  // The fake QEMU, on a virtual clock, with the disks the orchestrator expects.
  dir = mkdtempSync(join(tmpdir(), 'orchestrator-test-'));
  const socket = join(dir, 'qmp.sock');
  server = spawn(
    process.execPath,
    [
      serverBin, // node_modules/@qmpkit/server-app/dist/bin/qmpkit-server.js
      '--clock',
      'virtual',
      '--blockdev',
      `null-co,node-name=src,size=${10 * GiB}`,
      '--blockdev',
      `null-co,node-name=dst,size=${10 * GiB}`,
      '--socket',
      socket,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  // The socket file is put in place once the server listens. A generous deadline (the machine
  // may be busy), and no waiting on a server that has exited.
  const deadline = Date.now() + 60_000;
  while (!existsSync(socket)) {
    if (server.exitCode !== null || Date.now() > deadline) throw new Error('no qmpkit-server');
    await new Promise((r) => setTimeout(r, 10));
  }
  qmp = await connectQmp({ path: socket });
});

afterAll(async () => {
  await qmp?.close();
  // Nothing left behind: the server has exited and its directory is gone.
  if (server?.exitCode === null && server.signalCode === null) {
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

test('a throttled mirror holds at 40% until the test moves time on', async () => {
  // What the orchestrator under test would do: a mirror throttled to 100 MiB/s.
  await qmp.execute('blockdev-mirror', {
    'job-id': 'm1',
    device: 'src',
    target: 'dst',
    sync: 'full',
    speed: 100 * MiB,
  });
  // 40.96 s of virtual time at 100 MiB/s is 40% of 10 GiB; QEMU's limiter lets the mirror's
  // 16 MiB chunks through one slice-full at a time, so at most one chunk more has been copied.
  await qmp.executeUntyped('x-qmpkit-clock-step', { ns: 40_960_000_000 });
  const [job] = await qmp.execute('query-jobs');
  const done = Number(job?.['current-progress']) / Number(job?.['total-progress']);
  expect(job?.status).toBe('running');
  expect(done).toBeGreaterThanOrEqual(0.4);
  expect(done).toBeLessThanOrEqual(0.4 + 16 / 10240);

  // Nothing moves while the clock stands still.
  const [again] = await qmp.execute('query-jobs');
  expect(again?.['current-progress']).toBe(job?.['current-progress']);

  // Lift the limit, let the clock run, and the mirror is ready; then complete it.
  await qmp.execute('block-job-set-speed', { device: 'm1', speed: 0 });
  const ready = qmp.waitForJob('m1', ['ready']);
  await qmp.executeUntyped('x-qmpkit-clock-step', { ns: 1_000_000_000 });
  await ready;
  const gone = qmp.waitForJob('m1', ['null']);
  await qmp.execute('job-complete', { id: 'm1' });
  await gone;
  expect(await qmp.execute('query-jobs')).toEqual([]);
});
// --- end of example ---

test('the README quotes this example exactly', () => {
  const source = readFileSync(fileURLToPath(import.meta.url), 'utf8');
  const example = source.slice(
    source.indexOf('// --- example ---\n') + '// --- example ---\n'.length,
    source.indexOf('// --- end of example ---'),
  );
  expect(readFileSync(readmePath, 'utf8')).toContain(example.trim());
});
