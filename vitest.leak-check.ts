// Suite-level leak check (a vitest globalSetup shared by every package). Nothing a test starts or
// writes may outlive the run:
// - processes: every process a test starts inherits a tag naming this run; when the run ends, a
//   watched process (qmpkit-server, the qmpkit CLI, QEMU's tools, chromium, tmux, nbd tools) that
//   still carries the tag was leaked by a test. It is killed (so it cannot disturb anything else)
//   and the run fails, naming it. Processes are found by the tag in /proc/<pid>/environ, so an
//   orphan whose parent died is found too, and other people's runs on the machine are not;
// - temporary files and sockets: the run gets a private temporary directory (TMPDIR, which
//   os.tmpdir() and QEMU follow), so whatever a test leaves there — a directory, an image, a
//   socket file — is this run's. When the run ends it is removed, so nothing is left on the
//   machine; what was still in it is listed as a warning (not yet a failure: that waits for a
//   whole suite run that leaves nothing, see harden-notes).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

const TAG = 'QMPKIT_TEST_RUN';
const WATCHED =
  /qmpkit-server|bin\/qmpkit\.js|qemu-storage-daemon|qemu-nbd|qemu-img|qemu-io|chromium|chrome_crashpad|tmux|nbdinfo|nbdkit/;
/** Kept short: sockets live below it, and a unix socket path has at most 107 bytes. */
const RUN_DIR_PREFIX = 'qmpkit-t-';

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

/**
 * The run's private temporary directory. A run nested in another (the README test runs the
 * whole suite in a clone) puts its own beside the outer one rather than inside it, so that socket
 * paths stay short.
 */
function makeRunDir(): string {
  const current = tmpdir();
  const base = basename(current).startsWith(RUN_DIR_PREFIX) ? dirname(current) : current;
  return mkdtempSync(join(base, RUN_DIR_PREFIX));
}

async function killLeftoverProcesses(run: string): Promise<string[]> {
  // A process being stopped by the last test's cleanup gets a generous moment to exit.
  const deadline = Date.now() + 10_000;
  let left = tagged(run);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    left = tagged(run);
  }
  for (const { pid } of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  return left.map((p) => `process ${p.pid} ${p.command}`);
}

function removeRunDir(runDir: string): string[] {
  let left: string[] = [];
  try {
    left = readdirSync(runDir).map((name) => `file ${join(runDir, name)}`);
  } catch {
    left = [];
  }
  rmSync(runDir, { recursive: true, force: true });
  return left;
}

export default function setup(): () => Promise<void> {
  const run = `${process.pid}-${randomUUID()}`;
  process.env[TAG] = run;
  const outerTmpdir = process.env.TMPDIR;
  const runDir = makeRunDir();
  process.env.TMPDIR = runDir;
  return async () => {
    const left = await killLeftoverProcesses(run);
    const files = removeRunDir(runDir);
    if (outerTmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = outerTmpdir;
    if (files.length > 0) {
      console.warn(
        `warning: the tests left ${files.length} temporary file(s) (now removed):\n${files
          .map((what) => `  ${what}`)
          .join('\n')}`,
      );
    }
    if (left.length === 0) return;
    // Vitest reports an error thrown here but keeps its exit status: set it ourselves.
    process.exitCode = 1;
    throw new Error(
      `the tests left ${left.length} process(es) running (now killed):\n${left
        .map((what) => `  ${what}`)
        .join('\n')}`,
    );
  };
}
