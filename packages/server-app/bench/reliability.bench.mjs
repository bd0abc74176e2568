// Reliability figures for qmpkit-server, side by side with a real qemu-storage-daemon where a
// comparison means something: fuzz inputs and crashes, connection storms, floods, memory per MB
// of input, a client leaving mid-command, SIGKILL during a job and during blockdev-create, and
// SIGTERM with clients and jobs. Prints one line per figure: `name: value unit`.
//
// It runs what `pnpm build` left in dist/ and builds nothing itself: a build replaces the dist/
// trees that tests running at the same time load (`pnpm build` first; the root
// `pnpm bench:reliability` runs this file).
//
// QMPKIT_BENCH_FAST=1 sends 50,000 fuzz inputs instead of 1,000,000 and shortens the loops;
// `node reliability.bench.mjs <part>` runs one part (fuzz, storms, floods, inputs, …).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../dist/bin/qmpkit-server.js', import.meta.url));
if (!existsSync(BIN)) {
  console.error(`${BIN} is missing: run \`pnpm build\` first (this bench builds nothing).`);
  process.exit(1);
}
const FAST = process.env.QMPKIT_BENCH_FAST === '1';
const FUZZ_INPUTS = Number(process.env.QMPKIT_FUZZ_INPUTS ?? (FAST ? 50_000 : 1_000_000));
const FUZZ_SAMPLE = FAST ? 500 : 2_000;
// A guard against a hang, not a measure: at load 60 on 2 cores a daemon's start took over 30 s.
const HANG_GUARD_MS = 180_000;
const TRIALS = FAST ? 20 : 100;
const root = mkdtempSync(join(tmpdir(), 'qmpkit-reliability-'));
const started = new Set();

const QSD = ['qemu-storage-daemon'];
// The partner is qemu-storage-daemon 7.2: qmpkit-server speaks that version too (its default is
// the newest profile, 10.0, whose query-version and schema replies differ from 7.2's).
const OURS = [process.execPath, BIN, '--qemu-version', '7.2'];
const TARGETS = [
  ['qmpkit', OURS],
  ['qemu', QSD],
];

function figure(name, value, unit) {
  console.log(unit === '' ? `${name}: ${value}` : `${name}: ${value} ${unit}`);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(predicate, ms, what) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

let serial = 0;
/** Starts a daemon with a monitor on a fresh socket; ready once its pidfile exists. */
async function start(command, extra = [], options = {}) {
  const dir = options.dir ?? mkdtempSync(join(root, 'd-'));
  const path = options.path ?? join(dir, `m${serial++}.sock`);
  const pidfile = join(dir, 'pid');
  const args = [
    ...command.slice(1),
    ...extra,
    '--chardev',
    `socket,path=${path},server=on,wait=off,id=m0`,
    '--monitor',
    'chardev=m0',
    '--pidfile',
    pidfile,
  ];
  const child = spawn(command[0], args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir });
  started.add(child);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c) => {
    stderr += c;
  });
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  // Ready once the pidfile names this process (one left by a killed daemon does not count).
  const ours = () => {
    try {
      return readFileSync(pidfile, 'utf8').trim() === String(child.pid);
    } catch {
      return false;
    }
  };
  await until(
    () => ours() || child.exitCode !== null || child.signalCode !== null,
    HANG_GUARD_MS,
    'the daemon',
  );
  if (!ours()) throw new Error(`${command[0]} did not start: ${stderr}`);
  return {
    child,
    dir,
    path,
    pidfile,
    exited,
    stderr: () => stderr,
    alive: () => child.exitCode === null && child.signalCode === null,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      started.delete(child);
    },
  };
}

function procStatus(pid, field) {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(
    readFileSync(`/proc/${pid}/status`, 'utf8'),
  );
  return match ? Number(match[1]) * 1024 : 0;
}
const rss = (pid) => procStatus(pid, 'VmRSS');
const peakRss = (pid) => procStatus(pid, 'VmHWM');
const fds = (pid) => readdirSync(`/proc/${pid}/fd`).length;
const mb = (bytes) => (bytes / 1024 / 1024).toFixed(1);

/** A raw QMP client that counts lines and can wait for a line matching a test. */
function rawClient(path, { read = true } = {}) {
  const socket = connect(path);
  const state = { lines: [], count: 0, closed: false, bytes: 0, keep: true };
  let partial = '';
  const waiters = new Set();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  if (!read) socket.pause();
  socket.setEncoding('latin1');
  socket.on('data', (chunk) => {
    state.bytes += chunk.length;
    partial += chunk;
    let end = partial.indexOf('\n');
    while (end >= 0) {
      state.count++;
      if (state.keep) state.lines.push(partial.slice(0, end).replace(/\r$/, ''));
      partial = partial.slice(end + 1);
      end = partial.indexOf('\n');
    }
    wake();
  });
  socket.on('close', () => {
    state.closed = true;
    wake();
  });
  socket.on('error', (error) => {
    state.error ??= error.code ?? error.message;
  });
  const waitFor = (predicate, ms = 60_000) =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (predicate()) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        } else if (state.closed) {
          waiters.delete(check);
          clearTimeout(timer);
          reject(new Error('closed'));
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error('timed out'));
      }, ms);
      waiters.add(check);
      check();
    });
  return {
    socket,
    state,
    waitFor,
    send: (text) => socket.write(text),
    async negotiate(oob = false) {
      await waitFor(() => state.count >= 1);
      socket.write(
        oob
          ? '{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}'
          : '{"execute":"qmp_capabilities"}',
      );
      await waitFor(() => state.count >= 2);
    },
    /** Sends a command and resolves to its reply (the first line after it that is no event). */
    async ask(text) {
      const before = state.lines.length;
      const reply = () => state.lines.slice(before).find((l) => !l.includes('"event": '));
      socket.write(text);
      await waitFor(() => reply() !== undefined);
      return reply();
    },
    close: () =>
      new Promise((resolve) => {
        if (state.closed) resolve();
        else {
          socket.once('close', resolve);
          socket.destroy();
        }
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Fuzz: mutated QMP inputs, on connections of 500 inputs each ended by a half-close (the server
// answers what it read, then closes).
// ---------------------------------------------------------------------------------------------

const SEEDS = [
  '{"execute":"qmp_capabilities"}',
  '{"execute":"query-version","id":1}',
  '{"execute":"query-jobs","id":"x"}',
  '{"execute":"job-pause","arguments":{"id":"j"},"id":2}',
  '{"execute":"blockdev-add","arguments":{"driver":"null-co","node-name":"n","size":1048576}}',
  '{"execute":"blockdev-mirror","arguments":{"device":"n","target":"n","sync":"full"}}',
  '{"exec-oob":"query-version","id":3}',
  '{"execute":"query-block-jobs","arguments":{},"id":[1,{"a":null}]}',
  '{"execute":"block-job-set-speed","arguments":{"device":"j","speed":-1}}',
  '[1, 2.5e308, "\\u0000", true, null]',
];
const ALPHABET = '{}[]":,\\ \t\r\nabcdefnrtu0123456789-+.eE\x1b\x00\xff';

function makeRandom(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

function mutate(random) {
  let text = SEEDS[Math.floor(random() * SEEDS.length)];
  const edits = 1 + Math.floor(random() * 4);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(random() * (text.length + 1));
    const pick = random();
    const char = ALPHABET[Math.floor(random() * ALPHABET.length)];
    if (pick < 0.4) text = text.slice(0, at) + char + text.slice(at);
    else if (pick < 0.7) text = text.slice(0, at) + text.slice(at + 1);
    else if (pick < 0.9) text = text.slice(0, at) + char + text.slice(at + 1);
    else text = text.slice(0, at);
  }
  return text;
}

/** Sends `inputs` on one connection (negotiated first), half-closes, returns every line. */
async function fuzzConnection(path, inputs, keep) {
  const c = rawClient(path);
  c.state.keep = keep;
  await c.negotiate();
  c.send(`${inputs.join('\n')}\n`);
  c.socket.end();
  await c.waitFor(() => c.state.closed, 120_000).catch(() => {});
  await c.close();
  return c.state.lines;
}

async function fuzz() {
  const ours = await start(OURS);
  const random = makeRandom(14);
  const perConnection = 500;
  let sent = 0;
  const crashed = () => !ours.alive();
  while (sent < FUZZ_INPUTS && !crashed()) {
    const inputs = Array.from({ length: perConnection }, () => mutate(random));
    await fuzzConnection(ours.path, inputs, false);
    sent += inputs.length;
  }
  const internal = (ours.stderr().match(/internal error|dispatcher failure|failed: /g) ?? [])
    .length;
  figure('fuzz qmpkit inputs sent', sent, 'inputs');
  figure('fuzz qmpkit crashes', crashed() ? 1 : 0, 'crashes');
  figure('fuzz qmpkit internal errors logged', internal, 'lines');
  await ours.stop();

  // The same sample to both, one connection per input (a reply is compared with the reply to
  // the same input); a QEMU crash restarts it. Only what may differ is normalised: timestamps
  // and the version's micro number and package string.
  const sample = Array.from({ length: FUZZ_SAMPLE }, () => mutate(random));
  const normalize = (lines) =>
    lines.slice(2).map((l) =>
      l
        .replace(/"timestamp": \{[^}]*\}/g, 'T')
        .replace(/"micro": \d+/g, 'M')
        .replace(/"package": "[^"]*"/g, 'P'),
    );
  let same = 0;
  let compared = 0;
  let qemuCrashes = 0;
  const differing = [];
  const a = await start(OURS);
  let q = await start(QSD);
  for (const input of sample) {
    const [mine, theirs] = await Promise.all([
      fuzzConnection(a.path, [input], true),
      fuzzConnection(q.path, [input], true),
    ]);
    if (!q.alive()) {
      qemuCrashes++;
      await q.stop();
      q = await start(QSD);
      continue;
    }
    compared++;
    if (JSON.stringify(normalize(mine)) === JSON.stringify(normalize(theirs))) same++;
    else differing.push(input);
  }
  figure('fuzz sample inputs with the same reply text as qemu', `${same}/${compared}`, 'inputs');
  figure('fuzz sample inputs with other reply text', JSON.stringify(differing.slice(0, 10)), '');
  figure('fuzz sample qemu crashes', qemuCrashes, 'crashes');
  await a.stop();
  await q.stop();
}

// ---------------------------------------------------------------------------------------------
// Connection storms.
// ---------------------------------------------------------------------------------------------

async function storms() {
  for (const [name, command] of TARGETS) {
    const d = await start(command);
    const pid = d.child.pid;
    const fdsBefore = fds(pid);
    const rssBefore = rss(pid);
    let served = 0;
    for (let i = 0; i < 1000; i++) {
      const c = rawClient(d.path);
      try {
        await c.negotiate();
        if ((await c.ask('{"execute":"query-version","id":1}')).includes('"return"')) served++;
      } catch {
        // Counted as not served.
      }
      await c.close();
    }
    figure(`storm ${name} sequential clients served`, `${served}/1000`, 'clients');
    const clients = Array.from({ length: 200 }, () => rawClient(d.path));
    const results = await Promise.all(
      clients.map(async (c) => {
        try {
          await c.waitFor(() => c.state.count >= 1, 120_000);
          c.send('{"execute":"qmp_capabilities"}{"execute":"query-version","id":1}');
          await c.waitFor(() => c.state.count >= 3, 120_000);
          await c.close();
          return 1;
        } catch {
          await c.close();
          return 0;
        }
      }),
    );
    figure(
      `storm ${name} concurrent clients served`,
      `${results.reduce((x, y) => x + y, 0)}/200`,
      'clients',
    );
    const refusals = clients.filter((c) => c.state.error !== undefined && c.state.count === 0);
    figure(
      `storm ${name} concurrent clients refused at connect`,
      `${refusals.length}/200`,
      `clients (${[...new Set(refusals.map((c) => c.state.error))].join(',') || 'none'})`,
    );
    await sleep(200);
    figure(`storm ${name} fds before/after`, `${fdsBefore}/${fds(pid)}`, 'fds');
    figure(`storm ${name} rss before/after`, `${mb(rssBefore)}/${mb(rss(pid))}`, 'MiB');
    await d.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Floods: a client pipelining query-qmp-schema without reading, and one reading as it goes,
// each with OOB off and on (with OOB on, both daemons read up to 8 requests ahead); peak memory
// per MB of `1 ` input.
// ---------------------------------------------------------------------------------------------

async function floods() {
  const requests = FAST ? 500 : 2000;
  const text = Array.from(
    { length: requests },
    (_, i) => `{"execute":"query-qmp-schema","id":${i}}`,
  ).join('');
  for (const oob of [false, true]) {
    const mode = oob ? ' oob' : '';
    for (const [name, command] of TARGETS) {
      const d = await start(command);
      const pid = d.child.pid;
      const before = rss(pid);
      const idle = rawClient(d.path, { read: false });
      idle.send(
        oob
          ? '{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}'
          : '{"execute":"qmp_capabilities"}',
      );
      idle.send(text);
      // The server has written what it will: sample its memory for a while.
      let peak = rss(pid);
      for (let i = 0; i < 40; i++) {
        await sleep(50);
        peak = Math.max(peak, rss(pid));
      }
      figure(`flood ${name}${mode} non-reading client rss growth`, mb(peak - before), 'MiB');
      await idle.close();

      const reader = rawClient(d.path);
      reader.state.keep = false;
      await reader.negotiate(oob);
      reader.send(text);
      const got = await reader
        .waitFor(() => reader.state.count >= requests + 2, 600_000)
        .then(() => reader.state.count - 2)
        .catch(() => reader.state.count - 2);
      figure(
        `flood ${name}${mode} reading client replies received`,
        `${got}/${requests}`,
        'replies',
      );
      figure(`flood ${name}${mode} reading client disconnected`, reader.state.closed ? 1 : 0, '');
      await reader.close();
      await d.stop();
    }
  }
}

async function inputs() {
  // Peak memory an input costs: `1 ` repeated (a million tiny requests per 2 MiB, each answered
  // with an error), and one message of many tokens (`[1,1,…`; both daemons hold a message's
  // tokens until it is complete). Measured at two sizes: the growth per MiB between them is
  // what each further MiB costs; the growth at the small size includes a fixed part (for Node,
  // its heap growing to its working size).
  //
  // Shapes: many tiny messages (`1 `, `{"a":1}`: each answered with an error), one message of
  // many tokens (`[1,1,…]`, `[{"a":1},{"a":1},…]`: every token is held until the message is
  // complete, up to QEMU's limit of 2^21 tokens), deep nesting (`[[[…`: refused at depth 1024,
  // again and again), and one long string (`"aaa…"`, a single token up to the 64 MiB limit).
  const MiB = 1024 * 1024;
  const many = FAST ? [1, 4] : [2, 8];
  const kinds = [
    ['"1 "', (mib) => '1 '.repeat(mib * 512 * 1024), many],
    ['"{"a":1}"', (mib) => '{"a":1}'.repeat((mib * MiB) / 7), many],
    ['one "[1,1,…" message', (mib) => `[${'1,'.repeat(mib * 512 * 1024 - 1)}1]\n`, [0.5, 1]],
    [
      'one "[{"a":1},…" message',
      (mib) => `[${'{"a":1},'.repeat((mib * MiB) / 8 - 1)}{}]\n`,
      [0.5, 1],
    ],
    ['"[[[…"', (mib) => '['.repeat(mib * MiB), many],
    ['one long string', (mib) => `"${'a'.repeat(mib * MiB - 2)}"\n`, many],
  ];
  // QMPKIT_BENCH_INPUT=<part of a label> measures only the shapes it names.
  const chosen = kinds.filter(([label]) => label.includes(process.env.QMPKIT_BENCH_INPUT ?? ''));
  for (const [label, make, sizes] of chosen) {
    for (const [name, command] of TARGETS) {
      const growth = [];
      for (const mib of sizes) {
        const d = await start(command);
        const pid = d.child.pid;
        const before = rss(pid);
        const c = rawClient(d.path);
        c.state.keep = false;
        await c.negotiate();
        c.send(make(mib));
        c.socket.end();
        await c.waitFor(() => c.state.closed, 600_000).catch(() => {});
        growth.push(peakRss(pid) - before);
        figure(`input ${name} ${label} ${mib} MiB replies`, c.state.count - 2, 'replies');
        figure(`input ${name} ${label} ${mib} MiB peak rss growth`, mb(growth.at(-1)), 'MiB');
        await d.stop();
      }
      const [small, large] = sizes;
      figure(
        `input ${name} ${label} peak rss growth per further MiB of input`,
        (Math.max(0, growth[1] - growth[0]) / (large - small) / 1024 / 1024).toFixed(1),
        'MiB',
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// A client that leaves mid-command: does its reply reach the next client?
// ---------------------------------------------------------------------------------------------

async function leavers() {
  for (const [name, command] of TARGETS) {
    const d = await start(command);
    let wrong = 0;
    let trials = 0;
    for (let i = 0; i < TRIALS; i++) {
      const a = rawClient(d.path);
      await a.negotiate();
      a.send('{"execute":"query-qmp-schema","id":"theirs"}');
      a.socket.destroy();
      const b = rawClient(d.path);
      try {
        await b.negotiate();
        await b.ask('{"execute":"query-version","id":"mine"}');
        // Both replies would be in by now: the schema's comes first if it comes at all.
        if (b.state.lines.some((l) => l.includes('"theirs"'))) wrong++;
        trials++;
      } catch {
        // Counted as not run.
      }
      await b.close();
    }
    figure(`leaver ${name} replies delivered to the next client`, `${wrong}/${trials}`, 'trials');
    await d.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// SIGKILL during a job and during blockdev-create; SIGTERM with clients and jobs.
// ---------------------------------------------------------------------------------------------

function qemuImgCheck(path) {
  try {
    execFileSync('qemu-img', ['check', '-f', 'qcow2', path], { stdio: 'ignore' });
    return 'valid';
  } catch {
    return 'invalid';
  }
}

async function kills() {
  for (const [name, command] of TARGETS) {
    const dir = mkdtempSync(join(root, 'kill-'));
    const path = join(dir, 'qmp.sock');
    const outcomes = { nothing: 0, empty: 0, valid: 0, invalid: 0 };
    let restarts = 0;
    const runs = FAST ? 10 : 50;
    for (let i = 0; i < runs; i++) {
      const image = join(dir, `img${i}.qcow2`);
      const d = await start(command, [], { dir, path });
      const c = rawClient(path);
      await c.negotiate();
      await c.ask(
        `{"execute":"blockdev-create","arguments":{"job-id":"f","options":{"driver":"file","filename":"${image}","size":0}},"id":1}`,
      );
      await c.waitFor(() => c.state.lines.some((l) => l.includes('"concluded"')), HANG_GUARD_MS);
      await c.ask(
        `{"execute":"blockdev-add","arguments":{"driver":"file","filename":"${image}","node-name":"f${i}"},"id":2}`,
      );
      c.send(
        `{"execute":"blockdev-create","arguments":{"job-id":"q","options":{"driver":"qcow2","file":"f${i}","size":1073741824}},"id":3}`,
      );
      // Killed at a varying moment once the job exists (the image is written while it runs).
      await c
        .waitFor(() => c.state.lines.some((l) => l.includes('"created", "id": "q"')), HANG_GUARD_MS)
        .catch(() => {});
      await sleep((i * 7) % 60);
      d.child.kill('SIGKILL');
      await d.exited;
      started.delete(d.child);
      await c.close();
      if (!existsSync(image)) outcomes.nothing++;
      else if (statSync(image).size === 0) outcomes.empty++;
      else outcomes[qemuImgCheck(image)]++;
      // Restart on the same socket path and pidfile (both left behind by SIGKILL).
      try {
        const again = await start(command, [], { dir, path });
        const r = rawClient(path);
        await r.negotiate();
        restarts++;
        await r.close();
        await again.stop();
      } catch {
        // Counted as a failed restart.
      }
    }
    figure(
      `sigkill-create ${name} image after kill (absent/empty/valid/invalid)`,
      `${outcomes.nothing}/${outcomes.empty}/${outcomes.valid}/${outcomes.invalid}`,
      'runs',
    );
    figure(`sigkill-create ${name} restarts on the same path`, `${restarts}/${runs}`, 'runs');

    // SIGKILL during a running mirror: restart on the same path.
    const d = await start(
      command,
      [
        '--blockdev',
        'null-co,node-name=src,size=1073741824',
        '--blockdev',
        'null-co,node-name=dst,size=1073741824',
      ],
      { dir, path },
    );
    const c = rawClient(path);
    await c.negotiate();
    await c.ask(
      '{"execute":"blockdev-mirror","arguments":{"job-id":"m","device":"src","target":"dst","sync":"full","speed":1},"id":1}',
    );
    d.child.kill('SIGKILL');
    await d.exited;
    started.delete(d.child);
    await c.close();
    const scratch = readdirSync(dir).filter((f) => f.startsWith('.img'));
    figure(`sigkill-create ${name} scratch files left beside images`, scratch.length, 'files');
    const leftovers = readdirSync(dir).filter((f) => !f.startsWith('img') && !f.startsWith('.img'));
    let restarted = 0;
    try {
      const again = await start(command, [], { dir, path });
      const r = rawClient(path);
      await r.negotiate();
      restarted = 1;
      await r.close();
      await again.stop();
    } catch {
      // Not restarted.
    }
    figure(
      `sigkill-job ${name} files left (socket, pidfile)`,
      leftovers.sort().join('+') || 'none',
      '',
    );
    figure(`sigkill-job ${name} restart on the same path`, restarted, 'ok');
    rmSync(dir, { recursive: true, force: true });
  }

  // SIGTERM with two clients (one served, one waiting its turn) and two running jobs.
  const blockdevs = ['src', 'dst', 'src2', 'dst2'].flatMap((node) => [
    '--blockdev',
    `null-co,node-name=${node},size=1073741824`,
  ]);
  for (const [name, command] of TARGETS) {
    const d = await start(command, blockdevs);
    const c = rawClient(d.path);
    await c.negotiate();
    await c.ask(
      '{"execute":"blockdev-mirror","arguments":{"job-id":"m","device":"src","target":"dst","sync":"full","speed":1},"id":1}',
    );
    await c.ask(
      '{"execute":"blockdev-backup","arguments":{"job-id":"b","device":"src2","target":"dst2","sync":"full","speed":1},"id":2}',
    );
    const waiting = rawClient(d.path);
    await new Promise((resolve) => waiting.socket.once('connect', resolve));
    const seen = c.state.lines.length;
    const began = performance.now();
    d.child.kill('SIGTERM');
    const { code, signal } = await d.exited;
    const took = performance.now() - began;
    started.delete(d.child);
    await c.waitFor(() => c.state.closed, 10_000).catch(() => {});
    await waiting.waitFor(() => waiting.state.closed, 10_000).catch(() => {});
    const events = c.state.lines.slice(seen).map((l) => {
      const event = /"event": "([A-Z_]+)"/.exec(l)?.[1] ?? 'reply';
      const status = /"status": "(\w+)"/.exec(l)?.[1];
      const id = /"(?:id|device)": "(\w+)"/.exec(l)?.[1];
      return `${event}${status ? `:${status}` : ''}${id ? `(${id})` : ''}`;
    });
    figure(`sigterm ${name} events before EOF`, events.join(',') || 'none', '');
    figure(`sigterm ${name} served client saw EOF`, c.state.closed ? 1 : 0, '');
    figure(`sigterm ${name} waiting client saw EOF`, waiting.state.closed ? 1 : 0, '');
    figure(`sigterm ${name} exit code`, code ?? signal, '');
    figure(`sigterm ${name} socket removed`, existsSync(d.path) ? 0 : 1, '');
    figure(`sigterm ${name} pidfile removed`, existsSync(d.pidfile) ? 0 : 1, '');
    figure(`sigterm ${name} time to exit`, took.toFixed(0), 'ms');
    await c.close();
    await waiting.close();
  }

  // SIGTERM with a client that does not read (its output piled up); then a second signal.
  for (const [name, command] of TARGETS) {
    for (const signals of [1, 2]) {
      const d = await start(command);
      const idle = rawClient(d.path, { read: false });
      idle.send(`{"execute":"qmp_capabilities"}${'{"execute":"query-qmp-schema"}'.repeat(50)}`);
      // How much a daemon has taken in cannot be seen from outside: a bench (not a test), it
      // gives the daemon a second to pile the output up.
      await sleep(1000);
      const began = performance.now();
      d.child.kill('SIGTERM');
      // The second once the first was taken in (qmpkit-server logs it; QEMU says nothing).
      if (signals === 2) {
        if (name === 'qmpkit')
          await until(() => d.stderr().includes('shutting down'), HANG_GUARD_MS, 'log');
        d.child.kill('SIGTERM');
      }
      const { code, signal } = await d.exited;
      started.delete(d.child);
      const took = (performance.now() - began).toFixed(0);
      const label = signals === 1 ? 'SIGTERM' : 'two SIGTERMs';
      figure(`sigterm ${name} non-reading client, ${label}: time to exit`, took, 'ms');
      figure(`sigterm ${name} non-reading client, ${label}: exit code`, code ?? signal, '');
      await idle.close();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// What QEMU does wrong: null-co with size -1.
// ---------------------------------------------------------------------------------------------

async function nullCoNegative() {
  for (const [name, command] of TARGETS) {
    const d = await start(command);
    const c = rawClient(d.path);
    await c.negotiate();
    let reply = 'no reply';
    try {
      reply = await c.ask(
        '{"execute":"blockdev-add","arguments":{"driver":"null-co","node-name":"n","size":-1},"id":1}',
      );
      await c.ask('{"execute":"query-named-block-nodes","id":2}');
    } catch {
      // The daemon went away.
    }
    await until(() => true, 0, '');
    await sleep(100);
    figure(`null-co size -1 ${name} survived`, d.alive() ? 1 : 0, '');
    figure(`null-co size -1 ${name} reply`, JSON.stringify(reply), '');
    await c.close();
    await d.stop();
  }
}

try {
  const only = process.argv[2];
  const parts = { fuzz, storms, floods, inputs, leavers, kills, nullCoNegative };
  for (const [name, part] of Object.entries(parts)) if (!only || only === name) await part();
} finally {
  for (const child of started) child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
}
