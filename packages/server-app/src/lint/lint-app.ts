/**
 * The linter's life in qmpkit-server: made at start-up from the command line, reported once at
 * exit (a summary on stderr, `--lint-report FILE` as JSON, the exit status for `--lint-fail`).
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { qmpSchema } from '@qmpkit/qapi-types/7.2';
import type { LintOptions } from '../options.js';
import { MisuseLinter } from './linter.js';
import { findingsJson } from './wire.js';

export interface LintSession {
  readonly linter: MisuseLinter;
  /** Reports (once) and returns the exit status the findings call for. */
  finish(): number;
}

export function startLint(
  options: LintOptions,
  stderr: (text: string) => void,
  program: string,
): LintSession {
  const linter = new MisuseLinter({
    schema: qmpSchema,
    minPollIntervalMs: options.minPollIntervalMs,
    now: () => performance.now(),
  });
  let status: number | undefined;
  return {
    linter,
    finish: () => {
      if (status !== undefined) return status;
      linter.finish();
      const findings = linter.findings();
      stderr(
        `${program}: lint: ${findings.length} finding(s)${linter.dropped > 0 ? ` (${linter.dropped} more dropped)` : ''}\n`,
      );
      for (const f of findings) {
        const who = f.client === undefined ? '' : ` client ${f.client}:`;
        stderr(`${program}: lint: [${f.rule}]${who} ${f.message}\n`);
      }
      status = options.fail && findings.length > 0 ? 1 : 0;
      if (options.reportFile !== undefined) {
        try {
          writeFileSync(options.reportFile, `${JSON.stringify(findingsJson(findings), null, 2)}\n`);
        } catch (error) {
          stderr(
            `${program}: lint: cannot write ${options.reportFile}: ${(error as Error).message}\n`,
          );
          status = 1;
        }
      }
      return status;
    },
  };
}
