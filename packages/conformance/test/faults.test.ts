// qmpkit-server's seeded faults against this repo's client and CLI: the README's example run as
// written (the CLI loses its connection when the mirror becomes ready, a new one finds the job),
// the client's connect timeout on a monitor that never greets, the client's reconnect carrying a
// runJob through a connection dropped mid-job, and runJob through the other wire and job faults.
import { ConnectError, QmpClient } from '@qmpkit/client';
import { connectQmp } from '@qmpkit/client/node';
import { connectUnix } from '@qmpkit/protocol/node';
import { afterEach, describe, expect, test } from 'vitest';
import { type Daemon, startDaemon } from '../src/daemon.js';
import { SERVER_BIN } from './cli-harness.js';
import { readmeExample, runScript } from './readme-script.js';

const GiB = 1024 * 1024 * 1024;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startServer(args: string[]): Promise<Daemon> {
  const daemon = await startDaemon(process.execPath, [SERVER_BIN, ...args], {
    blockdevs: [`null-co,node-name=src,size=${GiB}`, `null-co,node-name=dst,size=${GiB}`],
    // Ready when the pidfile is written: no probe connection to meet a fault meant for the test.
    pidfileOption: '--pidfile',
  });
  cleanups.push(() => daemon.stop());
  return daemon;
}

test("the README's example runs as written", async () => {
  const script = readmeExample(
    '../../server-app/README.md',
    'Seeded faults and race windows (`--fault`)',
  );
  const run = await runScript(script, 'qmpkit-readme-faults-');
  cleanups.push(run.cleanUp);
  expect(run.code, run.output).toBe(0);
  // The run lost its connection before READY and said so; a new connection found the job ready.
  expect(run.output).toContain('qmpkit: the connection to the server was lost');
  expect(run.output).toContain('run mirror: exit status 1');
  expect(run.output).not.toMatch(/m0: ready/);
  expect(run.output).toMatch(/m0 +mirror +ready +100\.0%/);
  // What fired: the drop once, and splits.
  expect(run.output).toContain('"what": "dropped the connections when job m0 became ready"');
  expect(run.output).toMatch(/"what": "split a write of \d+ bytes at \d+/);
});

describe('the client', () => {
  test('connectTimeoutMs ends the wait for a greeting that never comes', async () => {
    const server = await startServer(['--fault', 'hold-greeting']);
    const error = await connectQmp({ path: server.socketPath }, { connectTimeoutMs: 300 }).catch(
      (e: unknown) => e,
    );
    expect(ConnectError.isInstance(error)).toBe(true);
    expect((error as ConnectError).code).toBe('ETIMEDOUT');
  });

  test('with reconnect, runJob carries a mirror through a connection dropped as it becomes ready', async () => {
    const server = await startServer([
      '--throughput',
      '1G',
      '--fault',
      'drop,job=m1,status=ready,count=1',
      '--fault',
      'split',
    ]);
    const reports: unknown[] = [];
    const client = new QmpClient({
      reconnect: { initialDelayMs: 10, maxDelayMs: 50, maxAttempts: 50 },
      onReconnect: (report) => reports.push(report),
    });
    cleanups.push(() => client.close());
    await client.connect({ open: () => connectUnix(server.socketPath) });
    const outcome = await client.runJob(
      'blockdev-mirror',
      { 'job-id': 'm1', device: 'src', target: 'dst', sync: 'full' },
      { onReady: 'complete' },
    );
    expect(outcome).toMatchObject({ id: 'm1', status: 'completed', readyAction: 'complete' });
    // `ready` was never sent to this client: it learned it from query-jobs after reconnecting.
    expect(outcome.statuses).toContain('ready');
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({
      missed: expect.arrayContaining([expect.objectContaining({ id: 'm1', to: 'ready' })]),
    });
  });
});

describe('the client meets each fault and carries its job through', () => {
  /** The plan's firings, read through the client (`x-qmpkit-fault` is in the schema with faults). */
  async function firedKinds(client: QmpClient): Promise<string[]> {
    // An extension command: outside the client's QEMU command types.
    const execute = client.execute.bind(client) as unknown as (name: string) => Promise<unknown>;
    const plan = (await execute('x-qmpkit-fault')) as { fired: { kind: string }[] };
    return plan.fired.map((f) => f.kind);
  }

  test.each([
    // A command's later events (job-complete's waiting … null) before its reply.
    ['events-first', 'events-first,command=job-complete'],
    // Several replies and events in one read.
    ['coalesce', 'coalesce,ms=20'],
    // Replies late and out of step with the events.
    ['delay-reply', 'delay-reply,ms=20,jitter=20'],
    // Every message in pieces.
    ['split', 'split,pieces=4'],
  ])('%s: runJob takes a mirror to READY and completes it', async (kind, fault) => {
    const server = await startServer(['--throughput', '4G', '--fault-seed', '3', '--fault', fault]);
    const client = await connectQmp({ path: server.socketPath });
    cleanups.push(() => client.close());
    const outcome = await client.runJob(
      'blockdev-mirror',
      { 'job-id': 'm1', device: 'src', target: 'dst', sync: 'full' },
      { onReady: 'complete' },
    );
    expect(outcome).toMatchObject({ id: 'm1', status: 'completed', readyAction: 'complete' });
    expect(outcome.statuses).toEqual(expect.arrayContaining(['ready', 'concluded']));
    expect(await firedKinds(client)).toContain(kind);
  });

  test('io-error: ENOSPC at 40% of the target fails the mirror with its errno (on-target-error=report)', async () => {
    const server = await startServer([
      '--throughput',
      '4G',
      '--fault',
      'io-error,node=dst,at=40,errno=ENOSPC',
    ]);
    const client = await connectQmp({ path: server.socketPath });
    cleanups.push(() => client.close());
    const outcome = await client
      .runJob(
        'blockdev-mirror',
        { 'job-id': 'm1', device: 'src', target: 'dst', sync: 'full', 'on-target-error': 'report' },
        { onReady: 'complete' },
      )
      .catch((error: unknown) => error);
    // QEMU's mirror reports the failed write's errno as the job's error (strerror's text).
    expect(outcome).toMatchObject({ id: 'm1', status: 'failed', error: 'No space left on device' });
    expect(await firedKinds(client)).toEqual(['io-error']);
  });
});

test("the README's slow and stalled progress example runs as written", async () => {
  const script = readmeExample(
    '../../server-app/README.md',
    'Slow or stalled progress (`slow-progress`, `stall-progress`)',
  );
  const run = await runScript(script, 'qmpkit-readme-progress-');
  cleanups.push(run.cleanUp);
  expect(run.code, run.output).toBe(0);
  // 32 MiB of 1 GiB after 2 s at 16 MiB/s; the same a minute later, stalled; then ready.
  expect(run.output.match(/m0 +mirror +running +3\.1%/g)).toHaveLength(2);
  expect(run.output).toMatch(/m0 +mirror +ready +100\.0%/);
  expect(run.output).toContain('"fault": "stall-progress,job=m0"');
});
