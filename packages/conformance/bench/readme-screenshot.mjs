// Takes the screenshot in packages/dashboard/README.md: qmpkit-server --demo watched by the
// dashboard while a mirror completes, a second mirror is ready, a throttled backup runs and a
// backup fails on an injected I/O error. Run after `pnpm build`:
//   node packages/conformance/bench/readme-screenshot.mjs packages/dashboard/docs/dashboard.png
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectQmp } from '@qmpkit/client/node';
import { startDashboard } from '@qmpkit/dashboard/node';
import { launchChromium, runScript } from './chromium.mjs';

const out = resolve(process.argv[2] ?? 'dashboard.png');
const SERVER_BIN = fileURLToPath(
  new URL('dist/bin/qmpkit-server.js', import.meta.resolve('@qmpkit/server-app/package.json')),
);
const MiB = 1024 * 1024;
const until = async (check) => {
  const deadline = Date.now() + 60_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
};

// Everything it starts or writes is cleaned up, also on Ctrl-C or SIGTERM (runScript).
await runScript(async (cleanup) => {
  const dir = mkdtempSync(join(tmpdir(), 'qmpkit-shot-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const socket = join(dir, 'qmp.sock');
  const server = spawn(process.execPath, [SERVER_BIN, '--demo', '--socket', socket], {
    cwd: dir,
    stdio: 'ignore',
  });
  cleanup.push(
    () =>
      new Promise((r) => {
        if (server.exitCode !== null || server.signalCode !== null) return r();
        server.once('exit', r);
        server.kill('SIGTERM');
      }),
  );
  await until(() => existsSync(socket) || server.exitCode !== null);
  const qmp = await connectQmp({ path: socket });
  cleanup.push(() => qmp.close());
  const dashboard = await startDashboard({
    targets: [{ name: 'vm1 (qmpkit-server --demo)', target: { path: socket } }],
    port: 0,
    pollIntervalMs: 250,
  });
  cleanup.push(() => dashboard.close());
  const browser = await launchChromium({ width: 1400, height: 620 }, { handleSignals: false });
  cleanup.push(() => browser.close());
  const page = await browser.newPage();
  await page.goto(dashboard.url);
  const jobs = async () => qmp.execute('query-jobs');
  const statusOf = async (id) => (await jobs()).find((j) => j.id === id)?.status;
  // A mirror that completes after ready.
  await qmp.execute('blockdev-add', { driver: 'null-co', 'node-name': 'small', size: 2048 * MiB });
  await qmp.execute('blockdev-add', { driver: 'null-co', 'node-name': 'copy', size: 2048 * MiB });
  await qmp.execute('blockdev-mirror', {
    'job-id': 'migrate-boot',
    device: 'small',
    target: 'copy',
    sync: 'full',
    speed: 1024 * MiB,
  });
  await until(async () => (await statusOf('migrate-boot')) === 'ready');
  await qmp.execute('job-complete', { id: 'migrate-boot' });
  // A backup that fails on an injected read error.
  await qmp.execute('blockdev-add', {
    driver: 'null-co',
    'node-name': 'flaky-src',
    size: 256 * MiB,
  });
  await qmp.execute('blockdev-add', {
    driver: 'blkdebug',
    'node-name': 'flaky',
    image: 'flaky-src',
    'inject-error': [{ event: 'none', iotype: 'read', errno: 5, sector: 65536 }],
  });
  await qmp.execute('blockdev-add', {
    driver: 'null-co',
    'node-name': 'flaky-dst',
    size: 256 * MiB,
  });
  await qmp
    .execute('blockdev-backup', {
      'job-id': 'nightly-backup',
      device: 'flaky',
      target: 'flaky-dst',
      sync: 'full',
      'on-source-error': 'report',
    })
    .catch(() => {});
  // A mirror that stays ready, and a throttled one still running.
  await qmp.execute('blockdev-mirror', {
    'job-id': 'mirror-data',
    device: 'disk0',
    target: 'disk1',
    sync: 'full',
    speed: 2048 * MiB,
  });
  // Big enough to be still running when the picture is taken, however loaded the machine.
  await qmp.execute('blockdev-add', { driver: 'null-co', 'node-name': 'big', size: 65536 * MiB });
  await qmp.execute('blockdev-add', {
    driver: 'null-co',
    'node-name': 'big-copy',
    size: 65536 * MiB,
  });
  await qmp.execute('blockdev-backup', {
    'job-id': 'backup-logs',
    device: 'big',
    target: 'big-copy',
    sync: 'full',
    speed: 300 * MiB,
  });
  await until(async () => (await statusOf('mirror-data')) === 'ready');
  // Until the page shows it: the row and the lane ready, the failed backup ended in both.
  await page.waitForFunction(
    () =>
      document.querySelector('tr.job[data-id="mirror-data"]')?.dataset.status === 'ready' &&
      document.querySelector('#timeline-lanes li[data-id="mirror-data"] [data-status="ready"]') &&
      document.querySelector('#timeline-lanes li[data-id="nightly-backup"] [data-status="null"]'),
    undefined,
    { timeout: 60_000, polling: 100 },
  );
  await page.screenshot({ path: out });
  console.log(`wrote ${out}`);
});
