// Times qapi-codegen against QEMU's own generator (scripts/qapi), like with like: each is run as a
// whole process on the same schema — QEMU's full x86_64 schema (qapi/qapi-schema.json) of 7.2 and
// of 10.0 — start-up, reading the files, checking and writing included. QEMU's side is `python3`
// running that release's scripts/qapi (parse, check, and emit all its C: types, visitors,
// commands, events, introspection) into a temp dir; ours is the built `qapi-codegen` bin emitting
// the TypeScript types and the runtime schema into a temp dir, with `--qemu` naming the release.
// The runs alternate between the two tools, so that a change of machine load hits both alike; each
// figure is the median of RUNS runs, as wall time and (on Linux) as the process's CPU time, user
// plus system, which a loaded machine disturbs far less. (Run `pnpm build` first.)
//
// QEMU's generators are GPL and live outside this MIT package: `.ci/fetch-qemu` puts both
// releases' scripts/ into its cache (QMPKIT_QEMU_7_2_SOURCE and QMPKIT_QEMU_10_0_DIR point
// elsewhere); for 7.2 the copy in the repository's qemu-data/ is used when the cache has none.
// A release whose generator is missing prints only qapi-codegen's figure.
//
// Each tool runs as itself, in the same environment. QEMU's side is the Python interpreter that
// `python3` names (its sys.executable; QMPKIT_PYTHON names another), started directly: a
// `python3` on PATH may be a shim (pyenv's is a bash script that runs `pyenv exec`, which cost
// about 0.45 s of CPU per run on the bench machine before Python even started), and that would
// count against QEMU. And both run without NODE_EXTRA_CA_CERTS, which makes every node process
// parse that certificate bundle at start-up (about 45 ms of CPU per run for the system bundle,
// before any script runs) though nothing here uses TLS; QEMU's side never loads one either.
//
// Also times qapi-codegen in process (parse, check and emit, warm JIT) on 7.2's schema.
// Prints one line per figure: `name: value unit`.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const qemuData = join(here, '../../../qemu-data');
const corpus = join(qemuData, 'qapi-corpus');
// The file package.json's `bin` names: what npm links as the `qapi-codegen` command.
const bin = join(
  here,
  '..',
  JSON.parse(readFileSync(join(here, '../package.json'), 'utf8')).bin['qapi-codegen'],
);
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const cache =
  process.env.QMPKIT_QEMU_CACHE ??
  join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'qmpkit');

/** The first directory holding QEMU's `qapi/main.py` (a `scripts` folder), if any. */
const scriptsIn = (...dirs) => dirs.find((d) => existsSync(join(d, 'qapi', 'main.py')));

const releases = [
  {
    qemu: '7.2',
    scripts: scriptsIn(
      join(process.env.QMPKIT_QEMU_7_2_SOURCE ?? join(cache, 'qemu-7.2', 'source'), 'scripts'),
      join(qemuData, 'qemu-7.2-scripts-qapi'),
    ),
  },
  {
    qemu: '10.0',
    scripts: scriptsIn(
      join(process.env.QMPKIT_QEMU_10_0_DIR ?? join(cache, 'qemu-10.0.2'), 'source', 'scripts'),
    ),
  },
];
// Debian's x86_64 build conditions (recorded on 7.2; 10.0's system emulator is not fetched, and
// QEMU's generator emits every conditional branch behind #if whatever the build).
const definesFile = join(corpus, 'introspect/qemu-system-x86_64-7.2-defines.txt');

/** The environment both tools run in: the caller's, minus what only adds start-up work. */
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;

/** The Python interpreter `python3` stands for (not a shim in front of it). */
function pythonExecutable() {
  if (process.env.QMPKIT_PYTHON) return process.env.QMPKIT_PYTHON;
  const probe = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], {
    encoding: 'utf8',
  });
  const executable = probe.status === 0 ? probe.stdout.trim() : '';
  return executable === '' ? 'python3' : executable;
}
const python = pythonExecutable();
console.error(`QEMU's generator runs under ${python}`);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

/**
 * CPU time (user + system, ms) of this process's waited-for children so far, from Linux's
 * /proc/self/stat (cutime and cstime, in USER_HZ ticks, 100 a second on Linux); undefined
 * elsewhere. On a loaded machine a process's wall time mostly measures its wait for a core,
 * while its CPU time stays what the process itself costs.
 */
function childrenCpuMs() {
  let stat;
  try {
    stat = readFileSync('/proc/self/stat', 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name (which may hold spaces) start with field 3, the state.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[16 - 3]) + Number(fields[17 - 3])) * 10;
}

/** Runs `command` in a fresh output directory; returns its wall time and CPU time in ms. */
function timeProcess(what, command, args, options = {}) {
  const out = mkdtempSync(join(tmpdir(), 'qapi-gen-bench-'));
  try {
    const cpu0 = childrenCpuMs();
    const t0 = performance.now();
    const run = spawnSync(command, [...args, out], { encoding: 'utf8', env, ...options });
    const wall = performance.now() - t0;
    const cpu1 = childrenCpuMs();
    if (run.status !== 0) throw new Error(`${what} failed: ${run.error?.message ?? run.stderr}`);
    return { wall, cpu: cpu0 === undefined || cpu1 === undefined ? undefined : cpu1 - cpu0 };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** Prints the wall-time and CPU-time figures of both tools on one release's schema. */
function report(qemu, ours, theirs) {
  const wall = (runs) => median(runs.map((r) => r.wall));
  const cpu = (runs) => (runs[0]?.cpu === undefined ? undefined : median(runs.map((r) => r.cpu)));
  const a = wall(ours);
  console.log(`qapi-codegen process ${qemu} x86_64 schema: ${a.toFixed(1)} ms`);
  const aCpu = cpu(ours);
  if (aCpu !== undefined) console.log(`qapi-codegen process cpu ${qemu} x86_64 schema: ${aCpu} ms`);
  if (theirs.length === 0) return;
  const b = wall(theirs);
  console.log(`qemu scripts/qapi process ${qemu} x86_64 schema: ${b.toFixed(1)} ms`);
  const bCpu = cpu(theirs);
  if (bCpu !== undefined)
    console.log(`qemu scripts/qapi process cpu ${qemu} x86_64 schema: ${bCpu} ms`);
  console.log(`ratio process qemu/qapi-codegen ${qemu}: ${(b / a).toFixed(2)} x`);
  if (aCpu !== undefined && bCpu !== undefined && aCpu > 0) {
    console.log(`ratio process cpu qemu/qapi-codegen ${qemu}: ${(bCpu / aCpu).toFixed(2)} x`);
  }
}

for (const { qemu, scripts } of releases) {
  const schemaFile = join(corpus, `schema/qemu-${qemu}/qapi/qapi-schema.json`);
  const oursArgs = [bin, schemaFile, '--qemu', qemu, '--defines-file', definesFile, '--out'];
  const theirsArgs = [
    '-c',
    'import sys; from qapi import main; sys.exit(main.main())',
    '-b',
    schemaFile,
    '-o',
  ];
  const ours = [];
  const theirs = [];
  for (let i = 0; i < RUNS; i++) {
    ours.push(timeProcess('qapi-codegen', process.execPath, oursArgs));
    if (scripts)
      theirs.push(timeProcess('QEMU scripts/qapi', python, theirsArgs, { cwd: scripts }));
  }
  report(qemu, ours, theirs);
  if (!scripts) {
    console.error(`QEMU ${qemu}'s scripts/qapi not found (bash .ci/fetch-qemu): no comparison`);
  }
}

// In process, warm: what the library costs once node and the modules are loaded.
const { emitTypeScript, emitRuntimeModule, parseDefines } = await import('../dist/index.js');
const { loadSchemaFile } = await import('../dist/node/index.js');
const defined = parseDefines(readFileSync(definesFile, 'utf8'));
const schemaFile = join(corpus, 'schema/qemu-7.2/qapi/qapi-schema.json');
const inProcess = [];
for (let i = 0; i < RUNS + 1; i++) {
  const t0 = performance.now();
  const schema = loadSchemaFile(schemaFile);
  const types = emitTypeScript(schema, { source: 'qapi-schema.json', defined });
  const runtime = emitRuntimeModule(schema, { source: 'qapi-schema.json', defined });
  const ms = performance.now() - t0;
  if (types.length === 0 || runtime.length === 0) throw new Error('nothing generated');
  if (i > 0) inProcess.push(ms); // the first run warms up the JIT
}
console.log(`qapi-codegen in process 7.2 x86_64 schema: ${median(inProcess).toFixed(1)} ms`);
