// Round trips of `query-version` per second against qmpkit-server and a real qemu-storage-daemon,
// measured with the same raw-socket client in one run. Run after `pnpm build`.
// Prints one line per figure: `name: value unit`.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../dist/bin/qmpkit-server.js', import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const PIPELINE_DEPTH = 64;

async function startServer(command, args, dir, name) {
  const path = join(dir, `${name}.sock`);
  const child = spawn(
    command,
    [
      ...args,
      '--chardev',
      `socket,path=${path},server=on,wait=off,id=m0`,
      '--monitor',
      'chardev=m0',
    ],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 10_000;
  while (!existsSync(path)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${name} did not start`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    path,
    stop: () =>
      new Promise((r) => {
        child.once('exit', r);
        child.kill('SIGTERM');
      }),
  };
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

async function sequential(path) {
  const c = await client(path);
  let done = 0;
  const end = performance.now() + SECONDS * 1000;
  while (performance.now() < end) {
    c.socket.write(`{"execute":"query-version","id":${done}}`);
    await c.until(2 + ++done);
  }
  const rate = done / SECONDS;
  c.socket.destroy();
  return rate;
}

async function pipelined(path) {
  const c = await client(path);
  let done = 0;
  let batch = '';
  for (let i = 0; i < PIPELINE_DEPTH; i++) batch += `{"execute":"query-version","id":${i}}`;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  while (performance.now() < end) {
    c.socket.write(batch);
    done += PIPELINE_DEPTH;
    await c.until(2 + done);
  }
  const rate = done / ((performance.now() - start) / 1000);
  c.socket.destroy();
  return rate;
}

const dir = mkdtempSync(join(tmpdir(), 'qmpkit-bench-'));
const ours = await startServer(process.execPath, [BIN], dir, 'qmpkit');
const qemu = await startServer('qemu-storage-daemon', [], dir, 'qemu');
try {
  const figures = [];
  for (const [mode, fn] of [
    ['sequential', sequential],
    ['pipelined', pipelined],
  ]) {
    const mine = await fn(ours.path);
    const theirs = await fn(qemu.path);
    figures.push([`${mode}-qmpkit-server`, mine.toFixed(0), 'roundtrips/s']);
    figures.push([`${mode}-qemu-storage-daemon`, theirs.toFixed(0), 'roundtrips/s']);
    figures.push([`${mode}-ratio`, (mine / theirs).toFixed(2), 'x']);
  }
  for (const [name, value, unit] of figures) console.log(`${name}: ${value} ${unit}`);
} finally {
  await Promise.all([ours.stop(), qemu.stop()]);
  rmSync(dir, { recursive: true, force: true });
}
