// The server's cost per command, measured with the same raw-socket client in one run:
//  - `query-jobs` round trips per second against qmpkit-server and against a bare Node QMP server
//    (bare-qmp-server.mjs: greets, answers `{}`, no validation, no dispatch), sequential and 64 in
//    flight, in alternating rounds (7 by default, BENCH_ROUNDS; which server goes first
//    alternates too) after warm-up rounds, the median of each, and their ratio;
//    and the CPU time each server process spent per command (from /proc/PID/schedstat, so the
//    figure does not depend on what else the machine runs), and the ratio of the bare server's
//    to qmpkit-server's;
//  - `query-version` round trips per second against qmpkit-server and a real qemu-storage-daemon;
//  - sequential `query-jobs` sent with and without a newline after it, on both servers.
// Run after `pnpm build`. Prints one line per figure: `name: value unit`.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../dist/bin/qmpkit-server.js', import.meta.url));
const BARE = fileURLToPath(new URL('./bare-qmp-server.mjs', import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const PIPELINE_DEPTH = 64;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const WARM_UP_ROUNDS = Number(process.env.BENCH_WARM_UP_ROUNDS ?? 3);

async function startServer(command, args, dir, name, monitorArgs = qemuMonitor) {
  const path = join(dir, `${name}.sock`);
  const child = spawn(command, [...args, ...monitorArgs(path)], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  while (!existsSync(path)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${name} did not start`);
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

function qemuMonitor(path) {
  return ['--chardev', `socket,path=${path},server=on,wait=off,id=m0`, '--monitor', 'chardev=m0'];
}

/** A raw client: counts CR LF-terminated lines. */
function client(path) {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.setNoDelay?.(true);
    let lines = 0;
    let waiter;
    let need = 0;
    socket.on('data', (chunk) => {
      for (let i = 0; i < chunk.length; i++) if (chunk[i] === 0x0a) lines++;
      if (waiter && lines >= need) {
        const w = waiter;
        waiter = undefined;
        w();
      }
    });
    socket.once('error', reject);
    const until = (count) =>
      new Promise((r) => {
        need = count;
        if (lines >= count) r();
        else waiter = r;
      });
    socket.once('connect', async () => {
      await until(1);
      socket.write('{"execute":"qmp_capabilities"}');
      await until(2);
      resolve({ socket, until, lines: () => lines });
    });
  });
}

async function sequential(path, command = 'query-version', eol = '') {
  const c = await client(path);
  let done = 0;
  const end = performance.now() + SECONDS * 1000;
  while (performance.now() < end) {
    c.socket.write(`{"execute":"${command}","id":${done}}${eol}`);
    await c.until(2 + ++done);
  }
  const rate = done / SECONDS;
  c.socket.destroy();
  return { rate, done };
}

async function pipelined(path, command = 'query-version') {
  const c = await client(path);
  let done = 0;
  let batch = '';
  for (let i = 0; i < PIPELINE_DEPTH; i++) batch += `{"execute":"${command}","id":${i}}`;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  while (performance.now() < end) {
    c.socket.write(batch);
    done += PIPELINE_DEPTH;
    await c.until(2 + done);
  }
  const rate = done / ((performance.now() - start) / 1000);
  c.socket.destroy();
  return { rate, done };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** Nanoseconds the process has run on a CPU (Linux's schedstat). */
function cpuNs(pid) {
  return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
}

/** A run of `fn` against `server`: round trips per second and the server's CPU ns per command. */
async function measure(fn, server, command) {
  const before = cpuNs(server.pid);
  const { rate, done } = await fn(server.path, command);
  return { rate, cpu: (cpuNs(server.pid) - before) / done };
}

const dir = mkdtempSync(join(tmpdir(), 'qmpkit-bench-'));
const ours = await startServer(process.execPath, [BIN], dir, 'qmpkit');
const bare = await startServer(process.execPath, [BARE], dir, 'bare', (path) => [path]);
const qemu = await startServer('qemu-storage-daemon', [], dir, 'qemu');
try {
  const figures = [];
  for (const [mode, fn] of [
    ['sequential', sequential],
    ['in-flight-64', pipelined],
  ]) {
    // Rounds each first, not counted: the JIT warms up. At a high machine load the optimizing
    // compiler's threads wait for a core, and the first rounds cost several times as much CPU
    // per command (seen: 190, 95, then 25-30 µs) and would sway the median.
    for (let round = 0; round < WARM_UP_ROUNDS; round++) {
      await fn(ours.path, 'query-jobs');
      await fn(bare.path, 'query-jobs');
    }
    // Alternating rounds, so both servers see the same machine load; which goes first alternates
    // too (ABBA…), so that neither always runs right after the other's load.
    const mine = [];
    const partner = [];
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) {
        mine.push(await measure(fn, ours, 'query-jobs'));
        partner.push(await measure(fn, bare, 'query-jobs'));
      } else {
        partner.push(await measure(fn, bare, 'query-jobs'));
        mine.push(await measure(fn, ours, 'query-jobs'));
      }
    }
    const m = median(mine.map((r) => r.rate));
    const b = median(partner.map((r) => r.rate));
    const mc = median(mine.map((r) => r.cpu));
    const bc = median(partner.map((r) => r.cpu));
    figures.push([`query-jobs-${mode}-qmpkit-server`, m.toFixed(0), 'roundtrips/s']);
    figures.push([`query-jobs-${mode}-bare-node-server`, b.toFixed(0), 'roundtrips/s']);
    figures.push([`query-jobs-${mode}-ratio-to-bare`, (m / b).toFixed(2), 'x']);
    figures.push([`query-jobs-${mode}-cpu-qmpkit-server`, (mc / 1000).toFixed(2), 'us/command']);
    figures.push([`query-jobs-${mode}-cpu-bare-node-server`, (bc / 1000).toFixed(2), 'us/command']);
    figures.push([`query-jobs-${mode}-cpu-ratio-bare-to-qmpkit`, (bc / mc).toFixed(2), 'x']);
  }
  for (const [mode, fn] of [
    ['sequential', sequential],
    ['pipelined', pipelined],
  ]) {
    const mine = (await fn(ours.path)).rate;
    const theirs = (await fn(qemu.path)).rate;
    figures.push([`${mode}-qmpkit-server`, mine.toFixed(0), 'roundtrips/s']);
    figures.push([`${mode}-qemu-storage-daemon`, theirs.toFixed(0), 'roundtrips/s']);
    figures.push([`${mode}-ratio`, (mine / theirs).toFixed(2), 'x']);
  }
  // A command with and without a newline after it: QEMU parses a message when its closing brace
  // arrives, and so does qmpkit-server — neither waits for more input. Both orders alternate per
  // round on warm servers (the first variant measured on a fresh server is slower only because
  // its JIT is cold).
  for (const [label, server] of [
    ['qmpkit-server', ours],
    ['qemu-storage-daemon', qemu],
  ]) {
    const bare = [];
    const newline = [];
    for (let round = 0; round < ROUNDS; round++) {
      const pair = [
        [bare, ''],
        [newline, '\n'],
      ];
      if (round % 2 === 1) pair.reverse();
      for (const [into, eol] of pair) {
        into.push(await measure((path) => sequential(path, 'query-jobs', eol), server));
      }
    }
    const b = median(bare.map((r) => r.rate));
    const n = median(newline.map((r) => r.rate));
    figures.push([`query-jobs-sequential-no-newline-${label}`, b.toFixed(0), 'roundtrips/s']);
    figures.push([`query-jobs-sequential-newline-${label}`, n.toFixed(0), 'roundtrips/s']);
    figures.push([`query-jobs-sequential-no-newline-to-newline-${label}`, (b / n).toFixed(2), 'x']);
    if (server === ours) {
      const bc = median(bare.map((r) => r.cpu));
      const nc = median(newline.map((r) => r.cpu));
      figures.push([
        `query-jobs-sequential-no-newline-cpu-${label}`,
        (bc / 1000).toFixed(2),
        'us/command',
      ]);
      figures.push([
        `query-jobs-sequential-newline-cpu-${label}`,
        (nc / 1000).toFixed(2),
        'us/command',
      ]);
    }
  }
  for (const [name, value, unit] of figures) console.log(`${name}: ${value} ${unit}`);
} finally {
  await Promise.all([ours.stop(), bare.stop(), qemu.stop()]);
  rmSync(dir, { recursive: true, force: true });
}
