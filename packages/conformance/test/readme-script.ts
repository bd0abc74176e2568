// Running a README's example as written: the `sh` block of a section, in a temporary directory,
// with `qmpkit` and `qmpkit-server` on the PATH as a user has them. Whatever the script starts is
// killed (its process group) when it is over or overdue; `cleanUp()` removes the directory.

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HANG_GUARD_MS } from '@qmpkit/test-support';
import { CLI_BIN, SERVER_BIN } from './cli-harness.js';

/** The first `sh` block of a README section (`readme` relative to this directory), as written. */
export function readmeExample(readme: string, heading: string): string {
  const text = readFileSync(fileURLToPath(new URL(readme, import.meta.url)), 'utf8');
  const start = text.indexOf(`## ${heading}\n`);
  if (start < 0) throw new Error(`${readme} has no section ${heading}`);
  const block = /```sh\n([\s\S]*?)```/.exec(text.slice(start));
  if (block === null) throw new Error(`${readme}: no sh block in ${heading}`);
  return block[1]!;
}

export interface ScriptRun {
  readonly code: number | null;
  /** stdout and stderr, interleaved. */
  readonly output: string;
  /** Where it ran (files it wrote are there until cleanUp). */
  readonly dir: string;
  cleanUp(): void;
}

/** Runs `script` with `bash -e` in a new temporary directory. */
export async function runScript(
  script: string,
  prefix: string,
  timeoutMs = HANG_GUARD_MS,
): Promise<ScriptRun> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(join(dir, 'bin'));
  symlinkSync(CLI_BIN, join(dir, 'bin', 'qmpkit'));
  symlinkSync(SERVER_BIN, join(dir, 'bin', 'qmpkit-server'));
  const child = spawn('bash', ['-e', '-c', script], {
    cwd: dir,
    env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}` },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => {
    output += c;
  });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => {
    output += c;
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const killGroup = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  const timer = setTimeout(killGroup, timeoutMs);
  const code = await exited;
  clearTimeout(timer);
  // A server the script left in the background goes with it.
  killGroup();
  return {
    code,
    output,
    dir,
    cleanUp: () => rmSync(dir, { recursive: true, force: true }),
  };
}
