// A headless Debian chromium driven by playwright-core (never a downloaded browser), and the
// `qmpkit dashboard` bin, for the dashboard's end-to-end tests and bench.

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { hasCommand } from '../src/daemon.js';
import { type CliProcess, spawnCli } from './cli-harness.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Where screenshots go (gitignored). */
export const ARTIFACTS = fileURLToPath(new URL('../artifacts/dashboard/', import.meta.url));

/** Fails loudly when chromium is missing: browser tests must run (`.ci/run` installs it). */
export function requireChromium(): void {
  if (!hasCommand('chromium')) {
    throw new Error("chromium not found: install Debian's chromium (bash .ci/run does)");
  }
}

export interface Browser {
  readonly context: BrowserContext;
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/** Starts chromium with a fresh profile directory (removed by close()). */
export async function startBrowser(): Promise<Browser> {
  requireChromium();
  const profile = mkdtempSync(join(tmpdir(), 'qmpkit-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 900 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  } catch (error) {
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
  return {
    context,
    // The tab the browser opened: a second tab would sit behind it, without animation frames.
    newPage: async () => context.pages()[0] ?? (await context.newPage()),
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
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
  const cli = spawnCli([...args, ...extra], 600_000);
  try {
    const line = await cli.waitForLine((l) => l.startsWith('qmpkit dashboard: '), 20_000);
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
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage, timeout: 60_000 });
}
