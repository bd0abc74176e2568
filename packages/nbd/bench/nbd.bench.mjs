// NBD throughput and block-status latency of our server against qemu-nbd, side by side in the
// same run, with the same external load generator (`qemu-img bench`, 1 MiB requests, 16 in
// flight) and our client for block status; and the sparse backend's memory per GiB written.
// Run after `pnpm build` (imports dist/). Prints one line per figure: `name: value unit`.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SparseMemoryBackend } from '../dist/index.js';
import { connectNbd } from '../dist/node/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const SIZE = 1024 ** 3; // 1 GiB export
const REQUEST = 1024 * 1024;
const COUNT = 256; // 256 MiB per pass
const BLOCK_STATUS_QUERIES = 2000;

function run(command, args) {
  return new Promise((resolve, reject) => {
    execFile(command, args, { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')}: ${stderr || error.message}`));
      else resolve(stdout);
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'qmpkit-nbd-bench-'));
const children = [];

async function startOurs() {
  const socket = join(dir, 'ours.sock');
  const child = spawn(process.execPath, [join(here, 'serve.mjs'), socket, String(SIZE)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(() => child.kill('SIGTERM'));
  await new Promise((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`our server exited (${code})`)));
  });
  return socket;
}

async function startQemuNbd() {
  const image = join(dir, 'disk.raw');
  await run('truncate', ['-s', String(SIZE), image]);
  const socket = join(dir, 'qemu.sock');
  const pidFile = join(dir, 'qemu.pid');
  await run('qemu-nbd', [
    '--fork',
    `--pid-file=${pidFile}`,
    '-k',
    socket,
    '--persistent',
    '-f',
    'raw',
    image,
  ]);
  const pid = Number(readFileSync(pidFile, 'utf8'));
  children.push(() => {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {}
  });
  return socket;
}

const uri = (socket) => `nbd+unix:///?socket=${socket}`;

async function benchSeconds(socket, write) {
  const args = ['bench', '-f', 'raw', '-c', String(COUNT), '-d', '16', '-s', String(REQUEST)];
  if (write) args.push('-w', '--pattern=171');
  const out = await run('qemu-img', [...args, uri(socket)]);
  const match = /Run completed in ([\d.]+) seconds/.exec(out);
  if (!match) throw new Error(`unexpected qemu-img bench output: ${out}`);
  return Number(match[1]);
}

/** Mean block-status round trip over a fragmented map (every other 64 KiB written). */
async function blockStatusMicros(socket) {
  const client = await connectNbd({ path: socket }, { metaContexts: ['base:allocation'] });
  try {
    const stripe = new Uint8Array(65536).fill(1);
    for (let offset = 0; offset < 64 * 1024 * 1024; offset += 2 * 65536)
      await client.write(offset, stripe);
    for (let i = 0; i < 100; i++) await client.blockStatus(0, 64 * 1024 * 1024); // warm up
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < BLOCK_STATUS_QUERIES; i++) {
      await client.blockStatus(((i * 7919) % 1024) * 65536, 4 * 1024 * 1024);
    }
    return Number(process.hrtime.bigint() - t0) / 1e3 / BLOCK_STATUS_QUERIES;
  } finally {
    await client.disconnect();
  }
}

function sparseMemoryPerGiB() {
  globalThis.gc?.();
  const before = process.memoryUsage();
  const disk = new SparseMemoryBackend({ size: 4 * 1024 ** 3, maxBytes: 4 * 1024 ** 3 });
  const chunk = new Uint8Array(REQUEST).fill(7);
  const written = 256 * 1024 * 1024;
  for (let offset = 0; offset < written; offset += REQUEST) disk.write(offset, chunk);
  globalThis.gc?.();
  const after = process.memoryUsage();
  const grown = after.arrayBuffers - before.arrayBuffers + (after.heapUsed - before.heapUsed);
  if (disk.allocatedBytes !== written) throw new Error('the backend did not keep the data');
  return (grown / written) * 1024; // MiB per GiB
}

const line = (name, value, unit) => console.log(`${name}: ${value} ${unit}`);
const mib = (seconds) => (COUNT * REQUEST) / 1024 / 1024 / seconds;

try {
  const [ours, qemu] = await Promise.all([startOurs(), startQemuNbd()]);
  const figures = {};
  // Alternate the two servers so machine load falls on both alike.
  for (const [name, socket] of [
    ['qemu-nbd', qemu],
    ['qmpkit', ours],
  ]) {
    figures[`${name} write`] = mib(await benchSeconds(socket, true));
  }
  for (const [name, socket] of [
    ['qemu-nbd', qemu],
    ['qmpkit', ours],
  ]) {
    figures[`${name} read`] = mib(await benchSeconds(socket, false));
  }
  for (const [name, socket] of [
    ['qemu-nbd', qemu],
    ['qmpkit', ours],
  ]) {
    figures[`${name} block status`] = await blockStatusMicros(socket);
  }
  line(
    'nbd write throughput, qmpkit server (1 MiB x16, qemu-img bench)',
    figures['qmpkit write'].toFixed(0),
    'MiB/s',
  );
  line(
    'nbd write throughput, qemu-nbd 7.2 (1 MiB x16, qemu-img bench)',
    figures['qemu-nbd write'].toFixed(0),
    'MiB/s',
  );
  line(
    'nbd write throughput ratio qmpkit/qemu-nbd',
    (figures['qmpkit write'] / figures['qemu-nbd write']).toFixed(2),
    'x',
  );
  line(
    'nbd read throughput, qmpkit server (1 MiB x16, qemu-img bench)',
    figures['qmpkit read'].toFixed(0),
    'MiB/s',
  );
  line(
    'nbd read throughput, qemu-nbd 7.2 (1 MiB x16, qemu-img bench)',
    figures['qemu-nbd read'].toFixed(0),
    'MiB/s',
  );
  line(
    'nbd read throughput ratio qmpkit/qemu-nbd',
    (figures['qmpkit read'] / figures['qemu-nbd read']).toFixed(2),
    'x',
  );
  line(
    'nbd block status latency, qmpkit server (4 MiB range, 64 KiB stripes)',
    figures['qmpkit block status'].toFixed(1),
    'us',
  );
  line(
    'nbd block status latency, qemu-nbd 7.2 (4 MiB range, 64 KiB stripes)',
    figures['qemu-nbd block status'].toFixed(1),
    'us',
  );
  line(
    'nbd block status latency ratio qmpkit/qemu-nbd',
    (figures['qmpkit block status'] / figures['qemu-nbd block status']).toFixed(2),
    'x',
  );
  const perGiB = sparseMemoryPerGiB();
  line('sparse backend memory per GiB written', perGiB.toFixed(0), 'MiB');
  line('sparse backend memory ratio to data written', (perGiB / 1024).toFixed(3), 'x');
} finally {
  for (const stop of children) stop();
  // Give the servers a moment to remove their sockets, then remove the directory.
  for (let i = 0; i < 50 && existsSync(join(dir, 'qemu.pid')); i++)
    await new Promise((r) => setTimeout(r, 20));
  rmSync(dir, { recursive: true, force: true });
}
