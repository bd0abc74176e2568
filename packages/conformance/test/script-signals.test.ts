// The browser scripts (bench/readme-screenshot.mjs here; bench/dashboard.bench.mjs uses the same
// runScript) stopped half-way by Ctrl-C or by SIGTERM leave nothing behind: no chromium (which
// runs in a process group of its own, out of a Ctrl-C's reach), no qmpkit-server, no profile or
// other temporary file. Each run gets a temporary directory of its own as TMPDIR, so everything
// it starts names that directory and everything it writes lands in it.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HANG_GUARD_MS, until } from '@qmpkit/test-support';
import { afterEach, expect, test } from 'vitest';
import { chromiumProcesses } from '../bench/chromium.mjs';
import { requireChromium } from './browser-harness.js';

const SCRIPT = fileURLToPath(new URL('../bench/readme-screenshot.mjs', import.meta.url));

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const step of cleanup.splice(0).reverse()) step();
});

/** Live processes (not zombies) whose command line names `text`. */
function processesNaming(text: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(text)) found.push(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

/** The process group of the chromium whose profile is under `dir`, once its page has a renderer. */
function chromiumUnder(dir: string): { group: number; profile: string } | undefined {
  const flag = `--user-data-dir=${join(dir, 'qmpkit-chromium-')}`;
  for (const pid of processesNaming(flag)) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
      const profile = args.find((a) => a.startsWith(flag))?.slice('--user-data-dir='.length);
      if (profile === undefined || args.some((a) => a.startsWith('--type='))) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const group = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      const renderer = chromiumProcesses(group, profile).some((p) =>
        readFileSync(`/proc/${p}/cmdline`, 'latin1').includes('--type=renderer'),
      );
      if (renderer) return { group, profile };
    } catch {
      // Gone meanwhile.
    }
  }
  return undefined;
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: string | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
    } else child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

test.each([
  // A terminal's Ctrl-C: SIGINT to the foreground process group (the script and the
  // qmpkit-server it started; not chromium's group).
  { signal: 'SIGINT' as const, to: 'the process group' },
  // `kill PID`: SIGTERM to the script alone; its children are its to stop.
  { signal: 'SIGTERM' as const, to: 'the script alone' },
])(
  'the README screenshot script, sent $signal ($to) mid-run, leaves nothing behind',
  async ({ signal, to }) => {
    requireChromium();
    const dir = mkdtempSync(join(tmpdir(), 'qmpkit-sig-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const out = mkdtempSync(join(tmpdir(), 'qmpkit-sig-out-'));
    cleanup.push(() => rmSync(out, { recursive: true, force: true }));
    const child = spawn(process.execPath, [SCRIPT, join(out, 'shot.png')], {
      env: { ...process.env, TMPDIR: dir },
      // A group of its own, like a job a shell starts: a Ctrl-C reaches all of it.
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const done = exited(child);
    cleanup.push(() => {
      // Only if the test failed before the script ended: leave nothing running either way.
      for (const pid of processesNaming(dir)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone.
        }
      }
    });
    // Mid-run: the browser is up, with its page, and the script has still seconds of work ahead
    // (its mirrors run for several seconds before the picture is taken).
    const browser = await until(
      () => {
        if (child.exitCode !== null) throw new Error(`the script ended first: ${stderr}`);
        return chromiumUnder(dir);
      },
      'the script to start chromium',
      3 * HANG_GUARD_MS,
    );
    expect(processesNaming(join(dir, 'qmpkit-shot-')).length).toBeGreaterThan(0); // qmpkit-server
    if (child.pid === undefined) throw new Error('no pid');
    process.kill(to === 'the process group' ? -child.pid : child.pid, signal);
    // A guard against a hang: the clean-up closes chromium (up to a minute under load) first.
    const result = await Promise.race([
      done,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`the script did not end: ${stderr}`)), 2 * HANG_GUARD_MS),
      ),
    ]);
    // It ended by the signal, as a script without handlers would, after cleaning up.
    expect(result).toEqual({ code: null, signal });
    expect(stderr).toContain(`${signal}: cleaning up`);
    expect(chromiumProcesses(browser.group, browser.profile)).toEqual([]);
    expect(processesNaming(dir)).toEqual([]);
    // No profile, no chromium singleton directory, no server socket directory: nothing at all.
    expect(readdirSync(dir)).toEqual([]);
    expect(readdirSync(out)).toEqual([]);
  },
  6 * HANG_GUARD_MS,
);
