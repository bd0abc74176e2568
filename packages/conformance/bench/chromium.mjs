// Debian's chromium, headless, for the dashboard bench and the README screenshot (the tests have
// the same in test/browser-harness.ts). A browser per page: a page behind another tab gets no
// animation frames.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

/** Starts chromium with a fresh profile; pushes its clean-up steps; resolves to its one page. */
export async function launchChromium(cleanup, viewport = { width: 1400, height: 900 }) {
  const profile = mkdtempSync(join(tmpdir(), 'qmpkit-chromium-'));
  cleanup.push(() => rmSync(profile, { recursive: true, force: true }));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport,
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
  cleanup.push(() => context.close());
  return context.pages()[0] ?? (await context.newPage());
}
