/**
 * The linter's life in qmpkit-server: made at start-up from the command line, reported once at
 * exit (a summary on stderr, `--lint-report FILE` as JSON, the exit status for `--lint-fail`).
 * A fleet's VMs each have a linter of their own; the report holds every VM's findings, each
 * with its VM's name.
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { qmpSchema } from '@qmpkit/qapi-types/7.2';
import type { LintOptions } from '../options.js';
import { MisuseLinter } from './linter.js';
import { findingsJson, type LintFindingJson } from './wire.js';

export interface LintSession {
  /** The linter of the single VM. */
  readonly linter: MisuseLinter;
  /** The linter of fleet VM `name` (made on first use). */
  linterFor(name: string): MisuseLinter;
  /** Judges what the clients left behind (before the jobs are ended on the way out). */
  judge(): void;
  /** Reports (once) and returns the exit status the findings call for. */
  finish(): number;
}

export function startLint(
  options: LintOptions,
  stderr: (text: string) => void,
  program: string,
): LintSession {
  const newLinter = () =>
    new MisuseLinter({
      schema: qmpSchema,
      minPollIntervalMs: options.minPollIntervalMs,
      now: () => performance.now(),
    });
  // undefined: the single VM's; a fleet's VMs by name, in the order they were made.
  const linters = new Map<string | undefined, MisuseLinter>();
  const linterFor = (name: string | undefined) => {
    let linter = linters.get(name);
    if (linter === undefined) {
      linter = newLinter();
      linters.set(name, linter);
    }
    return linter;
  };
  let status: number | undefined;
  return {
    get linter() {
      return linterFor(undefined);
    },
    linterFor,
    judge: () => {
      for (const linter of linters.values()) linter.finish();
    },
    finish: () => {
      if (status !== undefined) return status;
      const report: LintFindingJson[] = [];
      let count = 0;
      let dropped = 0;
      const lines: string[] = [];
      for (const [vm, linter] of linters) {
        linter.finish();
        const findings = linter.findings();
        count += findings.length;
        dropped += linter.dropped;
        const where = vm === undefined ? '' : ` vm ${vm}:`;
        for (const f of findings) {
          const who = f.client === undefined ? '' : ` client ${f.client}:`;
          lines.push(`${program}: lint: [${f.rule}]${where}${who} ${f.message}\n`);
        }
        const json = findingsJson(findings);
        report.push(...(vm === undefined ? json : json.map((f) => ({ vm, ...f }))));
      }
      stderr(
        `${program}: lint: ${count} finding(s)${dropped > 0 ? ` (${dropped} more dropped)` : ''}\n`,
      );
      for (const line of lines) stderr(line);
      status = options.fail && count > 0 ? 1 : 0;
      if (options.reportFile !== undefined) {
        try {
          writeFileSync(options.reportFile, `${JSON.stringify(report, null, 2)}\n`);
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
