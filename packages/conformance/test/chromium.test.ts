// The browser tests' chromium (bench/chromium.mjs): close() leaves nothing behind — no chromium
// process of the run, no profile directory and no singleton socket directory — also when the
// browser process died first.

import { existsSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { chromiumProcesses } from '../bench/chromium.mjs';
import { type Browser, runCleanup, startBrowser } from './browser-harness.js';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await runCleanup(cleanup);
});

async function browserWithPage(): Promise<Browser> {
  const browser = await startBrowser();
  cleanup.push(() => browser.close());
  const page = await browser.newPage();
  await page.goto('data:text/html,<p>hello</p>');
  await page.waitForSelector('p');
  return browser;
}

test('close() returns once every chromium process has exited and the profile is removed', async () => {
  const browser = await browserWithPage();
  expect(dirname(browser.profile)).toBe(tmpdir());
  expect(basename(browser.profile)).toMatch(/^qmpkit-chromium-/);
  expect(existsSync(browser.profile)).toBe(true);
  // The browser, its zygotes, renderers and services.
  expect(chromiumProcesses(browser.group, browser.profile).length).toBeGreaterThan(1);
  await browser.close();
  expect(chromiumProcesses(browser.group, browser.profile)).toEqual([]);
  expect(existsSync(browser.profile)).toBe(false);
});

test('after the browser process is killed, close() still waits for its helpers and removes the profile', async () => {
  const browser = await browserWithPage();
  // The browser process leads the group; its helpers are orphaned and exit on their own.
  // Its singleton socket's directory, which a browser that exits cleanly removes itself.
  const singletonDir = dirname(readlinkSync(join(browser.profile, 'SingletonSocket')));
  process.kill(browser.group, 'SIGKILL');
  // close() must not fail here: the browser's death is what it cleans up after.
  await browser.close();
  expect(chromiumProcesses(browser.group, browser.profile)).toEqual([]);
  expect(existsSync(browser.profile)).toBe(false);
  expect(existsSync(singletonDir)).toBe(false);
});
