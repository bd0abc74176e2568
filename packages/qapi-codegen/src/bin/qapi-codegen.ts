// The qapi-codegen command. Failures are one readable line on stderr and exit code 1.
// package.json's `bin` starts it through qapi-codegen-cached.cts (V8 flags, code cache).

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

process.exitCode = main(process.argv.slice(2));
