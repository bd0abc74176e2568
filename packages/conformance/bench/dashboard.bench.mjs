// The dashboard under load, in Debian's chromium: event-to-screen latency and memory with 200
// and with 1,000 concurrent jobs (the bar: under 250 ms with 200 jobs).
//
// For each size, qmpkit-server runs that many throttled mirrors (32 MiB/s in 16 MiB chunks: each
// job's progress moves every half second, so every poll changes every row), and the bench pauses
// and resumes a few of them every 50 ms (about 200 status events a second). `qmpkit dashboard`
// (its own process, as people run it) watches the server. Two pages watch the dashboard side by
// side, each in a browser of its own:
//  - the dashboard page itself;
//  - the partner: a bare page on the same origin reading the same stream and writing each job's
//    latest message into one text node per job — the cost of the server, the transport and the
//    browser alone.
// Each page records, for every change it shows, `Date.now() - at` once the frame showing it is
// painted (a task queued from that frame's animation callbacks), where `at` is when the dashboard
// received the QMP message behind the change. The dashboard page shows the rows, the timeline
// lanes and the log entries in their scroll boxes: its changes are their `data-at` updates (for
// the timeline, drawn on a canvas, those of its list of the lanes in view, written in the same
// frame as the canvas); a log entry counts once, when it first shows. Cost: the CPU time each
// browser (all its processes) used per second of the measurement, and that of each page's
// renderer main thread (its script, style, layout and paint), per second and per message of the
// stream: what the page itself costs, which unlike its latency does not grow with the load.
// Memory: each page's JS heap and DOM node count, and the dashboard process's resident memory.
// The machine's load beside each size's figures: the 1-minute load average sampled every second
// of the measurement (lowest and highest), since on a shared machine both pages' latencies
// follow it. Run after `pnpm build`. Prints one line per figure: `name: value unit`.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectQmp } from '@qmpkit/client/node';
import { chromiumProcesses, launchChromium, runCleanup, runScript } from './chromium.mjs';

const SERVER_BIN = fileURLToPath(
  new URL('dist/bin/qmpkit-server.js', import.meta.resolve('@qmpkit/server-app/package.json')),
);
const CLI_BIN = fileURLToPath(
  new URL('dist/bin/qmpkit.js', import.meta.resolve('@qmpkit/cli/package.json')),
);
const SIZES = [200, 1000];
const MEASURE_MS = 15_000;
const CHURN_EVERY_MS = 50;
const CHURN_JOBS = 5;
const GiB = 1024 ** 3;
/** Each mirror's source: at 32 MiB/s none converges during a run (a mirror gone READY stops moving). */
const IMAGE_SIZE = 64 * GiB;
const MiB = 1024 ** 2;

const until = async (what, check, ms = 120_000) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on Linux). */
const USER_HZ = 100;

/**
 * The CPU time (ms) used so far by the live processes of a browser (its renderer, GPU and
 * browser processes and their helpers): what it costs to show the page, whatever the load.
 */
function browserCpuMs(browser) {
  let ticks = 0;
  for (const pid of chromiumProcesses(browser.group, browser.profile)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime and stime: fields 14 and 15 of stat, 12 and 13 after the command name.
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // Gone meanwhile.
    }
  }
  return (ticks * 1000) / USER_HZ;
}

/**
 * The CPU time (ms) used so far by the main threads of a browser's renderers (the thread that
 * runs the page's script, style, layout and paint): the page's own cost, which unlike its
 * latency does not grow with the machine's load. A thread's CPU times are in
 * /proc/PID/task/TID/stat; a process's main thread has TID = PID.
 */
function pageMainThreadCpuMs(browser) {
  let ticks = 0;
  for (const pid of chromiumProcesses(browser.group, browser.profile)) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('--type=renderer')) continue;
      const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // Gone meanwhile.
    }
  }
  return (ticks * 1000) / USER_HZ;
}

/** The 1-minute load average (the first field of /proc/loadavg). */
const loadAverage = () => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);

const pct = (values, p) => {
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;
};

function stopProcess(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
}

async function measure(jobs, cleanup) {
  const dir = mkdtempSync(join(tmpdir(), 'qmpkit-dash-bench-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const socket = join(dir, 'qmp.sock');
  const server = spawn(process.execPath, [SERVER_BIN, '--socket', socket, '--serve-all-clients'], {
    stdio: 'ignore',
  });
  cleanup.push(() => stopProcess(server));
  try {
    await until('qmpkit-server', () => existsSync(socket) || server.exitCode !== null);
    const qmp = await connectQmp({ path: socket });
    cleanup.push(() => qmp.close());
    const adds = [];
    for (let i = 0; i < jobs; i++) {
      adds.push(
        qmp.execute('blockdev-add', { driver: 'null-co', 'node-name': `s${i}`, size: IMAGE_SIZE }),
      );
      adds.push(
        qmp.execute('blockdev-add', { driver: 'null-co', 'node-name': `t${i}`, size: IMAGE_SIZE }),
      );
    }
    await Promise.all(adds);
    await Promise.all(
      Array.from({ length: jobs }, (_, i) =>
        qmp.execute('blockdev-mirror', {
          'job-id': `j${i}`,
          device: `s${i}`,
          target: `t${i}`,
          sync: 'full',
          speed: 32 * MiB,
        }),
      ),
    );

    const cli = spawn(
      process.execPath,
      [CLI_BIN, 'dashboard', '--socket', socket, '--listen', '127.0.0.1:0'],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    cleanup.push(() => stopProcess(cli));
    let out = '';
    cli.stdout.setEncoding('utf8').on('data', (chunk) => {
      out += chunk;
    });
    await until(
      'qmpkit dashboard',
      () => /qmpkit dashboard: \S+/.test(out) || cli.exitCode !== null,
    );
    const url = /qmpkit dashboard: (\S+)/.exec(out)?.[1];
    if (url === undefined) throw new Error('qmpkit dashboard did not start');

    const browser = await launchChromium(undefined, { handleSignals: false });
    cleanup.push(() => browser.close());
    const page = await browser.newPage();
    // Counts the stream's messages the page receives (its own handler is left as it is).
    await page.addInitScript(() => {
      window.streamMessages = 0;
      const Native = window.EventSource;
      window.EventSource = class extends Native {
        constructor(...args) {
          super(...args);
          this.addEventListener('message', () => {
            window.streamMessages++;
          });
        }
      };
    });
    await page.goto(url);
    const partnerBrowser = await launchChromium(undefined, { handleSignals: false });
    cleanup.push(() => partnerBrowser.close());
    const partner = await partnerBrowser.newPage();
    // Same origin (so the stream is allowed), a page with nothing of the dashboard's.
    await partner.goto(new URL('metrics', url).href);
    await partner.evaluate(() => {
      window.latencies = [];
      window.streamMessages = 0;
      const cells = new Map();
      const source = new EventSource('/events');
      source.onmessage = (event) => {
        window.streamMessages++;
        const message = JSON.parse(event.data);
        const shown = [];
        for (const job of message.jobs) {
          let cell = cells.get(job.key);
          if (cell === undefined) {
            cell = document.createElement('div');
            document.body.append(cell);
            cells.set(job.key, cell);
          }
          cell.textContent = `${job.id} ${job.status} ${job.current}/${job.total}`;
          shown.push(job.at);
        }
        if (message.type === 'update') {
          // After the paint of the next frame (the one that shows them): a task queued from
          // that frame's animation callbacks runs once the frame is painted.
          requestAnimationFrame(() =>
            setTimeout(() => {
              const now = Date.now();
              for (const at of shown) window.latencies.push(now - at);
            }),
          );
        }
      };
    });
    await page.waitForFunction(
      (n) => document.querySelector('section.target .summary')?.dataset.total === String(n),
      jobs,
      { timeout: 120_000, polling: 100 },
    );
    await page.evaluate(() => {
      window.latencies = [];
      window.longFrames = [];
      window.streamMessages = 0;
      const log = document.getElementById('log');
      /** The log entries shown so far (by the server's `n`): the log's items keep their place
       * and show the next entry as one arrives, so an entry is counted when it first shows. */
      const logged = new Set();
      const observer = new MutationObserver((records) => {
        // The page writes the DOM in its animation callbacks: a task queued now runs once the
        // frame showing the changes is painted (one task for all of them: the bench's own work
        // in the page stays small).
        const shown = [];
        for (const record of records) {
          if (record.target.parentNode === log) {
            if (logged.has(record.target.dataset.n)) continue;
            logged.add(record.target.dataset.n);
          }
          shown.push(Number(record.target.dataset.at));
        }
        setTimeout(() => {
          const now = Date.now();
          for (const at of shown) window.latencies.push(now - at);
        });
      });
      for (const id of ['targets', 'timeline-lanes', 'log']) {
        observer.observe(document.getElementById(id), {
          subtree: true,
          attributes: true,
          attributeFilter: ['data-at'],
        });
      }
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) window.longFrames.push(entry.duration);
      }).observe({ type: 'long-animation-frame' });
    });
    await partner.evaluate(() => {
      window.latencies = [];
      window.streamMessages = 0;
    });

    // The measurement: every job's progress at every poll, and status events from the churn.
    const cpuBefore = [browserCpuMs(browser), browserCpuMs(partnerBrowser)];
    const mainBefore = [pageMainThreadCpuMs(browser), pageMainThreadCpuMs(partnerBrowser)];
    const started = Date.now();
    const loads = [loadAverage()];
    const loadSampler = setInterval(() => loads.push(loadAverage()), 1000);
    cleanup.push(() => clearInterval(loadSampler));
    let churned = 0;
    while (Date.now() - started < MEASURE_MS) {
      const picked = Array.from({ length: CHURN_JOBS }, () => `j${(churned++ * 7919) % jobs}`);
      await Promise.all(picked.map((id) => qmp.execute('job-pause', { id })));
      await Promise.all(picked.map((id) => qmp.execute('job-resume', { id })));
      await new Promise((r) => setTimeout(r, CHURN_EVERY_MS));
    }
    clearInterval(loadSampler);
    loads.push(loadAverage());
    const elapsed = (Date.now() - started) / 1000;
    const cpuPerSecond = [browserCpuMs(browser), browserCpuMs(partnerBrowser)].map((ms, i) =>
      Math.round((ms - (cpuBefore[i] ?? 0)) / elapsed),
    );
    const mainThread = [pageMainThreadCpuMs(browser), pageMainThreadCpuMs(partnerBrowser)].map(
      (ms, i) => ms - (mainBefore[i] ?? 0),
    );
    const [mine, longFrames, myMessages] = await page.evaluate(() => [
      window.latencies,
      window.longFrames,
      window.streamMessages,
    ]);
    const [theirs, theirMessages] = await partner.evaluate(() => [
      window.latencies,
      window.streamMessages,
    ]);
    const memory = async (p) => {
      const cdp = await p.context().newCDPSession(p);
      // What the page holds, not what it has dropped and the collector has not freed yet.
      await cdp.send('HeapProfiler.collectGarbage');
      await cdp.send('Performance.enable');
      const { metrics } = await cdp.send('Performance.getMetrics');
      const get = (name) => metrics.find((m) => m.name === name)?.value ?? Number.NaN;
      return { heap: get('JSHeapUsedSize'), nodes: get('Nodes') };
    };
    const mineMem = await memory(page);
    const theirMem = await memory(partner);
    const rss = Number(
      /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${cli.pid}/status`, 'utf8'))?.[1],
    );
    const name = `dashboard-${jobs}-jobs`;
    const seconds = MEASURE_MS / 1000;
    console.log(`${name}-load-average-1min-lowest: ${Math.min(...loads).toFixed(2)} tasks`);
    console.log(`${name}-load-average-1min-highest: ${Math.max(...loads).toFixed(2)} tasks`);
    console.log(`${name}-status-events-sent: ${Math.round((churned * 2) / seconds)} events/s`);
    console.log(`${name}-changes-shown: ${mine.length} changes`);
    console.log(`${name}-event-to-screen-p50: ${pct(mine, 50)} ms`);
    console.log(`${name}-event-to-screen-p95: ${pct(mine, 95)} ms`);
    console.log(`${name}-event-to-screen-max: ${pct(mine, 100)} ms`);
    console.log(`bare-stream-page-${jobs}-jobs-changes-shown: ${theirs.length} changes`);
    console.log(`bare-stream-page-${jobs}-jobs-event-to-screen-p50: ${pct(theirs, 50)} ms`);
    console.log(`bare-stream-page-${jobs}-jobs-event-to-screen-p95: ${pct(theirs, 95)} ms`);
    console.log(
      `${name}-vs-bare-page-event-to-screen-p95-ratio: ${(pct(mine, 95) / pct(theirs, 95)).toFixed(2)} x`,
    );
    console.log(`${name}-browser-cpu: ${cpuPerSecond[0]} ms/s`);
    console.log(`bare-stream-page-${jobs}-jobs-browser-cpu: ${cpuPerSecond[1]} ms/s`);
    console.log(`${name}-stream-messages: ${(myMessages / elapsed).toFixed(1)} messages/s`);
    console.log(
      `bare-stream-page-${jobs}-jobs-stream-messages: ${(theirMessages / elapsed).toFixed(1)} messages/s`,
    );
    console.log(`${name}-page-main-thread-cpu: ${Math.round(mainThread[0] / elapsed)} ms/s`);
    console.log(
      `bare-stream-page-${jobs}-jobs-page-main-thread-cpu: ${Math.round(mainThread[1] / elapsed)} ms/s`,
    );
    const perMessage = (ms, n) => (n > 0 ? (ms / n).toFixed(1) : 'NaN');
    console.log(
      `${name}-page-main-thread-cpu-per-message: ${perMessage(mainThread[0], myMessages)} ms`,
    );
    console.log(
      `bare-stream-page-${jobs}-jobs-page-main-thread-cpu-per-message: ${perMessage(mainThread[1], theirMessages)} ms`,
    );
    console.log(`${name}-frames-over-50-ms: ${longFrames.length} frames`);
    console.log(`${name}-longest-frame: ${Math.round(Math.max(0, ...longFrames))} ms`);
    console.log(`${name}-page-js-heap: ${(mineMem.heap / MiB).toFixed(1)} MiB`);
    console.log(`bare-stream-page-${jobs}-jobs-js-heap: ${(theirMem.heap / MiB).toFixed(1)} MiB`);
    console.log(`${name}-page-dom-nodes: ${mineMem.nodes} nodes`);
    console.log(`bare-stream-page-${jobs}-jobs-dom-nodes: ${theirMem.nodes} nodes`);
    console.log(`${name}-server-process-rss: ${(rss / 1024).toFixed(1)} MiB`);
  } finally {
    await runCleanup(cleanup);
  }
}

// Everything it starts or writes is cleaned up after each size, and also on Ctrl-C or SIGTERM.
await runScript(async (cleanup) => {
  for (const jobs of SIZES) await measure(jobs, cleanup);
});
