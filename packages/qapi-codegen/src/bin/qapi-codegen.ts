#!/usr/bin/env node
// The qapi-codegen command. Failures are one readable line on stderr and exit code 1.

import { setFlagsFromString } from 'node:v8';
import { CodegenUsageError, parseCliArgs, USAGE } from '../cli-args.js';
import { QapiSchemaError } from '../errors.js';
import { generateFiles } from '../node/generate-files.js';

function main(argv: readonly string[]): number {
  try {
    const cmd = parseCliArgs(argv);
    if (cmd.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const { kind, written } = generateFiles(cmd);
    process.stdout.write(`qapi-codegen: read ${kind} ${cmd.input}, wrote ${written.join(', ')}\n`);
    return 0;
  } catch (err) {
    if (err instanceof CodegenUsageError) {
      process.stderr.write(`qapi-codegen: ${err.message}\n`);
    } else if (QapiSchemaError.isInstance(err)) {
      process.stderr.write(`qapi-codegen: ${err.message}\n`);
    } else {
      const message = err instanceof Error ? err.message : String(err);
      process.stderr.write(`qapi-codegen: ${message.split('\n')[0]}\n`);
    }
    return 1;
  }
}

// One run reads one schema and exits: V8's optimizing compilers (TurboFan, Maglev) spend more
// time compiling the hot parser and emitter functions than the optimized code then saves. Without
// them the process takes about a third less CPU time (measured with the bench). Functions compile
// lazily, so the flags still apply to everything main() runs.
setFlagsFromString('--no-turbofan');
setFlagsFromString('--no-maglev');
process.exitCode = main(process.argv.slice(2));
