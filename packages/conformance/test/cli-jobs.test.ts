// `qmpkit jobs`, `jobs watch` and `run`, end to end: the built bin driving real block jobs. The
// expected statuses, numbers and error texts are QEMU's: the job events a second client sees on
// QEMU's other monitor, its query answers, and the verified reference (job-semantics §5–§8).
// The same tests run against qmpkit-server: what the CLI shows must not depend on which of the
// two it talks to.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JobStatus } from '@qmpkit/client';
import { HANG_GUARD_MS, until } from '@qmpkit/test-support';
import { afterEach, describe, expect, test } from 'vitest';
import { qemuImg, requireQemu } from '../src/daemon.js';
import {
  collapse,
  ndjson,
  runCli,
  spawnCli,
  startTarget,
  type Target,
  type TargetName,
} from './cli-harness.js';

requireQemu();

const JOB_TARGETS: readonly TargetName[] = ['qemu', 'qmpkit-server'];

const MiB = 1024 * 1024;

const targets: Target[] = [];
afterEach(async () => {
  await Promise.all(targets.splice(0).map((t) => t.stop()));
});

async function start(name: TargetName, blockdevs: readonly string[]): Promise<Target> {
  const target = await startTarget(name, blockdevs);
  targets.push(target);
  return target;
}

const nullNode = (name: string, size: number) => `null-co,node-name=${name},size=${size}`;

/** Every status QEMU announces for job `id`, seen by the test's own client. */
function recordStatuses(target: Target, id: string): JobStatus[] {
  const statuses: JobStatus[] = [];
  const stream = target.check.events({ names: ['JOB_STATUS_CHANGE'] });
  void (async () => {
    for await (const event of stream) if (event.data.id === id) statuses.push(event.data.status);
  })();
  return statuses;
}

describe.each(JOB_TARGETS)('job commands against %s', (name) => {
  test('jobs and jobs --json: type, status, progress, speed, error', async () => {
    const target = await start(name, [nullNode('src', 64 * MiB), nullNode('dst', 64 * MiB)]);
    // speed=1: the mirror copies one 16 MiB chunk, then sleeps (job-semantics §8.3).
    await target.check.execute('blockdev-mirror', {
      'job-id': 'm1',
      device: 'src',
      target: 'dst',
      sync: 'full',
      speed: 1,
    });
    let info: { 'current-progress': number; 'total-progress': number } | undefined;
    await until(async () => {
      const jobs = await target.check.execute('query-jobs');
      info = jobs.find((j) => j.id === 'm1');
      return info !== undefined && info['current-progress'] > 0;
    }, 'the first chunk');
    const json = await runCli(['jobs', '--json', '--socket', target.cliSocket]);
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    const current = info?.['current-progress'] ?? -1;
    const total = info?.['total-progress'] ?? -1;
    expect(current).toBe(16 * MiB);
    expect(total).toBe(64 * MiB);
    expect(JSON.parse(json.stdout)).toEqual([
      {
        id: 'm1',
        type: 'mirror',
        status: 'running',
        current,
        total,
        percent: 25,
        speed: 1,
        error: null,
      },
    ]);
    const table = await runCli(['jobs', '--socket', target.cliSocket]);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+TYPE\s+STATUS\s+PROGRESS\s+SPEED\s+ERROR$/);
    expect(table.stdout.split('\n')[1]).toMatch(
      /^m1\s+mirror\s+running\s+25\.0% \(16\.0 MiB \/ 64\.0 MiB\)\s+1 B\/s$/,
    );
    await target.check.execute('job-cancel', { id: 'm1' });
  });

  test('jobs --json shows a concluded job with QEMU error (auto-dismiss off)', async () => {
    const target = await start(name, [nullNode('src', 64 * MiB), nullNode('dst', 64 * MiB)]);
    await target.check.execute('blockdev-mirror', {
      'job-id': 'm2',
      device: 'src',
      target: 'dst',
      sync: 'full',
      speed: 1,
      'auto-dismiss': false,
    });
    await target.check.execute('job-cancel', { id: 'm2' });
    await target.check.waitForJob('m2', 'concluded', { timeoutMs: HANG_GUARD_MS });
    const run = await runCli(['jobs', '--json', '--socket', target.cliSocket]);
    // job-semantics §6.3: after a hard cancel query-jobs reports "Operation canceled".
    expect(JSON.parse(run.stdout)).toMatchObject([
      { id: 'm2', type: 'mirror', status: 'concluded', error: 'Operation canceled' },
    ]);
  });

  test('jobs watch --json follows a whole mirror lifecycle, one object per change', async () => {
    const target = await start(name, [
      nullNode('src', 256 * MiB),
      nullNode('dst', 256 * MiB),
      nullNode('s-src', 64 * MiB),
      nullNode('s-dst', 64 * MiB),
    ]);
    // A job that is there before the watcher starts: its first record says the watcher is
    // listening, so no event of the job under test can fall before it.
    await target.check.execute('blockdev-mirror', {
      'job-id': 'sentinel',
      device: 's-src',
      target: 's-dst',
      sync: 'full',
      speed: 1,
    });
    const watch = spawnCli([
      'jobs',
      'watch',
      '--json',
      '--until-idle',
      '--interval',
      '50',
      '--socket',
      target.cliSocket,
    ]);
    await watch.waitForLine((line) => line.includes('"sentinel"'));
    const seen = recordStatuses(target, 'm1');
    const outcome = await target.check.runJob(
      'blockdev-mirror',
      { 'job-id': 'm1', device: 'src', target: 'dst', sync: 'full' },
      { onReady: 'complete' },
    );
    expect(outcome.status).toBe('completed');
    await target.check.execute('job-cancel', { id: 'sentinel' });
    const run = await watch.done;
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0); // --until-idle: no job left
    const records = ndjson(run.stdout);
    for (const record of records) {
      expect(Object.keys(record)).toEqual([
        'time',
        'id',
        'type',
        'status',
        'current',
        'total',
        'percent',
        'rate',
        'eta',
        'speed',
        'error',
      ]);
    }
    const m1 = records.filter((r) => r.id === 'm1');
    // QEMU's sequence (job-semantics §6.2), as QEMU announced it to the other monitor.
    expect(seen).toEqual([
      'created',
      'running',
      'ready',
      'waiting',
      'pending',
      'concluded',
      'null',
    ]);
    expect(collapse(m1.map((r) => r.status))).toEqual(seen);
    const percents = m1.map((r) => r.percent).filter((p): p is number => typeof p === 'number');
    for (let i = 1; i < percents.length; i++) {
      expect(percents[i]).toBeGreaterThanOrEqual(percents[i - 1] as number);
    }
    expect(m1.at(-1)).toMatchObject({
      status: 'null',
      type: 'mirror',
      current: 256 * MiB,
      total: 256 * MiB,
      percent: 100,
      speed: 0,
      error: null,
    });
    expect(collapse(records.filter((r) => r.id === 'sentinel').map((r) => r.status))).toEqual([
      'running',
      'aborting',
      'concluded',
      'null',
    ]);
  });

  test('run mirror --complete: progress, exit 0, the job is gone', async () => {
    const target = await start(name, [nullNode('src', 64 * MiB), nullNode('dst', 64 * MiB)]);
    const seen = recordStatuses(target, 'src');
    const run = await runCli([
      'run',
      'mirror',
      '--device',
      'src',
      '--target',
      'dst',
      '--complete',
      '--socket',
      target.cliSocket,
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('src: completed\n');
    // Not a terminal: one stderr line per status, QEMU's statuses in QEMU's order.
    expect(run.stderr.split('\n').filter(Boolean)).toEqual(seen.map((s) => `src: ${s}`));
    expect(seen).toEqual([
      'created',
      'running',
      'ready',
      'waiting',
      'pending',
      'concluded',
      'null',
    ]);
    expect(await target.check.execute('query-jobs')).toEqual([]);
  });

  test('run backup --json: NDJSON records, then the outcome', async () => {
    const target = await start(name, [nullNode('a', 32 * MiB), nullNode('b', 32 * MiB)]);
    const seen = recordStatuses(target, 'b1');
    const run = await runCli([
      'run',
      'backup',
      '--device',
      'a',
      '--target',
      'b',
      '--job-id',
      'b1',
      '--speed',
      '64M',
      '--json',
      '--socket',
      target.cliSocket,
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = ndjson(run.stdout);
    expect(lines.at(-1)).toEqual({ outcome: 'completed', id: 'b1', error: null });
    const records = lines.slice(0, -1);
    expect(collapse(records.map((r) => r.status))).toEqual(seen);
    // job-semantics §5.7: backup starts inside the transaction's drained section.
    expect(seen).toEqual([
      'created',
      'running',
      'paused',
      'running',
      'waiting',
      'pending',
      'concluded',
      'null',
    ]);
    expect(records.at(-1)).toMatchObject({ type: 'backup', speed: 64 * MiB, percent: 100 });
    // run knows the job's type before QEMU announces the job.
    expect(records.map((r) => r.type)).toEqual(records.map(() => 'backup'));
  });

  test('run commit (non-active), run stream, then an active commit with --complete, on a qcow2 chain', async () => {
    const target = await start(name, []);
    const path = (node: string) => join(target.daemon.dir, `${node}.qcow2`);
    qemuImg(['create', '-q', '-f', 'qcow2', path('base'), '8M']);
    qemuImg(['create', '-q', '-f', 'qcow2', '-b', path('base'), '-F', 'qcow2', path('mid')]);
    qemuImg(['create', '-q', '-f', 'qcow2', '-b', path('mid'), '-F', 'qcow2', path('top')]);
    let backing: string | null = null;
    for (const node of ['base', 'mid', 'top']) {
      await target.check.execute('blockdev-add', {
        driver: 'qcow2',
        'node-name': node,
        file: { driver: 'file', filename: path(node) },
        backing,
      });
      backing = node;
    }
    const socket = ['--socket', target.cliSocket];

    const committed = recordStatuses(target, 'c1');
    const commit = await runCli([
      'run',
      'commit',
      '--device',
      'top',
      '--top-node',
      'mid',
      '--base-node',
      'base',
      '--job-id',
      'c1',
      ...socket,
    ]);
    expect(commit).toMatchObject({ code: 0, stdout: 'c1: completed\n' });
    expect(committed).toEqual(['created', 'running', 'waiting', 'pending', 'concluded', 'null']);

    // After that commit the chain is base ← top.
    const streamed = recordStatuses(target, 's1');
    const stream = await runCli([
      'run',
      'stream',
      '--device',
      'top',
      '--base-node',
      'base',
      '--job-id',
      's1',
      ...socket,
    ]);
    expect(stream).toMatchObject({ code: 0, stdout: 's1: completed\n' });
    // job-semantics §5.6.
    expect(streamed).toEqual(['created', 'running', 'waiting', 'pending', 'concluded', 'null']);

    // Committing the active layer runs the mirror engine: it becomes ready (§5.1).
    const active = recordStatuses(target, 'c2');
    const activeCommit = await runCli([
      'run',
      'commit',
      '--device',
      'top',
      '--job-id',
      'c2',
      '--complete',
      ...socket,
    ]);
    expect(activeCommit).toMatchObject({ code: 0, stdout: 'c2: completed\n' });
    expect(active).toEqual([
      'created',
      'running',
      'ready',
      'waiting',
      'pending',
      'concluded',
      'null',
    ]);
  });

  test("run with a missing device: exit 1, QEMU's error", async () => {
    const target = await start(name, [nullNode('dst', MiB)]);
    // job-semantics §5.4.
    const mirror = await runCli([
      'run',
      'mirror',
      '--device',
      'nope',
      '--target',
      'dst',
      '--complete',
      '--socket',
      target.cliSocket,
    ]);
    expect(mirror).toMatchObject({
      code: 1,
      stdout: '',
      stderr: "GenericError: Cannot find device='nope' nor node-name='nope'\n",
    });
    const commit = await runCli([
      'run',
      'commit',
      '--device',
      'nope',
      '--socket',
      target.cliSocket,
    ]);
    expect(commit).toMatchObject({ code: 1, stderr: "DeviceNotFound: Device 'nope' not found\n" });
  });

  test("a job that fails: exit 1 with QEMU's error text", async () => {
    // job-semantics §5.4: a mirror onto a smaller target starts, then fails.
    const target = await start(name, [nullNode('big', 64 * MiB), nullNode('small', 32 * MiB)]);
    const run = await runCli([
      'run',
      'mirror',
      '--device',
      'big',
      '--target',
      'small',
      '--job-id',
      'bad',
      '--complete',
      '--socket',
      target.cliSocket,
    ]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr.split('\n').filter(Boolean).at(-1)).toBe(
      'qmpkit: job bad failed: Source and target image have different sizes',
    );
  });

  test('Ctrl-C during run cancels the job and exits 130', async () => {
    const target = await start(name, [nullNode('src', 64 * MiB), nullNode('dst', 64 * MiB)]);
    const seen = recordStatuses(target, 'src');
    // Without --complete or --cancel-on-ready a mirror stays ready.
    const child = spawnCli([
      'run',
      'mirror',
      '--device',
      'src',
      '--target',
      'dst',
      '--socket',
      target.cliSocket,
    ]);
    await until(() => seen.includes('ready'), 'ready');
    child.kill('SIGINT');
    const run = await child.done;
    expect(run.code).toBe(130);
    expect(run.stderr).toContain('qmpkit: interrupted; job src was cancelled\n');
    // job-semantics §6.3: job-cancel of a ready mirror.
    expect(seen).toEqual(['created', 'running', 'ready', 'aborting', 'concluded', 'null']);
    expect(await target.check.execute('query-jobs')).toEqual([]);
  });
});

// Needs QEMU's NBD export to write to the mirror's source while it is ready (qmpkit-server has
// no NBD server): QEMU only.
describe('jobs watch while a ready mirror grows (qemu)', () => {
  test("the total follows QEMU's growing estimate; the percentage never goes back", async () => {
    const nbdDir = mkdtempSync(join(tmpdir(), 'qmpkit-nbd-'));
    const nbd = join(nbdDir, 'nbd.sock');
    try {
      const target = await startTarget(
        'qemu',
        [nullNode('src', 64 * MiB), nullNode('dst', 64 * MiB)],
        [
          '--nbd-server',
          `addr.type=unix,addr.path=${nbd}`,
          '--export',
          'type=nbd,id=e0,node-name=src,writable=on',
        ],
      );
      targets.push(target);
      await target.check.execute('blockdev-mirror', {
        'job-id': 'm1',
        device: 'src',
        target: 'dst',
        sync: 'full',
      });
      await target.check.waitForJob('m1', 'ready', { timeoutMs: HANG_GUARD_MS });
      const watch = spawnCli([
        'jobs',
        'watch',
        '--json',
        '--interval',
        '50',
        '--socket',
        target.cliSocket,
      ]);
      await watch.waitForLine((line) => line.includes('"total":67108864'));
      const totals: number[] = [];
      for (const offset of ['0', '8M']) {
        // job-semantics §8.1: a ready mirror's len grows with each write to its source.
        execFileSync('qemu-io', [
          '-f',
          'raw',
          '-c',
          `write ${offset} 4M`,
          `nbd+unix:///src?socket=${nbd}`,
        ]);
        let total = 0;
        await until(async () => {
          const [job] = await target.check.execute('query-jobs');
          total = Number(job?.['total-progress']);
          return Number(job?.['current-progress']) === total && total > (totals.at(-1) ?? 64 * MiB);
        }, 'the total to grow');
        totals.push(total);
        await watch.waitForLine((line) => line.includes(`"total":${total}`));
      }
      expect(totals).toEqual([68 * MiB, 72 * MiB]);
      watch.kill('SIGINT');
      const run = await watch.done;
      expect(run.code).toBe(130);
      const records = ndjson(run.stdout).filter((r) => r.id === 'm1');
      expect(records.map((r) => r.total)).toEqual(
        [...(records.map((r) => r.total) as number[])].sort((a, b) => a - b),
      );
      expect(records.map((r) => r.percent)).toEqual(records.map(() => 100));
      await target.check.execute('job-cancel', { id: 'm1' });
    } finally {
      rmSync(nbdDir, { recursive: true, force: true });
    }
  });
});
