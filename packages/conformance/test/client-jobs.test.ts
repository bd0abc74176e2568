// @qmpkit/client's job helpers driving real qemu-storage-daemon jobs: mirror (ready → complete,
// ready → cancel), stream and commit on qcow2 chains, backup, blockdev-create, auto-finalize and
// auto-dismiss off, a grouped transaction.
import { join } from 'node:path';
import type { JobProgress, JobStatus, QmpClient } from '@qmpkit/client';
import { connectQmp } from '@qmpkit/client/node';
import { afterEach, describe, expect, test } from 'vitest';
import { type Daemon, qemuImg, requireQemu, startQemuStorageDaemon } from '../src/daemon.js';

requireQemu();

const MiB = 1024 * 1024;

const daemons: Daemon[] = [];
const clients: QmpClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(daemons.splice(0).map((d) => d.stop()));
});

async function start(blockdevs: string[] = []) {
  const daemon = await startQemuStorageDaemon({ blockdevs });
  daemons.push(daemon);
  const client = await connectQmp({ path: daemon.socketPath });
  clients.push(client);
  return { daemon, client };
}

/** base ← mid ← top, qcow2, made by qemu-img, opened with blockdev-add under those node names. */
async function qcow2Chain(client: QmpClient, dir: string, size = '8M') {
  const path = (name: string) => join(dir, `${name}.qcow2`);
  qemuImg(['create', '-q', '-f', 'qcow2', path('base'), size]);
  qemuImg(['create', '-q', '-f', 'qcow2', '-b', path('base'), '-F', 'qcow2', path('mid')]);
  qemuImg(['create', '-q', '-f', 'qcow2', '-b', path('mid'), '-F', 'qcow2', path('top')]);
  let backing: string | null = null;
  for (const name of ['base', 'mid', 'top']) {
    await client.execute('blockdev-add', {
      driver: 'qcow2',
      'node-name': name,
      file: { driver: 'file', filename: path(name) },
      backing,
    });
    backing = name;
  }
  return path;
}

function nullPair(name: string, size: number): string[] {
  return [
    `null-co,node-name=${name}-src,size=${size}`,
    `null-co,node-name=${name}-dst,size=${size}`,
  ];
}

describe('runJob on a real qemu-storage-daemon', () => {
  test('mirror: ready → complete; progress is monotonic and ends at 100 %', async () => {
    const { client } = await start(nullPair('m', 256 * MiB));
    const statuses: JobStatus[] = [];
    const reports: JobProgress[] = [];
    const outcome = await client.runJob(
      'blockdev-mirror',
      { 'job-id': 'm1', device: 'm-src', target: 'm-dst', sync: 'full' },
      {
        onReady: 'complete',
        onStatus: (s) => statuses.push(s),
        onProgress: (p) => reports.push(p),
        progressIntervalMs: 5,
      },
    );
    expect(outcome).toMatchObject({ id: 'm1', status: 'completed', readyAction: 'complete' });
    expect(outcome.error).toBeUndefined();
    expect(statuses).toEqual([
      'created',
      'running',
      'ready',
      'waiting',
      'pending',
      'concluded',
      'null',
    ]);
    expect(outcome.progress).toMatchObject({ current: 256 * MiB, total: 256 * MiB, fraction: 1 });
    for (let i = 1; i < reports.length; i++) {
      expect(reports[i]?.fraction).toBeGreaterThanOrEqual(reports[i - 1]?.fraction ?? 0);
    }
    expect(await client.execute('query-jobs')).toEqual([]);
  });

  test("mirror: ready → 'cancel' (job-cancel) ends cancelled; 'soft-cancel' completes without pivot", async () => {
    const { client } = await start([...nullPair('a', 64 * MiB), ...nullPair('b', 64 * MiB)]);
    const statuses: JobStatus[] = [];
    const cancelled = await client.runJob(
      'blockdev-mirror',
      { 'job-id': 'a1', device: 'a-src', target: 'a-dst', sync: 'full', 'auto-dismiss': false },
      { onReady: 'cancel', onStatus: (s) => statuses.push(s) },
    );
    // After a hard cancel query-jobs reports "Operation canceled" (§6.3)
    expect(cancelled).toMatchObject({ status: 'cancelled', error: 'Operation canceled' });
    expect(statuses).toEqual(['created', 'running', 'ready', 'aborting', 'concluded', 'null']);
    const soft = await client.runJob(
      'blockdev-mirror',
      { 'job-id': 'b1', device: 'b-src', target: 'b-dst', sync: 'full' },
      { onReady: 'soft-cancel' },
    );
    expect(soft).toMatchObject({ status: 'completed', readyAction: 'soft-cancel' });
    expect(soft.statuses).toEqual([
      'created',
      'running',
      'ready',
      'waiting',
      'pending',
      'concluded',
      'null',
    ]);
  });

  test('stream on a qcow2 chain (base ← mid ← top)', async () => {
    const { client, daemon } = await start();
    await qcow2Chain(client, daemon.dir);
    const outcome = await client.runJob('block-stream', { 'job-id': 's1', device: 'top' });
    expect(outcome).toMatchObject({ status: 'completed', progress: { fraction: 1 } });
    expect(outcome.statuses).toEqual([
      'created',
      'running',
      'waiting',
      'pending',
      'concluded',
      'null',
    ]);
    // top no longer has a backing file
    const [top] = (await client.execute('query-named-block-nodes', { flat: true })).filter(
      (n) => n['node-name'] === 'top',
    );
    expect(top?.image['backing-filename']).toBeUndefined();
  });

  test('commit: non-active (mid into base) runs to completion; active (top) goes through ready', async () => {
    const { client, daemon } = await start();
    await qcow2Chain(client, daemon.dir);
    const plain = await client.runJob('block-commit', {
      'job-id': 'c1',
      device: 'top',
      'top-node': 'mid',
      'base-node': 'base',
    });
    expect(plain).toMatchObject({ status: 'completed' });
    expect(plain.statuses).not.toContain('ready');
    const active = await client.runJob('block-commit', { 'job-id': 'c2', device: 'top' });
    expect(active).toMatchObject({ status: 'completed', readyAction: 'complete' });
    expect(active.statuses).toContain('ready');
  });

  test('backup with auto-finalize and auto-dismiss off: hook, finalize, result from query-jobs, dismiss', async () => {
    const { client } = await start(nullPair('k', 64 * MiB));
    const hook: Array<string | undefined> = [];
    const outcome = await client.runJob(
      'blockdev-backup',
      {
        'job-id': 'k1',
        device: 'k-src',
        target: 'k-dst',
        sync: 'full',
        'auto-finalize': false,
        'auto-dismiss': false,
      },
      { beforeFinalize: (job) => void hook.push(job.status) },
    );
    expect(hook).toEqual(['pending']);
    expect(outcome).toMatchObject({ status: 'completed' });
    expect(outcome.statuses.slice(-4)).toEqual(['waiting', 'pending', 'concluded', 'null']);
    expect(await client.execute('query-jobs')).toEqual([]); // dismissed
  });

  test('a failing backup (size mismatch refused at creation) rejects with QEMU’s error', async () => {
    const { client } = await start([
      `null-co,node-name=x-src,size=${64 * MiB}`,
      `null-co,node-name=x-dst,size=${32 * MiB}`,
    ]);
    await expect(
      client.runJob('blockdev-backup', {
        'job-id': 'x1',
        device: 'x-src',
        target: 'x-dst',
        sync: 'full',
      }),
    ).rejects.toMatchObject({
      errorClass: 'GenericError',
      desc: 'Source and target image have different sizes',
    });
  });

  test('a failing mirror (size mismatch: the job starts, then fails, §5.4) ends failed with the error text', async () => {
    const { client } = await start([
      `null-co,node-name=y-src,size=${64 * MiB}`,
      `null-co,node-name=y-dst,size=${32 * MiB}`,
    ]);
    const outcome = await client.runJob('blockdev-mirror', {
      'job-id': 'y1',
      device: 'y-src',
      target: 'y-dst',
      sync: 'full',
    });
    expect(outcome).toMatchObject({
      status: 'failed',
      error: 'Source and target image have different sizes',
      ioErrors: 0,
    });
  });

  test('blockdev-create writes a qcow2 file; a bad size fails with the text from query-jobs', async () => {
    const { client, daemon } = await start();
    const file = join(daemon.dir, 'new.qcow2');
    const raw = await client.runJob('blockdev-create', {
      'job-id': 'cr1',
      options: { driver: 'file', filename: file, size: 0 },
    });
    expect(raw).toMatchObject({ status: 'completed', progress: { current: 1, total: 1 } });
    await client.execute('blockdev-add', {
      driver: 'file',
      'node-name': 'newfile',
      filename: file,
    });
    const qcow2 = await client.runJob('blockdev-create', {
      'job-id': 'cr2',
      options: { driver: 'qcow2', file: 'newfile', size: 4 * MiB },
    });
    expect(qcow2).toMatchObject({ status: 'completed' });
    expect(qcow2.statuses).toEqual([
      'created',
      'running',
      'waiting',
      'pending',
      'concluded',
      'null',
    ]);
    const info = JSON.parse(qemuImg(['info', '--output=json', '-U', file])) as Record<
      string,
      unknown
    >;
    expect(info).toMatchObject({ format: 'qcow2', 'virtual-size': 4 * MiB });
    const bad = await client.runJob('blockdev-create', {
      'job-id': 'cr3',
      options: { driver: 'qcow2', file: 'newfile', size: 1000 },
    });
    expect(bad).toMatchObject({
      status: 'failed',
      error: 'Image size must be a multiple of 512 bytes',
    });
    expect(await client.execute('query-jobs')).toEqual([]);
    // block-job-* cannot see create jobs (§4.2): keep one concluded and ask.
    const kept = await client.runJob(
      'blockdev-create',
      { 'job-id': 'cr4', options: { driver: 'qcow2', file: 'newfile', size: 4 * MiB } },
      { dismiss: false },
    );
    expect(kept.status).toBe('completed');
    await expect(client.execute('block-job-dismiss', { id: 'cr4' })).rejects.toMatchObject({
      errorClass: 'DeviceNotActive',
      desc: "Block job 'cr4' not found",
    });
    expect(await client.execute('job-dismiss', { id: 'cr4' })).toEqual({});
  });

  test('grouped transaction of two backups with auto-finalize off: both completed, one finalize', async () => {
    const { client } = await start([...nullPair('g1', 64 * MiB), ...nullPair('g2', 64 * MiB)]);
    // The wire order, from a stream registered before the command (each job's driver sees only
    // its own job, so the drivers' callbacks do not interleave in wire order).
    const events = client.events({ names: ['JOB_STATUS_CHANGE'] });
    const outcomes = await client.runTransaction({
      actions: [
        {
          type: 'blockdev-backup',
          data: {
            'job-id': 'g1',
            device: 'g1-src',
            target: 'g1-dst',
            sync: 'full',
            'auto-finalize': false,
          },
        },
        {
          type: 'blockdev-backup',
          data: {
            'job-id': 'g2',
            device: 'g2-src',
            target: 'g2-dst',
            sync: 'full',
            'auto-finalize': false,
          },
        },
      ],
      properties: { 'completion-mode': 'grouped' },
    });
    const transcript: string[] = [];
    while (events.queued > 0) {
      const { value } = await events.next();
      transcript.push(`${value?.data.id} ${value?.data.status}`);
    }
    expect(outcomes.map((o) => [o.id, o.status])).toEqual([
      ['g1', 'completed'],
      ['g2', 'completed'],
    ]);
    // §5.8 creation order, then both pending before either concludes
    expect(transcript.slice(0, 8)).toEqual([
      'g1 created',
      'g2 created',
      'g1 running',
      'g1 paused',
      'g2 running',
      'g2 paused',
      'g1 running',
      'g2 running',
    ]);
    const firstConcluded = transcript.findIndex((t) => t.endsWith('concluded'));
    expect(transcript.filter((t) => t.endsWith('pending'))).toHaveLength(2);
    expect(transcript.findLastIndex((t) => t.endsWith('pending'))).toBeLessThan(firstConcluded);
  });

  test('grouped transaction, one member cancelled: the other is cancelled too', async () => {
    const { client } = await start([...nullPair('h1', 64 * MiB), ...nullPair('h2', 64 * MiB)]);
    const controller = new AbortController();
    const run = client.runTransaction(
      {
        actions: [
          {
            type: 'blockdev-backup',
            data: { 'job-id': 'h1', device: 'h1-src', target: 'h1-dst', sync: 'full', speed: 1 },
          },
          {
            type: 'blockdev-backup',
            data: { 'job-id': 'h2', device: 'h2-src', target: 'h2-dst', sync: 'full', speed: 1 },
          },
        ],
        properties: { 'completion-mode': 'grouped' },
      },
      { signal: controller.signal },
    );
    await client.waitForJob('h2', 'running', { timeoutMs: 5000 });
    controller.abort();
    const outcomes = await run;
    expect(outcomes.map((o) => [o.id, o.status])).toEqual([
      ['h1', 'cancelled'],
      ['h2', 'cancelled'],
    ]);
  });
});
