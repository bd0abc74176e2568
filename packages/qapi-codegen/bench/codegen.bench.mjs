// Times qapi-codegen against QEMU's own scripts/qapi on QEMU 7.2's full x86_64 schema.
//
// qapi-codegen: parse + check the schema files, then emit the TypeScript types and the runtime
// schema (the work `qapi-codegen <schema> --out DIR` does, minus writing two files), in process,
// from dist/ (run `pnpm build` first). QEMU: `python3 -m qapi.main`-style run of the vendored 7.2
// scripts/qapi (parse, check, and emit all its C: types, visitors, commands, events,
// introspection) into a temp dir, timed as a whole process. Both take the median of RUNS runs.
// QEMU's scripts are GPL and live outside this MIT package: in the repository's qemu-data/, or
// wherever QMPKIT_QEMU_QAPI_SCRIPTS points; without them only qapi-codegen's figures print.
//
// Also times the built qapi-codegen bin as a whole process (node start-up, reading, writing).
// Prints one line per figure: `name: value unit`.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const qemuData = join(here, '../../../qemu-data');
const corpus = join(qemuData, 'qapi-corpus');
const schemaFile = join(corpus, 'schema/qemu-7.2/qapi/qapi-schema.json');
const definesFile = join(corpus, 'introspect/qemu-system-x86_64-7.2-defines.txt');
const RUNS = Number(process.env.BENCH_RUNS ?? 7);

const { emitTypeScript, emitRuntimeModule, parseDefines } = await import('../dist/index.js');
const { loadSchemaFile } = await import('../dist/node/index.js');

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

const defined = parseDefines(readFileSync(definesFile, 'utf8'));
const ours = [];
for (let i = 0; i < RUNS + 1; i++) {
  const t0 = performance.now();
  const schema = loadSchemaFile(schemaFile);
  const types = emitTypeScript(schema, { source: 'qapi-schema.json', defined });
  const runtime = emitRuntimeModule(schema, { source: 'qapi-schema.json', defined });
  const ms = performance.now() - t0;
  if (types.length === 0 || runtime.length === 0) throw new Error('nothing generated');
  if (i > 0) ours.push(ms); // the first run warms up the JIT
}

// The same work as a user runs it: the built bin as a process, node start-up and file writes
// included (QEMU's figure below is a whole process too).
const binRuns = [];
for (let i = 0; i < RUNS; i++) {
  const out = mkdtempSync(join(tmpdir(), 'qapi-codegen-bench-'));
  const t0 = performance.now();
  const run = spawnSync(
    process.execPath,
    [
      join(here, '../dist/bin/qapi-codegen.js'),
      schemaFile,
      '--out',
      out,
      '--defines-file',
      definesFile,
    ],
    { encoding: 'utf8' },
  );
  const ms = performance.now() - t0;
  rmSync(out, { recursive: true, force: true });
  if (run.status !== 0) throw new Error(`qapi-codegen bin failed: ${run.stderr}`);
  binRuns.push(ms);
}

const scripts = process.env.QMPKIT_QEMU_QAPI_SCRIPTS ?? join(qemuData, 'qemu-7.2-scripts-qapi');
const theirs = [];
const haveScripts = existsSync(join(scripts, 'qapi', 'main.py'));
for (let i = 0; haveScripts && i < RUNS; i++) {
  const out = mkdtempSync(join(tmpdir(), 'qemu-qapi-gen-'));
  const t0 = performance.now();
  const run = spawnSync(
    'python3',
    ['-c', 'import sys; from qapi import main; sys.exit(main.main())', '-o', out, '-b', schemaFile],
    { cwd: scripts, encoding: 'utf8' },
  );
  const ms = performance.now() - t0;
  rmSync(out, { recursive: true, force: true });
  if (run.status !== 0) {
    throw new Error(`qemu scripts/qapi failed: ${run.error?.message ?? run.stderr}`);
  }
  theirs.push(ms);
}

const a = median(ours);
console.log(`qapi-codegen x86_64 schema: ${a.toFixed(1)} ms`);
console.log(`qapi-codegen bin x86_64 schema (process): ${median(binRuns).toFixed(1)} ms`);
if (haveScripts) {
  const b = median(theirs);
  console.log(`qemu scripts/qapi x86_64 schema: ${b.toFixed(1)} ms`);
  console.log(`ratio qemu/qapi-codegen: ${(b / a).toFixed(2)} x`);
} else {
  console.error(`QEMU's scripts/qapi not found at ${scripts}: skipping the comparison`);
}
