/**
 * How long a test waits for one thing — a reply, an event, a process to start or end, a file, a
 * page element — before calling it a hang. A guard, never a measure of speed: on a loaded 2-core
 * machine (two fresh-clone CI runs beside eight busy sessions, load 60-95) a bin has taken 38 s
 * just to start, one qemu-io run more than 30 s and QEMU's 100 KB schema reply tens of seconds,
 * and a deadline that only load can miss is a flake. It stays inside the suite's 180 s test
 * timeout (vitest.config.ts) so that a hang is reported as what never came; a test that waits for
 * several slow things in a row sets its own timeout as a multiple of it.
 */
export const HANG_GUARD_MS = 2 * 60_000;

/**
 * The pause between two checks starts at 1 ms and doubles up to this: an in-memory condition is
 * seen within a turn or two, and a long wait (a process starting under load, a browser page)
 * costs the loaded machine a check every 50 ms, not every millisecond.
 */
const MAX_POLL_MS = 50;

/** What a probe returns while the thing it waits for is not there yet. */
type NotYet = false | null | undefined;

/**
 * Waits until `probe` returns something other than `false`, `null` or `undefined` — a condition
 * that holds, or the value looked for — and returns it. The probe runs at once, then again after
 * each pause (it may be async; an error it throws ends the wait). After `ms` it rejects with an
 * error naming `what`: a text, or a function called then (to say what was last seen); by
 * default the probe's own source text.
 */
export async function until<T>(
  probe: () => T | Promise<T>,
  what: string | (() => string) = probe.toString(),
  ms: number = HANG_GUARD_MS,
): Promise<Exclude<T, NotYet>> {
  const deadline = Date.now() + ms;
  let pause = 1;
  for (;;) {
    const value = await probe();
    if (value !== false && value !== null && value !== undefined) {
      return value as Exclude<T, NotYet>;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(2 * pause, MAX_POLL_MS);
  }
}
