// NBD throughput and block-status latency of our server against qemu-nbd and qemu-storage-daemon's
// NBD export (QEMU 7.2, both serving a raw file), side by side in the
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

/** qemu-storage-daemon exporting a raw file over NBD, as block-export-add would. */
async function startStorageDaemon() {
  const image = join(dir, 'qsd.raw');
  await run('truncate', ['-s', String(SIZE), image]);
  const socket = join(dir, 'qsd.sock');
  const pidFile = join(dir, 'qsd.pid');
  const child = spawn(
    'qemu-storage-daemon',
    [
      '--blockdev',
      `driver=file,node-name=disk,filename=${image}`,
      '--nbd-server',
      `addr.type=unix,addr.path=${socket}`,
      '--export',
      'type=nbd,id=exp,node-name=disk,name=,writable=on',
      '--pidfile',
      pidFile,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  children.push(() => child.kill('SIGTERM'));
  const deadline = Date.now() + 30_000;
  while (!existsSync(pidFile)) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error('qemu-storage-daemon did not start');
    await new Promise((r) => setTimeout(r, 20));
  }
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
  const [ours, qemu, qsd] = await Promise.all([startOurs(), startQemuNbd(), startStorageDaemon()]);
  const servers = [
    ['qemu-nbd', qemu],
    ['qemu-storage-daemon', qsd],
    ['qmpkit', ours],
  ];
  const figures = {};
  // Each measure runs on the three servers back to back, so machine load falls on all alike.
  for (const [name, socket] of servers) {
    figures[`${name} write`] = mib(await benchSeconds(socket, true));
  }
  for (const [name, socket] of servers) {
    figures[`${name} read`] = mib(await benchSeconds(socket, false));
  }
  for (const [name, socket] of servers) {
    figures[`${name} block status`] = await blockStatusMicros(socket);
  }
  const measures = [
    ['write', 'nbd write throughput (1 MiB x16, qemu-img bench)', 'MiB/s', 0],
    ['read', 'nbd read throughput (1 MiB x16, qemu-img bench)', 'MiB/s', 0],
    ['block status', 'nbd block status latency (4 MiB range, 64 KiB stripes)', 'us', 1],
  ];
  for (const [key, title, unit, digits] of measures) {
    for (const [name] of servers)
      line(`${title}, ${name}`, figures[`${name} ${key}`].toFixed(digits), unit);
    for (const [name] of servers.slice(0, 2)) {
      line(
        `${title}, ratio qmpkit/${name}`,
        (figures[`qmpkit ${key}`] / figures[`${name} ${key}`]).toFixed(2),
        'x',
      );
    }
  }
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
