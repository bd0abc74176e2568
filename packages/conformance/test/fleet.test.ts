// The README's fleet example, run as written with the built `qmpkit` and `qmpkit-server`: a mirror
// in one VM, another VM without jobs, `quit` ending one VM, SIGTERM ending the fleet; the fleet
// with faults and the linter; and this repo's client on several VMs of a fleet at once.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectQmp } from '@qmpkit/client/node';
import { until } from '@qmpkit/test-support';
import { afterEach, expect, test } from 'vitest';
import { SERVER_BIN } from './cli-harness.js';
import { readmeExample, runScript } from './readme-script.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

test("the README's fleet example runs as written", async () => {
  const script = readmeExample('../../server-app/README.md', 'Fleets (`--fleet`)');
  // The script ends with the fleet's SIGTERM; wait for its exit before looking at the files.
  const run = await runScript(
    `${script}\nwhile [ -e fleet.pid ]; do sleep 0.1; done\n`,
    'qmpkit-readme-fleet-',
  );
  cleanups.push(run.cleanUp);
  expect(run.code, run.output).toBe(0);
  expect(run.output).toContain('m7: completed');
  expect(run.output).toContain('no jobs');
  for (const vm of [0, 7, 8, 99]) expect(existsSync(join(run.dir, `vm${vm}.sock`))).toBe(false);
});

test("the README's shared bandwidth example runs as written", async () => {
  const script = readmeExample(
    '../../server-app/README.md',
    'Shared storage bandwidth (`--bandwidth`)',
  );
  const run = await runScript(
    `${script}\nwhile [ -e fleet.pid ]; do sleep 0.1; done\n`,
    'qmpkit-readme-bandwidth-',
  );
  cleanups.push(run.cleanUp);
  expect(run.code, run.output).toBe(0);
  // 64 MiB/s shared by two mirrors: 32 MiB each of 1 GiB after a second.
  expect(run.output.match(/m[01] +mirror +running +3\.1%/g)).toHaveLength(2);
});

test("the README's fleet file example runs as written", async () => {
  const script = readmeExample('../../server-app/README.md', 'Fleet files (`--fleet-file`)');
  const run = await runScript(
    `${script}\nwhile [ -e fleet.pid ]; do sleep 0.1; done\n`,
    'qmpkit-readme-fleet-file-',
  );
  cleanups.push(run.cleanUp);
  expect(run.code, run.output).toBe(0);
  // db1's mirror between its own disks completes; web1 has no such target (QEMU's message).
  expect(run.output).toContain('move-data: completed');
  expect(run.output).toContain(
    "GenericError: Cannot find device='data-new' nor node-name='data-new'",
  );
  for (const vm of ['web1', 'db1']) expect(existsSync(join(run.dir, `${vm}.sock`))).toBe(false);
});

test("the README's fleet example with faults and the linter runs as written", async () => {
  const readme = '../../server-app/README.md';
  const heading = 'A fleet with faults and the linter';
  const script = readmeExample(readme, heading);
  // The linter keeps its default polling limit: `qmpkit run` polls by the rules.
  expect(script).not.toContain('--lint-poll-interval');
  const run = await runScript(script, 'qmpkit-readme-fleet-lint-');
  cleanups.push(run.cleanUp);
  expect(run.code, run.output).toBe(0);
  // db1's fault: ENOSPC on the target at 40 %, and a mirror's default on-target-error (report)
  // fails the job with the errno's text, as QEMU's mirror does.
  expect(run.output).toContain('qmpkit: job move-data failed: No space left on device');
  expect(run.output).toContain('run mirror: exit status 1');
  expect(run.output).toMatch(/"fired": 1/);
  expect(run.output).toMatch(/"what": "ENOSPC on writes of data-new at byte \d+ \(40%\)"/);
  // web1 has no fault: its mirror runs, and job-complete is refused with QEMU's job.c text.
  expect(run.output).toContain(
    "GenericError: Job 'copy-os' in state 'running' cannot accept command verb 'complete'",
  );
  // The report at exit is the README's, finding for finding, each naming its VM.
  const text = readFileSync(fileURLToPath(new URL(readme, import.meta.url)), 'utf8');
  const section = text.slice(text.indexOf(`## ${heading}\n`));
  const shown = /```json\n([\s\S]*?)```/.exec(section)?.[1];
  expect(shown).toBeDefined();
  const report = JSON.parse(readFileSync(join(run.dir, 'lint.json'), 'utf8'));
  expect(report).toEqual(JSON.parse(shown!));
  expect(report).toEqual([
    expect.objectContaining({ vm: 'web1', rule: 'complete-before-ready', job: 'copy-os' }),
  ]);
  for (const vm of ['web1', 'db1']) expect(existsSync(join(run.dir, `${vm}.sock`))).toBe(false);
});

test("this repo's client on three VMs of a fleet at once: each runs its own mirror to the end", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qmpkit-fleet-client-'));
  const pidfile = join(dir, 'fleet.pid');
  const fleet = spawn(
    process.execPath,
    [
      SERVER_BIN,
      '--fleet',
      '3',
      '--socket',
      join(dir, 'vm%d.sock'),
      '--pidfile',
      pidfile,
      '--throughput',
      '1G',
      '--blockdev',
      'null-co,node-name=src,size=1073741824',
      '--blockdev',
      'null-co,node-name=dst,size=1073741824',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  fleet.stderr!.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  const exited = new Promise<number | null>((r) => fleet.once('exit', (code) => r(code)));
  cleanups.push(() => {
    if (fleet.exitCode === null && fleet.signalCode === null) fleet.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  await until(
    () => {
      if (fleet.exitCode !== null) throw new Error(`no fleet: ${stderr}`);
      return existsSync(pidfile);
    },
    () => `the fleet's pidfile: ${stderr}`,
  );
  const clients = await Promise.all(
    [0, 1, 2].map((vm) => connectQmp({ path: join(dir, `vm${vm}.sock`) })),
  );
  try {
    // The same job id in every VM: each VM has its own job table.
    const outcomes = await Promise.all(
      clients.map((client) =>
        client.runJob(
          'blockdev-mirror',
          { 'job-id': 'm', device: 'src', target: 'dst', sync: 'full' },
          { onReady: 'complete' },
        ),
      ),
    );
    for (const outcome of outcomes) {
      expect(outcome).toMatchObject({ id: 'm', status: 'completed', readyAction: 'complete' });
    }
    // A job in one VM is not in another.
    await clients[0]!.execute('blockdev-mirror', {
      'job-id': 'only0',
      device: 'src',
      target: 'dst',
      sync: 'full',
      speed: 1,
    });
    expect((await clients[0]!.execute('query-jobs')).map((j) => j.id)).toEqual(['only0']);
    expect(await clients[1]!.execute('query-jobs')).toEqual([]);
  } finally {
    await Promise.all(clients.map((client) => client.close()));
  }
  fleet.kill('SIGTERM');
  expect(await exited).toBe(0);
  for (const vm of [0, 1, 2]) expect(existsSync(join(dir, `vm${vm}.sock`))).toBe(false);
});
