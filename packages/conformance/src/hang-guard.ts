/**
 * How long a test or a scenario waits for one thing — a reply, an event, a process to start or
 * end, a file, a page element — before calling it a hang. A guard, never a measure of speed: on a
 * loaded 2-core machine (two fresh-clone CI runs beside eight busy sessions, load 60-95) a bin has
 * taken 38 s just to start and QEMU's 100 KB schema reply tens of seconds, and a deadline that
 * only load can miss is a flake. It stays inside the suite's 180 s test timeout (vitest.config.ts)
 * so that a hang is reported as what never came; a test that waits for several slow things in a
 * row sets its own timeout as a multiple of it.
 */
export const HANG_GUARD_MS = 2 * 60_000;

/** Waits until `condition` holds, checking every few milliseconds; fails after `ms`. */
export async function until(
  what: string,
  condition: () => boolean | Promise<boolean>,
  ms = HANG_GUARD_MS,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
