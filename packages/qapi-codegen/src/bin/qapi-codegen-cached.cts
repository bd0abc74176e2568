#!/usr/bin/env node
// The qapi-codegen command as package.json's `bin` starts it: the bundled command
// (qapi-codegen.bundle.cjs, built by rolldown from qapi-codegen.ts) compiled with the V8 code
// cache that the build wrote beside it (scripts/write-code-cache.mjs, after running it on QEMU's
// schemas), so that V8 takes the bytecode of every function a run needs from the cache instead
// of parsing and compiling the source again. A run is one short process, and compiling was a
// visible part of it. A cache V8 cannot use (another node, other flags) is rejected by V8 itself,
// and the command then compiles its source as usual: same behaviour, only slower.

import fs = require('node:fs');
import path = require('node:path');
import v8 = require('node:v8');
import vm = require('node:vm');

/** The bundled command's file, and its code cache's. */
const BUNDLE_FILE = path.join(__dirname, 'qapi-codegen.bundle.cjs');
const CODE_CACHE_FILE = path.join(__dirname, 'qapi-codegen.bundle.cache');

/**
 * The V8 flags the command runs with, set before compiling (V8 accepts a code cache only under
 * the flags it was made with). One run reads one schema and exits, so:
 * - no optimizing compilers (TurboFan, Maglev): they spend more time compiling the hot parser
 *   and emitter functions than their code then saves (a third less CPU time without them);
 * - no incremental marking: the heap stays small (tens of MB) and everything in it lives to the
 *   end, so the full mark-compact that incremental marking starts half-way through only costs
 *   time; without it a full collection still happens if the heap ever reaches its limit;
 * - scavenges on the main thread alone, and a young generation that stays at its first size
 *   (a growth factor of 1): almost everything a run allocates lives to the end, so a scavenge
 *   mostly copies survivors out, which a bigger young generation only postpones while it
 *   touches more fresh memory (page faults, kernel time), and helper threads only add
 *   hand-offs on a busy machine. Together they took about a fifth off the command's CPU time
 *   (user plus system) on QEMU 10.0's schema.
 */
function setCommandFlags(): void {
  v8.setFlagsFromString('--no-turbofan');
  v8.setFlagsFromString('--no-maglev');
  v8.setFlagsFromString('--no-incremental-marking');
  v8.setFlagsFromString('--no-parallel-scavenge');
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}

/** Compiles the bundled command as a CommonJS function, with `cachedData` if given. */
function compileCommand(cachedData: Buffer | undefined): vm.Script {
  const source = fs.readFileSync(BUNDLE_FILE, 'utf8');
  // The CommonJS wrapper on the bundle's first line, so that stack traces keep its lines.
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
  return new vm.Script(wrapped, {
    filename: BUNDLE_FILE,
    ...(cachedData === undefined ? {} : { cachedData }),
  });
}

/** Runs the command (its top level reads process.argv and sets process.exitCode). */
function runCommand(script: vm.Script): void {
  const commandModule = { exports: {} };
  script.runInThisContext()(
    commandModule.exports,
    require,
    commandModule,
    BUNDLE_FILE,
    path.dirname(BUNDLE_FILE),
  );
}

// For scripts/write-code-cache.mjs, which makes the cache the same way.
export = { BUNDLE_FILE, CODE_CACHE_FILE, setCommandFlags, compileCommand, runCommand };

if (require.main === module) {
  setCommandFlags();
  let cachedData: Buffer | undefined;
  try {
    cachedData = fs.readFileSync(CODE_CACHE_FILE);
  } catch {
    cachedData = undefined; // no cache (e.g. a build without it): compile the source
  }
  runCommand(compileCommand(cachedData));
}
