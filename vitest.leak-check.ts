// Suite-level leak check (a vitest globalSetup shared by every package): every process a test
// starts inherits a tag naming this run; when the run ends, a qmpkit-server or QEMU process that
// still carries the tag was leaked by a test. It is killed (so it cannot disturb anything else)
// and the run fails, naming it. Processes are found by the tag in /proc/<pid>/environ, so an
// orphan whose parent died is found too, and other people's runs on the machine are not.
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';

const TAG = 'QMPKIT_TEST_RUN';
const WATCHED = /qmpkit-server|qemu-storage-daemon|qemu-nbd|qemu-img|qemu-io/;

interface Leftover {
  readonly pid: number;
  readonly command: string;
}

function tagged(run: string): Leftover[] {
  const found: Leftover[] = [];
  const needle = `${TAG}=${run}`;
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
      if (!environ.includes(needle)) continue;
      const command = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ').trim();
      if (WATCHED.test(command)) found.push({ pid, command });
    } catch {
      // Gone, or not ours to read.
    }
  }
  return found;
}

export default function setup(): () => Promise<void> {
  const run = `${process.pid}-${randomUUID()}`;
  process.env[TAG] = run;
  return async () => {
    // A process being stopped by the last test's cleanup gets a generous moment to exit.
    const deadline = Date.now() + 10_000;
    let left = tagged(run);
    while (left.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      left = tagged(run);
    }
    if (left.length === 0) return;
    for (const { pid } of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    // Vitest reports an error thrown here but keeps its exit status: set it ourselves.
    process.exitCode = 1;
    throw new Error(
      `the tests left ${left.length} process(es) running (now killed):\n${left
        .map((p) => `  ${p.pid} ${p.command}`)
        .join('\n')}`,
    );
  };
}
