// The dashboard with 1,000 jobs, in Debian's chromium: event-to-screen latency and memory.
//
// qmpkit-server runs 1,000 throttled mirrors (they stay running, and their progress changes at
// every poll) plus a wave of 200 short mirrors created during the measurement (status events).
// Two pages watch the same dashboard side by side:
//  - the dashboard page itself;
//  - the partner: a bare page on the same origin reading the same stream and writing each job's
//    latest message into one text node per job — the cost of the transport and the browser alone.
// For every row change each page records, after the next animation frame (the frame that paints
// it), `Date.now() - at`, where `at` is when the dashboard received the QMP message behind the
// change. Memory: each page's JS heap and DOM node count, and the dashboard's Node heap.
// Run after `pnpm build`. Prints one line per figure: `name: value unit`.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectQmp } from '@qmpkit/client/node';
import { startDashboard } from '@qmpkit/dashboard/node';
import { chromium } from 'playwright-core';

const SERVER_BIN = fileURLToPath(
  new URL('dist/bin/qmpkit-server.js', import.meta.resolve('@qmpkit/server-app/package.json')),
);
const JOBS = 1000;
const WAVE = 200;
const MEASURE_MS = 15_000;
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

const dir = mkdtempSync(join(tmpdir(), 'qmpkit-dash-bench-'));
const socket = join(dir, 'qmp.sock');
const server = spawn(process.execPath, [SERVER_BIN, '--socket', socket, '--serve-all-clients'], {
  stdio: 'ignore',
});
const cleanup = [];
try {
  const deadline = Date.now() + 20_000;
  while (!existsSync(socket)) {
    if (Date.now() > deadline || server.exitCode !== null) throw new Error('server did not start');
    await new Promise((r) => setTimeout(r, 20));
  }
  const qmp = await connectQmp({ path: socket });
  cleanup.push(() => qmp.close());
  const adds = [];
  for (let i = 0; i < JOBS + WAVE; i++) {
    adds.push(qmp.execute('blockdev-add', { driver: 'null-co', 'node-name': `s${i}`, size: GiB }));
    adds.push(qmp.execute('blockdev-add', { driver: 'null-co', 'node-name': `t${i}`, size: GiB }));
  }
  await Promise.all(adds);
  await Promise.all(
    Array.from({ length: JOBS }, (_, i) =>
      qmp.execute('blockdev-mirror', {
        'job-id': `j${i}`,
        device: `s${i}`,
        target: `t${i}`,
        sync: 'full',
        speed: MiB, // 1 MiB/s: running for the whole bench, progress at every poll
      }),
    ),
  );

  // `pnpm bench` runs this with --expose-gc: the heap figures are after a full collection.
  globalThis.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const dashboard = await startDashboard({
    targets: [{ name: 'bench', target: { path: socket } }],
    port: 0,
  });
  cleanup.push(() => dashboard.close());

  // Each page in a browser of its own: a page behind another tab gets no animation frames.
  const browser = async () => {
    const profile = mkdtempSync(join(tmpdir(), 'qmpkit-chromium-'));
    cleanup.push(() => rmSync(profile, { recursive: true, force: true }));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      viewport: { width: 1400, height: 900 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    cleanup.push(() => context.close());
    return context;
  };
  const context = await browser();
  const partnerContext = await browser();
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(dashboard.url);
  const partner = partnerContext.pages()[0] ?? (await partnerContext.newPage());
  // Same origin (so the stream is allowed), a page with nothing of the dashboard's.
  await partner.goto(new URL('metrics', dashboard.url).href);
  await partner.evaluate(() => {
    window.latencies = [];
    const cells = new Map();
    const source = new EventSource('/events');
    source.onmessage = (event) => {
      const message = JSON.parse(event.data);
      for (const job of message.jobs) {
        let cell = cells.get(job.key);
        if (cell === undefined) {
          cell = document.createElement('div');
          document.body.append(cell);
          cells.set(job.key, cell);
        }
        cell.textContent = `${job.id} ${job.status} ${job.current}/${job.total}`;
        const at = job.at;
        if (message.type === 'update') {
          requestAnimationFrame(() => window.latencies.push(Date.now() - at));
        }
      }
    };
  });
  // Dashboard page: every change of a row's `data-at` (set when the row is updated).
  await page.waitForFunction((n) => document.querySelectorAll('tr.job').length >= n, JOBS, {
    timeout: 120_000,
  });
  await page.evaluate(() => {
    window.latencies = [];
    new MutationObserver((records) => {
      for (const record of records) {
        const at = Number(record.target.dataset.at);
        requestAnimationFrame(() => window.latencies.push(Date.now() - at));
      }
    }).observe(document.getElementById('targets'), {
      subtree: true,
      attributes: true,
      attributeFilter: ['data-at'],
    });
  });
  await partner.evaluate(() => {
    window.latencies = [];
  });

  // The measurement: polled progress of 1,000 jobs, plus a wave of short mirrors (events).
  const started = Date.now();
  await Promise.all(
    Array.from({ length: WAVE }, (_, k) =>
      qmp.execute('blockdev-mirror', {
        'job-id': `w${k}`,
        device: `s${JOBS + k}`,
        target: `t${JOBS + k}`,
        sync: 'none',
      }),
    ),
  );
  await new Promise((r) => setTimeout(r, Math.max(0, MEASURE_MS - (Date.now() - started))));

  const frames = await page.evaluate(
    () =>
      new Promise((resolve) => {
        let n = 0;
        const longest = [];
        let last = performance.now();
        const step = (t) => {
          longest.push(t - last);
          last = t;
          if (++n < 30) requestAnimationFrame(step);
          else resolve(Math.max(...longest));
        };
        requestAnimationFrame(step);
      }),
  );
  const collect = (p) => p.evaluate(() => window.latencies.slice());
  const [mine, theirs] = await Promise.all([collect(page), collect(partner)]);
  const metrics = async (p) => {
    const cdp = await p.context().newCDPSession(p);
    await cdp.send('Performance.enable');
    const { metrics: list } = await cdp.send('Performance.getMetrics');
    const get = (name) => list.find((m) => m.name === name)?.value ?? Number.NaN;
    return {
      heap: get('JSHeapUsedSize'),
      nodes: get('Nodes'),
    };
  };
  const [mineMem, theirMem] = [await metrics(page), await metrics(partner)];
  globalThis.gc?.();
  const heapAfter = process.memoryUsage().heapUsed;

  const pct = (values, p) => {
    const sorted = values.slice().sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;
  };
  const rows = await page.$$eval('tr.job', (r) => r.length);
  console.log(`dashboard-1000-jobs-rows-shown: ${rows} rows`);
  console.log(`dashboard-1000-jobs-row-updates-measured: ${mine.length} updates`);
  console.log(`dashboard-1000-jobs-event-to-screen-p50: ${pct(mine, 50)} ms`);
  console.log(`dashboard-1000-jobs-event-to-screen-p95: ${pct(mine, 95)} ms`);
  console.log(`dashboard-1000-jobs-event-to-screen-max: ${pct(mine, 100)} ms`);
  console.log(`bare-stream-page-1000-jobs-event-to-screen-p50: ${pct(theirs, 50)} ms`);
  console.log(`bare-stream-page-1000-jobs-event-to-screen-p95: ${pct(theirs, 95)} ms`);
  console.log(
    `dashboard-vs-bare-page-event-to-screen-p95-ratio: ${(pct(mine, 95) / pct(theirs, 95)).toFixed(2)} x`,
  );
  console.log(`dashboard-page-1000-jobs-longest-of-30-frames: ${frames.toFixed(0)} ms`);
  console.log(`dashboard-page-1000-jobs-js-heap: ${(mineMem.heap / MiB).toFixed(1)} MiB`);
  console.log(`bare-stream-page-1000-jobs-js-heap: ${(theirMem.heap / MiB).toFixed(1)} MiB`);
  console.log(`dashboard-page-1000-jobs-dom-nodes: ${mineMem.nodes} nodes`);
  console.log(
    `dashboard-server-1000-jobs-heap-growth: ${((heapAfter - heapBefore) / MiB).toFixed(1)} MiB`,
  );
} finally {
  for (const step of cleanup.reverse()) await step();
  await new Promise((resolve) => {
    if (server.exitCode !== null) return resolve();
    server.once('exit', resolve);
    server.kill('SIGTERM');
  });
  rmSync(dir, { recursive: true, force: true });
}
