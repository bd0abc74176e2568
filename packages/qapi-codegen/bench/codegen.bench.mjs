// Times qapi-codegen against QEMU's own generator (scripts/qapi), like with like: each is run as a
// whole process on the same schema — QEMU's full x86_64 schema (qapi/qapi-schema.json) of 7.2 and
// of 10.0 — start-up, reading the files, checking and writing included. QEMU's side is `python3`
// running that release's scripts/qapi (parse, check, and emit all its C: types, visitors,
// commands, events, introspection) into a temp dir; ours is the built `qapi-codegen` bin emitting
// the TypeScript types and the runtime schema into a temp dir, with `--qemu` naming the release.
// The runs alternate between the two tools, so that a change of machine load hits both alike; each
// figure is the median of RUNS runs. (Run `pnpm build` first.)
//
// QEMU's generators are GPL and live outside this MIT package: `.ci/fetch-qemu` puts both
// releases' scripts/ into its cache (QMPKIT_QEMU_7_2_SOURCE and QMPKIT_QEMU_10_0_DIR point
// elsewhere); for 7.2 the copy in the repository's qemu-data/ is used when the cache has none.
// A release whose generator is missing prints only qapi-codegen's figure.
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
const bin = join(here, '../dist/bin/qapi-codegen.js');
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

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

/** Runs `command` in a fresh output directory and returns its wall time in ms. */
function timeProcess(what, command, args, options = {}) {
  const out = mkdtempSync(join(tmpdir(), 'qapi-gen-bench-'));
  try {
    const t0 = performance.now();
    const run = spawnSync(command, [...args, out], { encoding: 'utf8', ...options });
    const ms = performance.now() - t0;
    if (run.status !== 0) throw new Error(`${what} failed: ${run.error?.message ?? run.stderr}`);
    return ms;
  } finally {
    rmSync(out, { recursive: true, force: true });
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
      theirs.push(timeProcess('QEMU scripts/qapi', 'python3', theirsArgs, { cwd: scripts }));
  }
  const a = median(ours);
  console.log(`qapi-codegen process ${qemu} x86_64 schema: ${a.toFixed(1)} ms`);
  if (!scripts) {
    console.error(`QEMU ${qemu}'s scripts/qapi not found (bash .ci/fetch-qemu): no comparison`);
    continue;
  }
  const b = median(theirs);
  console.log(`qemu scripts/qapi process ${qemu} x86_64 schema: ${b.toFixed(1)} ms`);
  console.log(`ratio process qemu/qapi-codegen ${qemu}: ${(b / a).toFixed(2)} x`);
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
