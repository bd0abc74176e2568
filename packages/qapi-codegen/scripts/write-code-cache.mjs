// Build step: writes dist/bin/qapi-codegen.bundle.cache, the V8 code cache the command starts
// from (see src/bin/qapi-codegen-cached.cts). It compiles the bundled command the way the bin
// does, runs it on QEMU 7.2's and 10.0's full schemas (so every function a run needs has been
// compiled: both doc comment parsers, the checks, both emitters), then asks V8 for the cache,
// which holds the bytecode of every function compiled so far.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const bin = require('../dist/bin/qapi-codegen-cached.cjs');
const corpus = fileURLToPath(new URL('../../../qemu-data/qapi-corpus/', import.meta.url));

bin.setCommandFlags();
const script = bin.compileCommand(undefined);
const argv = process.argv;
const out = mkdtempSync(join(tmpdir(), 'qapi-codegen-code-cache-'));
try {
  for (const qemu of ['7.2', '10.0']) {
    process.argv = [argv[0], bin.BUNDLE_FILE, '--qemu', qemu, '--out', out, '--defines-file'];
    process.argv.push(join(corpus, 'introspect/qemu-system-x86_64-7.2-defines.txt'));
    process.argv.push(join(corpus, `schema/qemu-${qemu}/qapi/qapi-schema.json`));
    bin.runCommand(script);
    if (process.exitCode !== 0) throw new Error(`qapi-codegen failed on QEMU ${qemu}'s schema`);
  }
} finally {
  process.argv = argv;
  rmSync(out, { recursive: true, force: true });
}
writeFileSync(bin.CODE_CACHE_FILE, script.createCachedData());
