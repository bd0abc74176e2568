// Scale of the fake QEMU, measured through QMP against a running qmpkit-server process:
//  - 1,000 throttled mirrors at once (QEMU lets a node be mirrored once, so 1,000 sources and
//    1,000 targets), and 1,000 throttled backups sharing 100 source nodes: the `query-jobs`
//    round trip while they run (median and worst of 50), and the server process's memory;
//  - a 1 TiB mirror to ready under the virtual clock: wall time from the clock step to
//    BLOCK_JOB_READY.
// Run after `pnpm build`. Prints one line per figure: `name: value unit`.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../dist/bin/qmpkit-server.js', import.meta.url));
const TiB = 1024 ** 4;
const GiB = 1024 ** 3;

async function startServer(args, dir) {
  const path = join(dir, 'qmp.sock');
  const child = spawn(process.execPath, [BIN, '--socket', path, ...args], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  while (!existsSync(path)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('server did not start');
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    path,
    pid: child.pid,
    stop: () =>
      new Promise((r) => {
        child.once('exit', r);
        child.kill('SIGTERM');
      }),
  };
}

/** A minimal QMP client: one JSON object per CR LF line, replies matched by id. */
async function qmp(path) {
  const socket = connect(path);
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let buffer = '';
  let nextId = 0;
  const pending = new Map();
  const eventWaiters = [];
  socket.setEncoding('utf8');
  socket.on('data', (chunk) => {
    buffer += chunk;
    let end = buffer.indexOf('\n');
    while (end >= 0) {
      const message = JSON.parse(buffer.slice(0, end));
      buffer = buffer.slice(end + 1);
      end = buffer.indexOf('\n');
      if ('id' in message && pending.has(message.id)) {
        const { resolve, reject } = pending.get(message.id);
        pending.delete(message.id);
        if ('error' in message) reject(new Error(message.error.desc));
        else resolve(message.return);
      } else if ('event' in message) {
        for (const waiter of eventWaiters.splice(0)) waiter(message);
      }
    }
  });
  const execute = (command, args) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      socket.write(`${JSON.stringify({ execute: command, arguments: args ?? {}, id })}\n`);
    });
  const nextEvent = (match) =>
    new Promise((resolve) => {
      const wait = (message) => (match(message) ? resolve(message) : eventWaiters.push(wait));
      eventWaiters.push(wait);
    });
  await execute('qmp_capabilities');
  return { execute, nextEvent, close: () => socket.end() };
}

function rssMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return kib / 1024;
}

async function queryJobsRoundTrips(client, expectedJobs) {
  const times = [];
  for (let i = 0; i < 50; i++) {
    const start = process.hrtime.bigint();
    const jobs = await client.execute('query-jobs');
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (jobs.length !== expectedJobs)
      throw new Error(`expected ${expectedJobs} jobs, got ${jobs.length}`);
  }
  times.sort((a, b) => a - b);
  return { p50: times[25], max: times.at(-1) };
}

async function throttledJobs(kind) {
  const dir = mkdtempSync(join(tmpdir(), 'qmpkit-scale-'));
  const server = await startServer([], dir);
  try {
    const client = await qmp(server.path);
    const baseline = rssMiB(server.pid);
    const sources = kind === 'mirror' ? 1000 : 100;
    for (let i = 0; i < sources; i++) {
      await client.execute('blockdev-add', { driver: 'null-co', 'node-name': `s${i}`, size: GiB });
    }
    for (let i = 0; i < 1000; i++) {
      await client.execute('blockdev-add', { driver: 'null-co', 'node-name': `t${i}`, size: GiB });
      const common = {
        'job-id': `j${i}`,
        device: `s${i % sources}`,
        target: `t${i}`,
        sync: 'full',
      };
      // 1 MiB/s: every job stays running for the whole measurement.
      if (kind === 'mirror') await client.execute('blockdev-mirror', { ...common, speed: 1048576 });
      else await client.execute('blockdev-backup', { ...common, speed: 1048576 });
    }
    const { p50, max } = await queryJobsRoundTrips(client, 1000);
    const label = kind === 'mirror' ? 'mirrors-1000-on-2000-nodes' : 'backups-1000-on-100-sources';
    console.log(`qmp-${label}-query-jobs-p50: ${p50.toFixed(3)} ms`);
    console.log(`qmp-${label}-query-jobs-max: ${max.toFixed(3)} ms`);
    console.log(`qmp-${label}-server-rss: ${rssMiB(server.pid).toFixed(1)} MiB`);
    console.log(
      `qmp-${label}-server-rss-growth: ${(rssMiB(server.pid) - baseline).toFixed(1)} MiB`,
    );
    client.close();
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function virtualTerabyteMirror() {
  const dir = mkdtempSync(join(tmpdir(), 'qmpkit-scale-'));
  // 1 GiB/s of simulated throughput: the 1 TiB mirror needs 1,024 s of virtual time.
  const server = await startServer(['--clock', 'virtual', '--throughput', '1G'], dir);
  try {
    const client = await qmp(server.path);
    await client.execute('blockdev-add', { driver: 'null-co', 'node-name': 'src', size: TiB });
    await client.execute('blockdev-add', { driver: 'null-co', 'node-name': 'dst', size: TiB });
    await client.execute('blockdev-mirror', {
      'job-id': 'big',
      device: 'src',
      target: 'dst',
      sync: 'full',
    });
    const ready = client.nextEvent((m) => m.event === 'BLOCK_JOB_READY');
    const start = process.hrtime.bigint();
    await client.execute('x-qmpkit-clock-step', { ns: 1100 * 1e9 });
    await ready;
    const wall = Number(process.hrtime.bigint() - start) / 1e6;
    console.log(`qmp-mirror-1tib-to-ready-wall: ${wall.toFixed(1)} ms`);
    client.close();
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await throttledJobs('mirror');
await throttledJobs('backup');
await virtualTerabyteMirror();
