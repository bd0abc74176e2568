// Guest data through an NBD export (block-export-add) of qmpkit-server and of a real
// qemu-storage-daemon 7.2 side by side: each serves a 1 GiB raw file node. Writing: the whole GiB
// through each export with `qemu-img bench -w` (1 MiB requests, 16 in flight; both then hold it in
// the raw file, so memory per GiB written should stay small). Reading: the whole export with
// `nbdcopy URI null:` (or `qemu-img convert … -O raw` to /dev/null when nbdcopy is missing), in
// alternating rounds, best of the rounds. Block status: the mean round trip of a
// `base:allocation` query over 4 MiB of a map punched into 64 KiB stripes (our NBD client on
// both). Figures: each side's rate or latency, their ratio, and qmpkit-server's memory (RSS) per
// GiB of guest data. Run after `pnpm build`. Prints one line per figure: `name: value unit`.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectNbd } from '@qmpkit/nbd/node';

const BIN = fileURLToPath(new URL('../dist/bin/qmpkit-server.js', import.meta.url));
const GiB = 1024 ** 3;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const run = (command, args) =>
  new Promise((resolve, reject) => {
    execFile(command, args, { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')}: ${stderr || error.message}`));
      else resolve(stdout);
    });
  });

const hasNbdcopy = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v nbdcopy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** One QMP command on a fresh connection (after the greeting and qmp_capabilities). */
function qmp(socket, execute, args) {
  return new Promise((resolve, reject) => {
    const conn = connect(socket);
    let buffer = '';
    let stage = 0;
    conn.setEncoding('utf8');
    conn.on('error', reject);
    conn.on('data', (chunk) => {
      buffer += chunk;
      for (let end = buffer.indexOf('\n'); end >= 0; end = buffer.indexOf('\n')) {
        const message = JSON.parse(buffer.slice(0, end));
        buffer = buffer.slice(end + 1);
        if (stage === 0 && 'QMP' in message) {
          stage = 1;
          conn.write('{"execute":"qmp_capabilities"}\n');
        } else if (stage === 1 && 'return' in message) {
          stage = 2;
          conn.write(`${JSON.stringify({ execute, arguments: args })}\n`);
        } else if (stage === 2 && ('return' in message || 'error' in message)) {
          conn.end();
          if ('error' in message) reject(new Error(`${execute}: ${message.error.desc}`));
          else resolve(message.return);
        }
      }
    });
  });
}

async function startDaemon(name, command, args, dir) {
  const image = join(dir, `${name}.raw`);
  await run('truncate', ['-s', String(GiB), image]);
  const monitor = join(dir, `${name}.qmp`);
  const pidfile = join(dir, `${name}.pid`);
  const child = spawn(
    command,
    [
      ...args,
      '--blockdev',
      `driver=file,node-name=disk,filename=${image}`,
      '--chardev',
      `socket,path=${monitor},server=on,wait=off,id=qmp0`,
      '--monitor',
      'chardev=qmp0',
      '--pidfile',
      pidfile,
    ],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 60_000;
  while (!existsSync(pidfile)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${name} did not start`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const nbd = join(dir, `${name}.nbd`);
  await qmp(monitor, 'nbd-server-start', { addr: { type: 'unix', data: { path: nbd } } });
  await qmp(monitor, 'block-export-add', {
    type: 'nbd',
    id: 'e0',
    'node-name': 'disk',
    writable: true,
  });
  return {
    name,
    pid: child.pid,
    socket: nbd,
    uri: `nbd+unix:///disk?socket=${nbd}`,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', resolve);
        child.kill('SIGTERM');
      }),
  };
}

const rssBytes = (pid) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;

/** Writes the whole GiB (1 MiB requests, 16 in flight, pattern 0xab); seconds it took. */
async function fillSeconds(uri) {
  const out = await run('qemu-img', [
    'bench',
    '-w',
    '-f',
    'raw',
    '-c',
    '1024',
    '-d',
    '16',
    '-s',
    '1M',
    '--pattern=171',
    uri,
  ]);
  const match = /Run completed in ([\d.]+) seconds/.exec(out);
  if (!match) throw new Error(`unexpected qemu-img bench output: ${out}`);
  return Number(match[1]);
}

const STRIPES = 64 * 1024 * 1024;
const STRIPE = 65536;
const BLOCK_STATUS_QUERIES = Number(process.env.BENCH_BLOCK_STATUS_QUERIES ?? 500);

/**
 * Mean block-status round trip in microseconds: every other 64 KiB of the first 64 MiB is
 * zeroed (a hole, in the file and in guest data alike), then 4 MiB ranges are queried.
 */
async function blockStatusMicros(socket) {
  const client = await connectNbd(
    { path: socket },
    { exportName: 'disk', metaContexts: ['base:allocation'] },
  );
  try {
    for (let offset = 0; offset < STRIPES; offset += 2 * STRIPE) {
      await client.writeZeroes(offset, STRIPE);
    }
    for (let i = 0; i < 50; i++) await client.blockStatus(0, 4 * 1024 * 1024); // warm up
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < BLOCK_STATUS_QUERIES; i++) {
      await client.blockStatus(((i * 7919) % 960) * STRIPE, 4 * 1024 * 1024);
    }
    return Number(process.hrtime.bigint() - t0) / 1e3 / BLOCK_STATUS_QUERIES;
  } finally {
    await client.disconnect();
  }
}

/** Seconds to read the whole export. */
async function readSeconds(uri) {
  const t0 = process.hrtime.bigint();
  if (hasNbdcopy) await run('nbdcopy', [uri, 'null:']);
  else await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri, '/dev/null']);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const dir = mkdtempSync(join(tmpdir(), 'qmpkit-nbd-export-bench-'));
const daemons = [];
try {
  const ours = await startDaemon('qmpkit-server', process.execPath, [BIN], dir);
  daemons.push(ours);
  const qemu = await startDaemon('qemu-storage-daemon', 'qemu-storage-daemon', [], dir);
  daemons.push(qemu);
  const rssBefore = rssBytes(ours.pid);
  const write = { ours: await fillSeconds(ours.uri) };
  const rssAfter = rssBytes(ours.pid);
  write.qemu = await fillSeconds(qemu.uri);
  const best = { ours: Number.POSITIVE_INFINITY, qemu: Number.POSITIVE_INFINITY };
  for (let round = 0; round < ROUNDS; round++) {
    best.ours = Math.min(best.ours, await readSeconds(ours.uri));
    best.qemu = Math.min(best.qemu, await readSeconds(qemu.uri));
  }
  const status = { ours: await blockStatusMicros(ours.socket) };
  status.qemu = await blockStatusMicros(qemu.socket);
  const rate = (seconds) => (GiB / 1024 / 1024 / seconds).toFixed(0);
  const tool = hasNbdcopy ? 'nbdcopy' : 'qemu-img-convert';
  console.log(`nbd-export-write-1gib-qmpkit-server (qemu-img bench -w): ${rate(write.ours)} MiB/s`);
  console.log(
    `nbd-export-write-1gib-qemu-storage-daemon (qemu-img bench -w): ${rate(write.qemu)} MiB/s`,
  );
  console.log(
    `nbd-export-write-1gib-qmpkit-server/qemu-storage-daemon: ${(write.qemu / write.ours).toFixed(2)} x`,
  );
  console.log(`nbd-export-read-1gib-qmpkit-server (${tool}): ${rate(best.ours)} MiB/s`);
  console.log(`nbd-export-read-1gib-qemu-storage-daemon (${tool}): ${rate(best.qemu)} MiB/s`);
  console.log(
    `nbd-export-read-1gib-qmpkit-server/qemu-storage-daemon: ${(best.qemu / best.ours).toFixed(2)} x`,
  );
  console.log(
    `nbd-export-block-status-qmpkit-server (4 MiB range, 64 KiB stripes): ${status.ours.toFixed(0)} us`,
  );
  console.log(
    `nbd-export-block-status-qemu-storage-daemon (4 MiB range, 64 KiB stripes): ${status.qemu.toFixed(0)} us`,
  );
  console.log(
    `nbd-export-block-status-qmpkit-server/qemu-storage-daemon: ${(status.ours / status.qemu).toFixed(2)} x`,
  );
  console.log(
    `nbd-export-guest-data-rss-per-gib-qmpkit-server: ${((rssAfter - rssBefore) / 1024 / 1024).toFixed(0)} MiB`,
  );
} finally {
  await Promise.all(daemons.map((d) => d.stop()));
  rmSync(dir, { recursive: true, force: true });
}
