// A fleet of 1,000 simulated VMs in one qmpkit-server process (`--fleet 1000`), each with its own
// monitor socket and two 1 GiB disks, measured through QMP:
//  - start-up time, and memory (RSS) and CPU per idle VM against a fleet of one in the same run;
//  - with one throttled mirror running in every VM: memory and CPU per running job, and the
//    `query-jobs` round trip on VMs picked at random (median and worst of 50; the aim is < 50 ms);
//  - then the same with `--bandwidth 1G` instead of each mirror's speed (1,000 mirrors sharing
//    1 GiB/s: 1 MiB/s each, the same pace), to show what the shared budget costs per job beside
//    the speed-throttled fleet of the same run.
// CPU is the server's time on a CPU (/proc/PID/schedstat) per second of wall time, so it holds on
// a busy machine. Run after `pnpm build`. Prints one line per figure: `name: value unit`.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../dist/bin/qmpkit-server.js', import.meta.url));
const VMS = Number(process.env.BENCH_FLEET ?? 1000);
const GiB = 1024 ** 3;
const IDLE_SECONDS = 2;

async function startFleet(count, dir, extra = [], name = String(count)) {
  const pidfile = join(dir, `fleet-${name}.pid`);
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      BIN,
      '--fleet',
      String(count),
      '--socket',
      join(dir, `f${name}-vm%d.sock`),
      '--pidfile',
      pidfile,
      '--blockdev',
      `null-co,node-name=src,size=${GiB}`,
      '--blockdev',
      `null-co,node-name=dst,size=${GiB}`,
      ...extra,
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise((r) => child.once('exit', r));
  const deadline = Date.now() + 600_000;
  while (!existsSync(pidfile)) {
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error('the fleet did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    pid: child.pid,
    startSeconds: (performance.now() - started) / 1000,
    socket: (i) => join(dir, `f${name}-vm${i}.sock`),
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

const rssBytes = (pid) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
const cpuNs = (pid) => Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);

/** CPU nanoseconds per wall second the process uses over `seconds`. */
async function cpuRate(pid, seconds) {
  const before = cpuNs(pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return (cpuNs(pid) - before) / ((performance.now() - t0) / 1000);
}

/** A minimal QMP client: one JSON object per line, replies matched by id. */
async function qmp(path) {
  const socket = connect(path);
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let buffer = '';
  let nextId = 0;
  const pending = new Map();
  socket.setEncoding('utf8');
  socket.on('data', (chunk) => {
    buffer += chunk;
    for (let end = buffer.indexOf('\n'); end >= 0; end = buffer.indexOf('\n')) {
      const message = JSON.parse(buffer.slice(0, end));
      buffer = buffer.slice(end + 1);
      if ('id' in message && pending.has(message.id)) {
        const { resolve, reject } = pending.get(message.id);
        pending.delete(message.id);
        if ('error' in message) reject(new Error(message.error.desc));
        else resolve(message.return);
      }
    }
  });
  const execute = (command, args) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      socket.write(`${JSON.stringify({ execute: command, arguments: args ?? {}, id })}\n`);
    });
  await execute('qmp_capabilities');
  return { execute, close: () => socket.destroy() };
}

const dir = mkdtempSync(join(tmpdir(), 'qmpkit-fleet-bench-'));
const figures = [];
const clients = [];
let one;
let fleet;
let bandwidthFleet;

/** One mirror per VM (`args` added), then memory, CPU per job and query-jobs latency. */
async function runMirrors(running, suffix, args, idleRss, idleCpu) {
  for (let i = 0; i < VMS; i++) {
    const c = await qmp(running.socket(i));
    clients.push(c);
    await c.execute('blockdev-mirror', {
      'job-id': `m${i}`,
      device: 'src',
      target: 'dst',
      sync: 'full',
      ...args,
    });
  }
  const busyCpu = await cpuRate(running.pid, IDLE_SECONDS);
  const busyRss = rssBytes(running.pid);
  figures.push([`fleet-${VMS}-mirrors${suffix}-rss`, (busyRss / 2 ** 20).toFixed(0), 'MiB']);
  figures.push([
    `fleet-running-job${suffix}-memory`,
    ((busyRss - idleRss) / VMS / 1024).toFixed(0),
    'KiB',
  ]);
  figures.push([
    `fleet-running-job${suffix}-cpu`,
    (Math.max(0, busyCpu - idleCpu) / VMS / 1000).toFixed(2),
    'us/s',
  ]);
  const times = [];
  let seed = 1;
  for (let n = 0; n < 50; n++) {
    seed = (seed * 48271) % 2147483647;
    const c = clients[seed % VMS];
    const t0 = performance.now();
    const jobs = await c.execute('query-jobs');
    times.push(performance.now() - t0);
    if (jobs.length !== 1 || jobs[0].status !== 'running')
      throw new Error('a mirror is not running');
  }
  times.sort((a, b) => a - b);
  figures.push([`fleet-${VMS}${suffix}-query-jobs-median`, times[25].toFixed(2), 'ms']);
  figures.push([`fleet-${VMS}${suffix}-query-jobs-worst`, times[49].toFixed(2), 'ms']);
}

try {
  one = await startFleet(1, dir);
  fleet = await startFleet(VMS, dir);
  figures.push([`fleet-${VMS}-start`, fleet.startSeconds.toFixed(1), 's']);
  const baseRss = rssBytes(one.pid);
  const idleRss = rssBytes(fleet.pid);
  const baseCpu = await cpuRate(one.pid, IDLE_SECONDS);
  const idleCpu = await cpuRate(fleet.pid, IDLE_SECONDS);
  figures.push(['fleet-1-rss', (baseRss / 2 ** 20).toFixed(0), 'MiB']);
  figures.push([`fleet-${VMS}-idle-rss`, (idleRss / 2 ** 20).toFixed(0), 'MiB']);
  figures.push([
    'fleet-idle-vm-memory',
    ((idleRss - baseRss) / (VMS - 1) / 1024).toFixed(0),
    'KiB',
  ]);
  figures.push([
    'fleet-idle-vm-cpu',
    (Math.max(0, idleCpu - baseCpu) / (VMS - 1) / 1000).toFixed(2),
    'us/s',
  ]);

  // One throttled mirror per VM (1 MiB/s: running for the whole measurement).
  await runMirrors(fleet, '', { speed: 1024 * 1024 }, idleRss, idleCpu);
  const speedCpu = Number(figures.at(-3)[1]);
  for (const c of clients.splice(0)) c.close();
  await fleet.stop();
  fleet = undefined;

  // The same pace from a shared budget: 1 GiB/s among 1,000 mirrors (re-shared as they start).
  bandwidthFleet = await startFleet(VMS, dir, ['--bandwidth', `${VMS}M`], `${VMS}-bw`);
  const bwIdleRss = rssBytes(bandwidthFleet.pid);
  const bwIdleCpu = await cpuRate(bandwidthFleet.pid, IDLE_SECONDS);
  await runMirrors(bandwidthFleet, '-bandwidth', {}, bwIdleRss, bwIdleCpu);
  const bandwidthCpu = Number(figures.at(-3)[1]);
  figures.push([
    'fleet-running-job-cpu-ratio-speed-to-bandwidth',
    bandwidthCpu > 0 ? (speedCpu / bandwidthCpu).toFixed(2) : 'n/a',
    'x',
  ]);
  for (const [name, value, unit] of figures) console.log(`${name}: ${value} ${unit}`);
} finally {
  for (const c of clients) c.close();
  await Promise.all([one?.stop(), fleet?.stop(), bandwidthFleet?.stop()]);
  rmSync(dir, { recursive: true, force: true });
}
