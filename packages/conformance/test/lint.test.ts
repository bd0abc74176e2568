// qmpkit-server's misuse linter against this repo's client: `runJob` follows the job API as
// QEMU's documentation asks (no finding, also for a job that fails and one not auto-dismissed),
// and the same client misusing it by hand is caught, in `x-qmpkit-lint` and the report at exit.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { QmpClient } from '@qmpkit/client';
import { connectQmp } from '@qmpkit/client/node';
import { afterEach, expect, test } from 'vitest';
import { type ProcessDaemon, startDaemon } from '../src/daemon.js';
import { runCli, SERVER_BIN } from './cli-harness.js';

const GiB = 1024 * 1024 * 1024;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startServer(args: string[]): Promise<ProcessDaemon> {
  const daemon = await startDaemon(process.execPath, [SERVER_BIN, ...args], {
    blockdevs: [
      `null-co,node-name=src,size=${GiB}`,
      `null-co,node-name=dst,size=${GiB}`,
      `null-co,node-name=src2,size=${GiB}`,
      `null-co,node-name=dst2,size=${GiB}`,
    ],
    // Ready when the pidfile is written: no probe connection for the linter to count.
    pidfileOption: '--pidfile',
  });
  cleanups.push(() => daemon.stop());
  return daemon;
}

interface Finding {
  rule: string;
  job?: string;
  command?: string;
  client?: number;
}

/** `x-qmpkit-lint`, an extension command outside the client's QEMU command types. */
async function findings(client: QmpClient): Promise<Finding[]> {
  const execute = client.execute.bind(client) as unknown as (name: string) => Promise<unknown>;
  return (await execute('x-qmpkit-lint')) as Finding[];
}

test('runJob leaves no finding: a mirror completed, a backup kept and dismissed, a job that fails', async () => {
  // At 1 GiB/s b2 fails 0.4 s after it starts, so runJob's reads of b1's and b2's ends are
  // further apart than the linter's polling limit (100 ms) however fast the machine.
  const server = await startServer([
    '--throughput',
    '1G',
    '--lint',
    '--fault',
    'io-error,node=dst2,at=40,errno=ENOSPC',
  ]);
  const client = await connectQmp({ path: server.socketPath });
  cleanups.push(() => client.close());
  expect(
    await client.runJob(
      'blockdev-mirror',
      { 'job-id': 'm1', device: 'src', target: 'dst', sync: 'full' },
      { onReady: 'complete' },
    ),
  ).toMatchObject({ status: 'completed' });
  expect(
    await client.runJob('blockdev-backup', {
      'job-id': 'b1',
      device: 'src',
      target: 'dst',
      sync: 'full',
      'auto-dismiss': false,
    }),
  ).toMatchObject({ status: 'completed' });
  // Failed and kept: its error must be read (query-jobs) before the dismiss.
  expect(
    await client.runJob('blockdev-backup', {
      'job-id': 'b2',
      device: 'src',
      target: 'dst2',
      sync: 'full',
      'auto-dismiss': false,
    }),
  ).toMatchObject({ status: 'failed', error: 'No space left on device' });
  expect(await findings(client)).toEqual([]);
});

test('qmpkit run leaves no finding at the default polling limit: a mirror completed, a backup that fails', async () => {
  // The limit stays at its default (100 ms). The statuses of a job come in bursts (created and
  // running at once; waiting, pending, concluded and null at the end; aborting, concluded at a
  // failure): a CLI that queried in answer to each would poll many times within the limit.
  const server = await startServer([
    '--throughput',
    '1G',
    '--lint',
    '--fault',
    'io-error,node=dst2,at=40,errno=ENOSPC',
  ]);
  const socket = ['--socket', server.socketPath];
  const mirror = await runCli([
    'run',
    'mirror',
    '--device',
    'src',
    '--target',
    'dst',
    '--job-id',
    'm1',
    '--complete',
    ...socket,
  ]);
  expect(mirror.code, mirror.stderr).toBe(0);
  expect(mirror.stdout).toBe('m1: completed\n');
  const backup = await runCli([
    'run',
    'backup',
    '--device',
    'src2',
    '--target',
    'dst2',
    '--job-id',
    'b2',
    '--json',
    ...socket,
  ]);
  expect(backup.code, backup.stderr).toBe(1);
  expect(backup.stderr).toContain('qmpkit: job b2 failed: No space left on device');
  const client = await connectQmp({ path: server.socketPath });
  cleanups.push(() => client.close());
  expect(await findings(client)).toEqual([]);
});

test('the same client misusing the job API by hand: each rule it breaks is reported', async () => {
  const server = await startServer(['--lint-report', 'lint.json', '--lint-poll-interval', '60000']);
  const client = await connectQmp({ path: server.socketPath });
  // A mirror that cannot get far (1 byte/s), completed before READY: QEMU refuses, the linter notes.
  await client.execute('blockdev-mirror', {
    'job-id': 'm1',
    device: 'src',
    target: 'dst',
    sync: 'full',
    speed: 1,
  });
  await expect(client.execute('job-complete', { id: 'm1' })).rejects.toThrow(
    "Job 'm1' in state 'running' cannot accept command verb 'complete'",
  );
  // Two polls within the interval.
  await client.execute('query-jobs');
  await client.execute('query-jobs');
  // A backup kept after it concludes and never dismissed: reported when the client leaves.
  const concluded = client.waitForEvent('JOB_STATUS_CHANGE', { id: 'b1', status: 'concluded' });
  concluded.catch(() => {}); // awaited below; a failing start must not leave it unhandled
  await client.execute('blockdev-backup', {
    'job-id': 'b1',
    device: 'src2',
    target: 'dst2',
    sync: 'full',
    'auto-dismiss': false,
  });
  await concluded;
  expect((await findings(client)).map((f) => [f.rule, f.job, f.command])).toEqual([
    ['complete-before-ready', 'm1', 'job-complete'],
    ['poll-too-fast', undefined, 'query-jobs'],
  ]);
  await client.close();

  const next = await connectQmp({ path: server.socketPath });
  cleanups.push(() => next.close());
  const all = await findings(next);
  expect(all.map((f) => [f.rule, f.job, f.client])).toEqual([
    ['complete-before-ready', 'm1', 1],
    ['poll-too-fast', undefined, 1],
    ['concluded-not-dismissed', 'b1', 1],
  ]);
  await next.execute('quit');
  await new Promise<void>((resolve) => {
    if (server.exitStatus() !== null) resolve();
    else server.process.once('exit', () => resolve());
  });
  // The report, written at exit, holds the same findings.
  expect(JSON.parse(readFileSync(join(server.dir, 'lint.json'), 'utf8'))).toEqual(all);
});
