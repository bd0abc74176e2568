// Suite-level leak check (a vitest globalSetup shared by every package). Nothing a test starts or
// writes may outlive the run; what does fails the run, named:
// - processes: every process a test starts inherits a tag naming this run; when the run ends, a
//   watched process (qmpkit-server, the qmpkit CLI, QEMU's tools, chromium, tmux, nbd tools) that
//   still carries the tag was leaked by a test. It is killed, so it cannot disturb anything else.
//   Processes are found by the tag in /proc/<pid>/environ, so an orphan whose parent died is found
//   too, and other people's runs on the machine are not. A run nested in another (the README test
//   runs the whole suite in a clone) adds its tag to the outer ones, so what a nested run that was
//   killed leaves running is found by the run around it;
// - temporary files and sockets: the run gets a private temporary directory (TMPDIR, which
//   os.tmpdir() and QEMU follow), so whatever a test leaves there — a directory, an image, a
//   socket file — is this run's, never another process's: every concurrent run (turbo's other
//   packages, a nested run, other people's runs) has its own. When the run ends the directory is
//   removed, so nothing is left on the machine. A nested run's directory sits beside the outer
//   one (socket paths stay short) and is noted in the outer run's directory, so that if the nested
//   run is killed before it can remove it, the outer run removes it and reports it.
import { randomUUID } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

/** The runs a process belongs to, outermost first, separated by ','. */
const TAG = 'QMPKIT_TEST_RUN';
/** The file in which a nested run notes its directory (the outer run's NESTED_RUNS). */
const NESTED_RUNS_FILE = 'QMPKIT_TEST_RUN_NESTED';
const NESTED_RUNS = '.nested-runs';
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
  const prefix = `${TAG}=`;
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
      const runs = environ.find((variable) => variable.startsWith(prefix));
      if (runs === undefined || !runs.slice(prefix.length).split(',').includes(run)) continue;
      const command = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ').trim();
      if (WATCHED.test(command)) found.push({ pid, command });
    } catch {
      // Gone, or not ours to read.
    }
  }
  return found;
}

/**
 * The run's private temporary directory. A run nested in another puts its own beside the outer
 * one rather than inside it, so that socket paths stay short.
 */
function makeRunDir(): string {
  const current = tmpdir();
  const base = basename(current).startsWith(RUN_DIR_PREFIX) ? dirname(current) : current;
  return mkdtempSync(join(base, RUN_DIR_PREFIX));
}

async function killLeftoverProcesses(run: string): Promise<Leftover[]> {
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
  return left;
}

/** Removes the run's directory and those of nested runs that did not; returns what was left. */
function removeRunDirs(runDir: string): string[] {
  const left: string[] = [];
  let nested: string[] = [];
  try {
    nested = readFileSync(join(runDir, NESTED_RUNS), 'utf8').split('\n').filter(Boolean);
  } catch {
    nested = [];
  }
  for (const dir of nested) {
    if (!existsSync(dir)) continue;
    left.push(`directory ${dir} of a nested run that did not end`);
    rmSync(dir, { recursive: true, force: true });
  }
  try {
    for (const name of readdirSync(runDir)) {
      if (name !== NESTED_RUNS) left.push(`file ${join(runDir, name)}`);
    }
  } catch {
    // Already gone.
  }
  rmSync(runDir, { recursive: true, force: true });
  return left;
}

export default function setup(): () => Promise<void> {
  const run = `${process.pid}-${randomUUID()}`;
  const saved = {
    [TAG]: process.env[TAG],
    TMPDIR: process.env.TMPDIR,
    [NESTED_RUNS_FILE]: process.env[NESTED_RUNS_FILE],
  };
  process.env[TAG] = saved[TAG] === undefined ? run : `${saved[TAG]},${run}`;
  const runDir = makeRunDir();
  const outerNote = saved[NESTED_RUNS_FILE];
  if (outerNote !== undefined && existsSync(dirname(outerNote))) {
    appendFileSync(outerNote, `${runDir}\n`);
  }
  process.env.TMPDIR = runDir;
  process.env[NESTED_RUNS_FILE] = join(runDir, NESTED_RUNS);
  return async () => {
    const processes = await killLeftoverProcesses(run);
    const files = removeRunDirs(runDir);
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    const left = [...processes.map((p) => `process ${p.pid} ${p.command}`), ...files];
    if (left.length === 0) return;
    // Vitest reports an error thrown here but keeps its exit status: set it ourselves.
    process.exitCode = 1;
    throw new Error(
      `the tests left ${left.length} thing(s) behind (processes now killed, files removed):\n${left
        .map((what) => `  ${what}`)
        .join('\n')}`,
    );
  };
}
