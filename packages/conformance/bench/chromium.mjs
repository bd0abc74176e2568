// Debian's chromium, headless, with a profile directory of its own: for the dashboard's browser
// tests (test/browser-harness.ts), the dashboard bench and the README screenshot. A browser per
// page: a page behind another tab gets no animation frames.
//
// close() removes the profile only once every chromium process is gone. Playwright's close waits
// for the browser process alone; its helpers (zygotes, renderers, the network and storage
// services) can outlive it for a moment and still write into the profile (a profile removed under
// them comes back half-written, or its removal fails with ENOTEMPTY), and after a crash or a
// failed close they can keep running.
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Profile directories are `qmpkit-chromium-*` in the temp dir (under vitest, the run's private
 * one: see vitest.leak-check.ts, which lists and removes whatever is left in it).
 */
export function profilePrefix() {
  return join(tmpdir(), 'qmpkit-chromium-');
}

/** What `/proc/<pid>/stat` says after the command name: [state, ppid, pgrp, ...]. */
function statFields(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * The live processes of one chromium: its process group (Playwright starts the browser as a
 * group leader, and its helpers stay in the group) and any process naming the profile.
 */
export function chromiumProcesses(group, profile) {
  const found = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const [state, , pgrp] = statFields(pid);
      // A zombie has exited: it holds no files, only its exit status for its parent.
      if (state === 'Z') continue;
      if (
        Number(pgrp) === group ||
        readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(profile)
      ) {
        found.push(pid);
      }
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}

/** The process group of the chromium using `profile` (its browser process leads it). */
function browserGroup(profile) {
  const flag = `--user-data-dir=${profile}`;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/cmdline`, 'latin1').split('\0').includes(flag)) continue;
      return Number(statFields(entry)[2]);
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  throw new Error(`no chromium process found for ${profile}`);
}

/**
 * Removes the profile and chromium's singleton directory: the profile's SingletonSocket links to
 * a socket in `<tmp>/org.chromium.Chromium.*`, which chromium removes only when it exits cleanly.
 */
function removeProfile(profile) {
  let socket;
  try {
    socket = readlinkSync(join(profile, 'SingletonSocket'));
  } catch {
    // No link: chromium removed it, or never got that far.
  }
  const singletonDir = socket === undefined ? undefined : dirname(socket);
  if (singletonDir !== undefined && basename(singletonDir).startsWith('org.chromium.Chromium.')) {
    rmSync(singletonDir, { recursive: true, force: true, maxRetries: 5 });
  }
  rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
}

function killAll(pids) {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** Resolves once `check()` is true (polled), or false at the deadline. */
async function until(check, ms) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

/**
 * Starts chromium on a fresh profile. Resolves to its context, its one page (newPage), the profile, its
 * process group and close(): the browser closed, every one of its processes exited (killed if
 * they outstay a generous deadline), then the profile removed. close() always removes the
 * profile, also when closing the browser fails; calling it again returns the same promise.
 *
 * `handleSignals: false` keeps Playwright's own SIGINT/SIGTERM/SIGHUP handlers out: they close
 * the browser and exit at once, before the caller has removed the profile or stopped its other
 * processes. Scripts run by runScript() pass it (runScript cleans up on those signals).
 */
export async function launchChromium(
  viewport = { width: 1400, height: 900 },
  { handleSignals = true } = {},
) {
  const profile = mkdtempSync(profilePrefix());
  let context;
  let group;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport,
      handleSIGINT: handleSignals,
      handleSIGTERM: handleSignals,
      handleSIGHUP: handleSignals,
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
    group = browserGroup(profile);
  } catch (error) {
    await context?.close().catch(() => {});
    removeProfile(profile);
    throw error;
  }
  const running = () => chromiumProcesses(group, profile);
  const shutDown = async () => {
    // Playwright's close fails when the browser is already gone (killed, crashed) — and whether it
    // notices that before or during the close is a race. Either way what is left of the browser is
    // killed below, and close() fails only if something is still running after that.
    const closed = await context.close().then(
      () => true,
      () => false,
    );
    // A browser that did not close cleanly is not waited for.
    if (!closed) killAll(running());
    if (!(await until(() => running().length === 0, 60_000))) {
      killAll(running());
      await until(() => running().length === 0, 10_000);
    }
    removeProfile(profile);
    const left = running();
    if (left.length > 0) throw new Error(`chromium processes still running: ${left.join(' ')}`);
  };
  let closing;
  return {
    context,
    profile,
    group,
    // The tab the browser opened: a second tab would sit behind it, without animation frames.
    newPage: async () => context.pages()[0] ?? (await context.newPage()),
    close: () => {
      closing ??= shutDown();
      return closing;
    },
  };
}

/** Runs every clean-up step, last pushed first, even when some fail; then throws the first failure. */
export async function runCleanup(steps) {
  const failures = [];
  for (const step of steps.splice(0).reverse()) {
    try {
      await step();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) throw new AggregateError(failures, 'several clean-up steps failed');
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'];
/** How long a script may take to wind down after its clean-up ran on a signal. */
const WIND_DOWN_MS = 60_000;

/**
 * Runs a script's `main(cleanup)`: `cleanup` is its clean-up list (runCleanup's steps; main may
 * run it itself as it goes). On SIGINT (Ctrl-C), SIGTERM or SIGHUP the list runs at once — the
 * browser, its own process group that a Ctrl-C does not reach, is closed and its profile removed,
 * the child processes stopped, the temporary files removed — then main, whose awaits fail as
 * what they wait on goes away, is given WIND_DOWN_MS to end, whatever it added meanwhile is
 * cleaned up too, and the process ends by the same signal (exit status 128 + its number).
 */
export async function runScript(main) {
  const steps = [];
  let signalled;
  let wake;
  const woken = new Promise((resolve) => {
    wake = resolve;
  });
  const onSignal = (signal) => {
    if (signalled !== undefined) return; // a second Ctrl-C: the clean-up is under way
    signalled = signal;
    process.stderr.write(`${signal}: cleaning up\n`);
    wake();
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  const work = main(steps).finally(() => runCleanup(steps));
  // Settled either way here; its failure is reported below unless a signal came first.
  work.catch(() => {});
  await Promise.race([work.catch(() => {}), woken]);
  if (signalled === undefined) {
    for (const signal of SIGNALS) process.off(signal, onSignal);
    await work;
    return;
  }
  const report = (error) => process.stderr.write(`clean-up: ${error?.stack ?? error}\n`);
  await runCleanup(steps).catch(report);
  let timer;
  await Promise.race([
    work.catch(() => {}),
    new Promise((resolve) => {
      timer = setTimeout(resolve, WIND_DOWN_MS);
    }),
  ]);
  clearTimeout(timer);
  await runCleanup(steps).catch(report);
  for (const signal of SIGNALS) process.off(signal, onSignal);
  process.kill(process.pid, signalled);
  // Should the signal not end the process (another handler), end it as it would have.
  process.exit(128 + constants.signals[signalled]);
}
