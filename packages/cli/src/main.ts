/**
 * `qmpkit` from an argument list to an exit code. Every failure becomes one line on stderr (no
 * stack traces): usage errors exit 2, QEMU errors, failed jobs and connection problems 1,
 * Ctrl-C 130.
 */
import { createRequire } from 'node:module';
import { helpText, parseCommandLine } from './args.js';
import { CliUsageError } from './args-common.js';
import { runExec } from './commands/exec.js';
import { runJobs } from './commands/jobs.js';
import { runRun } from './commands/run.js';
import { runShell } from './commands/shell.js';
import { runWatch } from './commands/watch.js';
import {
  type CliIo,
  describeError,
  EXIT_FAILURE,
  EXIT_INTERRUPTED,
  EXIT_OK,
  EXIT_USAGE,
} from './io.js';
import { InputError } from './keyvalue.js';

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    const invocation = parseCommandLine(argv, io.env, io.home);
    switch (invocation.command) {
      case 'help':
        io.stdout.write(`${invocation.text}\n`);
        return EXIT_OK;
      case 'version':
        io.stdout.write(`qmpkit ${packageVersion()}\n`);
        return EXIT_OK;
      case 'shell':
        return await runShell(invocation, io);
      case 'exec':
        return await runExec(invocation, io);
      case 'jobs':
        return await runJobs(invocation, io);
      case 'watch':
        return await runWatch(invocation, io);
      case 'run':
        return await runRun(invocation, io);
      case 'normalize': {
        const { runNormalize } = await import('./commands/normalize.js');
        return runNormalize(invocation, io);
      }
      case 'record': {
        // Loaded on demand: the proxy's modules need not slow every other command's start.
        const { runRecord } = await import('./commands/record.js');
        return await runRecord(invocation, io);
      }
      case 'dashboard': {
        // Loaded on demand, like record: the HTTP server need not slow every other command.
        const { runDashboard } = await import('./commands/dashboard.js');
        return await runDashboard(invocation, io);
      }
    }
  } catch (error) {
    if (error instanceof CliUsageError) {
      const help = error.command === undefined ? 'qmpkit --help' : `qmpkit ${error.command} --help`;
      io.stderr.write(
        `qmpkit: ${error.message} (see ${help.replace('watch --help', 'jobs watch --help')})\n`,
      );
      return EXIT_USAGE;
    }
    if (error instanceof InputError) {
      io.stderr.write(`qmpkit: ${error.message}\n`);
      return EXIT_USAGE;
    }
    if (io.interrupt.aborted) return EXIT_INTERRUPTED;
    io.stderr.write(`${describeError(error)}\n`);
    return EXIT_FAILURE;
  }
}

/** This package's version (src/ and dist/ are both one level below package.json). */
function packageVersion(): string {
  const manifest = createRequire(import.meta.url)('../package.json') as { version?: unknown };
  return typeof manifest.version === 'string' ? manifest.version : 'unknown';
}

export { helpText };
