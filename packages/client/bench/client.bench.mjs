// Round trips against a real qemu-storage-daemon on a unix socket: @qmpkit/client (built dist)
// versus a raw node:net client that only splits lines (the floor). Run `pnpm build` first.
//
//   node bench/client.bench.mjs            (or: pnpm --filter @qmpkit/client bench)
//
// Prints one line per figure, `name: value unit`.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectQmp } from '../dist/node/index.js';

const SEQUENTIAL = 3000;
const PIPELINED = 10000;
const WINDOW = 64;

/** A qemu-storage-daemon with two independent QMP monitors (one client per socket, §10.1). */
async function startDaemon() {
  const dir = mkdtempSync(join(tmpdir(), 'qmpkit-client-bench-'));
  const clientSocket = join(dir, 'client.sock');
  const rawSocket = join(dir, 'raw.sock');
  const child = spawn(
    'qemu-storage-daemon',
    [
      '--chardev',
      `socket,path=${clientSocket},server=on,wait=off,id=m0`,
      '--monitor',
      'chardev=m0',
      '--chardev',
      `socket,path=${rawSocket},server=on,wait=off,id=m1`,
      '--monitor',
      'chardev=m1',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.once('error', (error) => {
    console.error(`cannot start qemu-storage-daemon: ${error.message}`);
  });
  const deadline = Date.now() + 10_000;
  while (!existsSync(clientSocket) || !existsSync(rawSocket)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('no QMP socket');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const stop = async () => {
    child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  return { clientSocket, rawSocket, stop };
}

async function connectClient(socketPath) {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      return await connectQmp({ path: socketPath });
    } catch (error) {
      if (error.code !== 'ECONNREFUSED' || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

async function rawClient(socketPath) {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      return await rawConnect(socketPath);
    } catch (error) {
      if (error.code !== 'ECONNREFUSED' || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/** The floor: node:net, newline splitting, nothing parsed but the line count. */
function rawConnect(socketPath) {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    socket.setEncoding('utf8');
    let buffer = '';
    let onLine = () => {};
    socket.on('data', (chunk) => {
      buffer += chunk;
      let end = buffer.indexOf('\n');
      while (end >= 0) {
        buffer = buffer.slice(end + 1);
        onLine();
        end = buffer.indexOf('\n');
      }
    });
    socket.once('error', reject);
    let lines = 0;
    onLine = () => {
      lines++;
      if (lines === 1) socket.write('{"execute":"qmp_capabilities","id":0}\n');
      if (lines === 2) {
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

async function rawSequential(raw, count) {
  let id = 0;
  return new Promise((resolve) => {
    raw.setOnLine(() => {
      if (id === count) {
        resolve();
        return;
      }
      id++;
      raw.socket.write(`{"execute":"query-jobs","id":${id}}\n`);
    });
    id++;
    raw.socket.write(`{"execute":"query-jobs","id":${id}}\n`);
  });
}

async function rawPipelined(raw, count, window) {
  let sent = 0;
  let received = 0;
  return new Promise((resolve) => {
    const send = () => {
      sent++;
      raw.socket.write(`{"execute":"query-jobs","id":${sent}}\n`);
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

async function perSecond(count, fn) {
  const start = process.hrtime.bigint();
  await fn();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return count / seconds;
}

const ROUNDS = 3;

// Never hang a CI job: a bench that takes this long is broken.
const watchdog = setTimeout(() => {
  console.error('client bench: no result after 120 s');
  process.exit(1);
}, 120_000);
watchdog.unref();

const daemon = await startDaemon();
try {
  const client = await connectClient(daemon.clientSocket);
  const raw = await rawClient(daemon.rawSocket);
  // Warm-up, then interleaved rounds (client, raw, client, raw, …) so that load from elsewhere
  // on the machine hits both alike; each figure is the best round.
  await clientSequential(client, 500);
  await rawSequential(raw, 500);
  await clientPipelined(client, 2000, WINDOW);
  await rawPipelined(raw, 2000, WINDOW);
  let clientSeq = 0;
  let rawSeq = 0;
  let clientPipe = 0;
  let rawPipe = 0;
  for (let round = 0; round < ROUNDS; round++) {
    clientSeq = Math.max(
      clientSeq,
      await perSecond(SEQUENTIAL, () => clientSequential(client, SEQUENTIAL)),
    );
    rawSeq = Math.max(rawSeq, await perSecond(SEQUENTIAL, () => rawSequential(raw, SEQUENTIAL)));
    clientPipe = Math.max(
      clientPipe,
      await perSecond(PIPELINED, () => clientPipelined(client, PIPELINED, WINDOW)),
    );
    rawPipe = Math.max(
      rawPipe,
      await perSecond(PIPELINED, () => rawPipelined(raw, PIPELINED, WINDOW)),
    );
  }
  await client.close();
  raw.socket.end();

  const fmt = (n) => n.toFixed(0);
  console.log(`client sequential query-jobs: ${fmt(clientSeq)} round-trips/s`);
  console.log(
    `client pipelined query-jobs (${WINDOW} in flight): ${fmt(clientPipe)} round-trips/s`,
  );
  console.log(`raw socket sequential query-jobs: ${fmt(rawSeq)} round-trips/s`);
  console.log(
    `raw socket pipelined query-jobs (${WINDOW} in flight): ${fmt(rawPipe)} round-trips/s`,
  );
  console.log(`sequential raw/client ratio: ${(rawSeq / clientSeq).toFixed(2)} x`);
  console.log(`pipelined raw/client ratio: ${(rawPipe / clientPipe).toFixed(2)} x`);
} finally {
  await daemon.stop();
}
