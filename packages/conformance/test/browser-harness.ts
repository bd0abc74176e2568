// A headless Debian chromium driven by playwright-core (never a downloaded browser), and the
// `qmpkit dashboard` bin, for the dashboard's end-to-end tests and bench.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HANG_GUARD_MS } from '@qmpkit/test-support';
import type { Page } from 'playwright-core';
import { type Chromium, launchChromium } from '../bench/chromium.mjs';
import { hasCommand } from '../src/daemon.js';
import { type CliProcess, spawnCli } from './cli-harness.js';

export { CHROMIUM, runCleanup } from '../bench/chromium.mjs';

/** Where screenshots go (gitignored). */
export const ARTIFACTS = fileURLToPath(new URL('../artifacts/dashboard/', import.meta.url));

/** Fails loudly when chromium is missing: browser tests must run (`.ci/run` installs it). */
export function requireChromium(): void {
  if (!hasCommand('chromium')) {
    throw new Error("chromium not found: install Debian's chromium (bash .ci/run does)");
  }
}

export type { Chromium as Browser } from '../bench/chromium.mjs';

/** Starts chromium with a fresh profile directory; close() waits for it to exit, then removes it. */
export async function startBrowser(): Promise<Chromium> {
  requireChromium();
  return launchChromium();
}

export interface DashboardProcess {
  readonly url: string;
  readonly cli: CliProcess;
  /** SIGTERM, then the exit. */
  stop(): Promise<{ code: number | null; stderr: string }>;
}

/** Starts `qmpkit dashboard` on a free loopback port for the given QMP sockets. */
export async function startDashboardCli(
  sockets: readonly string[],
  extra: readonly string[] = [],
): Promise<DashboardProcess> {
  const args = ['dashboard', ...sockets.flatMap((s) => ['--socket', s]), '--listen', '127.0.0.1:0'];
  const cli = spawnCli([...args, ...extra], 5 * HANG_GUARD_MS);
  try {
    const line = await cli.waitForLine((l) => l.startsWith('qmpkit dashboard: '));
    const url = line.slice('qmpkit dashboard: '.length).trim();
    return {
      url,
      cli,
      stop: async () => {
        cli.kill('SIGTERM');
        const run = await cli.done;
        return { code: run.code, stderr: run.stderr };
      },
    };
  } catch (error) {
    cli.kill('SIGKILL');
    await cli.done;
    throw error;
  }
}

/** Saves a screenshot of `page` as ARTIFACTS/<name>.png. */
export async function screenshot(page: Page, name: string, fullPage = true): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage, timeout: HANG_GUARD_MS });
}
