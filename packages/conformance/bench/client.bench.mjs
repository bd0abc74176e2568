// The client's cost over the wire: `query-jobs` round trips per second of @qmpkit/client (built
// dist) and, side by side in the same run, of its partner — a raw node:net client that sends the
// shortest command QEMU accepts (one per line) and only counts the reply lines — against qmpkit-server and
// against a real qemu-storage-daemon 7.2 (skipped when it is not installed). Each target runs
// with two monitors, one per client, so the two never share a session. Sequential (one command
// at a time) and pipelined (64 in flight). Rounds alternate client and raw, so load from
// elsewhere on the machine hits both alike; each figure is the best round.
//
// Two measures of each: round trips per second of wall time, and CPU time per command — this
// process's (client or raw loop) plus the server's (from /proc/PID/schedstat) over the round.
// On a shared, loaded machine wall time mostly measures the scheduler; CPU time per command is
// what the client costs, and its ratio (raw CPU / client CPU) holds at any load.
//
// Lives in conformance because it starts qmpkit-server (server-app), which the client, below
// it, may not depend on. Run after `pnpm build`. One line per figure: `name: value unit`.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectQmp } from '@qmpkit/client/node';

const SERVER_BIN = fileURLToPath(
  new URL('dist/bin/qmpkit-server.js', import.meta.resolve('@qmpkit/server-app/package.json')),
);
const SEQUENTIAL = Number(process.env.QMPKIT_BENCH_SEQUENTIAL ?? 3000);
const PIPELINED = Number(process.env.QMPKIT_BENCH_PIPELINED ?? 10000);
const WINDOW = 64;
const ROUNDS = Number(process.env.QMPKIT_BENCH_ROUNDS ?? 5);

/** Servers started and not stopped yet, with their directories: the watchdog removes them. */
const running = new Map();

/** A QMP server with two monitors, `client.sock` and `raw.sock`, in a private directory. */
async function startTarget(command, args) {
  const dir = mkdtempSync(join(tmpdir(), 'qmpkit-client-bench-'));
  const sockets = { client: join(dir, 'client.sock'), raw: join(dir, 'raw.sock') };
  const child = spawn(
    command,
    [
      ...args,
      '--chardev',
      `socket,path=${sockets.client},server=on,wait=off,id=m0`,
      '--monitor',
      'chardev=m0',
      '--chardev',
      `socket,path=${sockets.raw},server=on,wait=off,id=m1`,
      '--monitor',
      'chardev=m1',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  running.set(child, dir);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  exited.then(() => running.delete(child));
  const failed = new Promise((_, reject) => child.once('error', reject));
  failed.catch(() => {});
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 20_000;
    while (!existsSync(sockets.client) || !existsSync(sockets.raw)) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`${command}: no socket`);
      await Promise.race([new Promise((resolve) => setTimeout(resolve, 10)), failed]);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { sockets, stop, pid: child.pid };
}

/** Nanoseconds the process `pid` has run on a CPU (Linux schedstat; undefined elsewhere). */
function cpuNs(pid) {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return undefined;
  }
}

/** The partner: node:net, the shortest command per line, reply lines counted, nothing parsed. */
function rawConnect(path) {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let onLine = () => {};
    socket.on('data', (chunk) => {
      for (let i = 0; i < chunk.length; i++) if (chunk[i] === 0x0a) onLine();
    });
    socket.once('error', reject);
    let lines = 0;
    onLine = () => {
      lines++;
      if (lines === 1) socket.write('{"execute":"qmp_capabilities"}\n');
      if (lines === 2) {
        socket.off('error', reject);
        resolve({
          socket,
          setOnLine(fn) {
            onLine = fn;
          },
        });
      }
    };
  });
}

/** One message per line, as the client and qmp-shell send them. */
const RAW_COMMAND = '{"execute":"query-jobs"}\n';

function rawSequential(raw, count) {
  let sent = 0;
  return new Promise((resolve) => {
    raw.setOnLine(() => {
      if (sent === count) resolve();
      else {
        sent++;
        raw.socket.write(RAW_COMMAND);
      }
    });
    sent++;
    raw.socket.write(RAW_COMMAND);
  });
}

function rawPipelined(raw, count, window) {
  let sent = 0;
  let received = 0;
  return new Promise((resolve) => {
    const send = () => {
      sent++;
      raw.socket.write(RAW_COMMAND);
    };
    raw.setOnLine(() => {
      received++;
      if (received === count) resolve();
      else if (sent < count) send();
    });
    for (let i = 0; i < window && sent < count; i++) send();
  });
}

async function clientSequential(client, count) {
  for (let i = 0; i < count; i++) await client.execute('query-jobs');
}

async function clientPipelined(client, count, window) {
  let sent = 0;
  const lane = async () => {
    while (sent < count) {
      sent++;
      await client.execute('query-jobs');
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
}

/** Round trips per second of wall time, and CPU µs per command (this process + the server). */
async function measureRun(serverPid, count, run) {
  const serverBefore = cpuNs(serverPid);
  const selfBefore = process.cpuUsage();
  const start = process.hrtime.bigint();
  await run();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const self = process.cpuUsage(selfBefore);
  const serverAfter = cpuNs(serverPid);
  const serverUs =
    serverBefore === undefined || serverAfter === undefined
      ? NaN
      : (serverAfter - serverBefore) / 1e3;
  return { rate: count / seconds, cpuUs: (self.user + self.system + serverUs) / count };
}

/** Connects once the monitor accepts (a socket file can appear before listen() returns). */
async function retryConnect(open) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await open();
    } catch (error) {
      if (error?.code !== 'ECONNREFUSED' || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

async function measure(name, command, args) {
  const target = await startTarget(command, args);
  try {
    const client = await retryConnect(() => connectQmp({ path: target.sockets.client }));
    const raw = await retryConnect(() => rawConnect(target.sockets.raw));
    try {
      // Warm-up (JIT, socket buffers), then alternating rounds.
      await clientSequential(client, 500);
      await rawSequential(raw, 500);
      await clientPipelined(client, 2000, WINDOW);
      await rawPipelined(raw, 2000, WINDOW);
      const kinds = ['clientSeq', 'rawSeq', 'clientPipe', 'rawPipe'];
      const rate = Object.fromEntries(kinds.map((k) => [k, 0]));
      const cpu = Object.fromEntries(kinds.map((k) => [k, Number.POSITIVE_INFINITY]));
      const keep = (kind, result) => {
        rate[kind] = Math.max(rate[kind], result.rate);
        cpu[kind] = Math.min(cpu[kind], result.cpuUs);
      };
      const pid = target.pid;
      for (let round = 0; round < ROUNDS; round++) {
        keep(
          'clientSeq',
          await measureRun(pid, SEQUENTIAL, () => clientSequential(client, SEQUENTIAL)),
        );
        keep('rawSeq', await measureRun(pid, SEQUENTIAL, () => rawSequential(raw, SEQUENTIAL)));
        keep(
          'clientPipe',
          await measureRun(pid, PIPELINED, () => clientPipelined(client, PIPELINED, WINDOW)),
        );
        keep(
          'rawPipe',
          await measureRun(pid, PIPELINED, () => rawPipelined(raw, PIPELINED, WINDOW)),
        );
      }
      const n = (value) => value.toFixed(0);
      const us = (value) => value.toFixed(1);
      const x = (value) => value.toFixed(2);
      for (const [mode, label] of [
        ['Seq', 'sequential'],
        [`Pipe`, `${WINDOW} in flight`],
      ]) {
        const c = `client${mode}`;
        const r = `raw${mode}`;
        console.log(`client ${label} query-jobs, ${name}: ${n(rate[c])} round-trips/s`);
        console.log(`raw socket ${label} query-jobs, ${name}: ${n(rate[r])} round-trips/s`);
        console.log(`client/raw ${label}, ${name}: ${x(rate[c] / rate[r])} x`);
        console.log(`client ${label} CPU per query-jobs, ${name}: ${us(cpu[c])} us`);
        console.log(`raw socket ${label} CPU per query-jobs, ${name}: ${us(cpu[r])} us`);
        console.log(`client/raw ${label} by CPU, ${name}: ${x(cpu[r] / cpu[c])} x`);
      }
    } finally {
      await client.close();
      raw.socket.destroy();
    }
  } finally {
    await target.stop();
  }
}

function hasQemuStorageDaemon() {
  return (process.env.PATH ?? '')
    .split(':')
    .some((dir) => dir !== '' && existsSync(join(dir, 'qemu-storage-daemon')));
}

// Never hang a CI job: a partner that takes this long is broken. One deadline per partner, so
// that a slow first partner on a loaded machine does not cut the second one's figures off.
let watchdog;
function armWatchdog(name) {
  clearTimeout(watchdog);
  watchdog = setTimeout(() => {
    console.error(`client bench: no result from ${name} after 300 s`);
    for (const [child, dir] of running) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
    process.exit(1);
  }, 300_000);
  watchdog.unref();
}

armWatchdog('qmpkit-server');
await measure('qmpkit-server', process.execPath, [SERVER_BIN]);
if (hasQemuStorageDaemon()) {
  armWatchdog('qemu-storage-daemon 7.2');
  await measure('qemu-storage-daemon 7.2', 'qemu-storage-daemon', []);
} else {
  console.error('client bench: qemu-storage-daemon not found, its figures are skipped');
}
