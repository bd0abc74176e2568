// The README's promise, followed literally: in a fresh clone of the repository (what HEAD holds)
// in a temporary directory, the README's first command starts the demo server, the quick tour's
// commands run a mirror to completion against it, and the second command runs the whole suite.
// The commands are read from README.md itself, so the README cannot drift from what is tested.
//
// This file runs on its own, after every other test (`pnpm --filter @qmpkit/conformance
// test:readme`, the last step of `pnpm test`); the suite it starts in the clone skips it
// (QMPKIT_README_NESTED), or it would recurse.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HANG_GUARD_MS, until } from '@qmpkit/test-support';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { requireQemu } from '../src/daemon.js';
import { repoRoot } from '../src/repo.js';

requireQemu();
const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');

/** The command lines of the fenced `sh` blocks in a README section, in order. */
function shCommands(section: string): string[] {
  const start = readme.indexOf(`## ${section}\n`);
  if (start < 0) throw new Error(`README.md has no section '${section}'`);
  const end = readme.indexOf('\n## ', start + 1);
  const text = readme.slice(start, end < 0 ? undefined : end);
  const commands: string[] = [];
  for (const block of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of (block[1] ?? '').split('\n')) {
      const command = line.replace(/\s+#.*$/, '').trim();
      if (command !== '') commands.push(command);
    }
  }
  return commands;
}

const [startCommand, testCommand] = shCommands('Two commands');
const tour = shCommands('A quick tour');
const tourLine = (prefix: string) => {
  const line = tour.find((c) => c.startsWith(prefix));
  if (line === undefined) throw new Error(`the quick tour has no '${prefix}…' command`);
  return line;
};

let home: string;
let clone: string;
const children: ChildProcess[] = [];

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'qmpkit-readme-'));
  clone = join(home, 'qmpkit');
  // Nothing sits beside the clone: a user's clone stands alone.
  execFileSync('git', ['clone', '--quiet', repoRoot, clone]);
});

/** The live (not zombie) processes of a process group, read from /proc. */
function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      // After the command name in parentheses: state, ppid, pgrp.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') members.push(pid);
    } catch {
      // Gone.
    }
  }
  return members;
}

/**
 * Kills everything a README command started (each runs in its own process group) and waits
 * until it is gone, so that nothing writes into the clone while it is removed. What escaped the
 * group (a nested run's own detached processes) the leak check of this run finds by its tag.
 */
async function killGroups(): Promise<void> {
  const groups = children.flatMap((child) => (child.pid === undefined ? [] : [child.pid]));
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await until(
    () => groups.every((pgid) => groupMembers(pgid).length === 0),
    'every README command to be gone',
  );
}

afterAll(async () => {
  try {
    await killGroups();
  } finally {
    if (home) rmSync(home, { recursive: true, force: true, maxRetries: 5 });
  }
});

/**
 * Runs a README line through the shell in the clone, as a user would type it: in its own process
 * group, as a terminal runs a foreground job.
 */
function shell(command: string): ChildProcess {
  const child = spawn('sh', ['-c', command], {
    cwd: clone,
    env: { ...process.env, QMPKIT_README_NESTED: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  children.push(child);
  return child;
}

function collect(child: ChildProcess): {
  out: () => string;
  err: () => string;
  done: Promise<number>;
} {
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const done = new Promise<number>((resolveDone) =>
    child.once('exit', (code, signal) => resolveDone(code ?? (signal ? 128 : 1))),
  );
  return { out: () => out, err: () => err, done };
}

describe("the README's two commands, on a fresh clone", () => {
  test('the README opens with exactly the two commands', () => {
    expect(shCommands('Two commands')).toEqual(['npm start', 'bash .ci/run']);
  });

  test(
    'command 1 starts the demo server; the quick tour runs a mirror to completion on it',
    async () => {
      const server = shell(startCommand as string);
      const serverOut = collect(server);
      // npm start installs and builds before the server starts: several processes, each of which
      // may take a hang guard's time on a loaded machine.
      await until(
        () => serverOut.out().includes('qmpkit-server demo:') || server.exitCode !== null,
        'the demo server to start',
        3 * HANG_GUARD_MS,
      );
      expect(serverOut.out(), serverOut.err()).toContain('disks disk0, disk1, disk2');
      expect(existsSync(join(clone, 'qmpkit.sock'))).toBe(true);

      // The tour: a watcher (NDJSON, as it is not on a terminal), then the mirror. The watcher
      // prints nothing before there is a job, so whether it is connected is read from the server,
      // which logs each client it greets: the mirror starts once one more client is there.
      const connections = () => serverOut.err().match(/client \d+ connected/g)?.length ?? 0;
      const before = connections();
      const watcher = shell(tourLine('npx qmpkit jobs watch'));
      const watch = collect(watcher);
      await until(
        () => connections() > before || watcher.exitCode !== null,
        'the watcher to connect',
      );
      expect(watcher.exitCode, watch.err()).toBeNull();
      const mirror = collect(shell(tourLine('npx qmpkit run mirror')));
      expect(await mirror.done, mirror.err()).toBe(0);
      await until(() => watch.out().includes('"status":"null"'), 'the watcher to see the end');
      const statuses = watch
        .out()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => (JSON.parse(line) as { status: string }).status)
        .filter((status, i, all) => status !== all[i - 1]);
      // The README says the job goes created → running → ready → waiting → pending → concluded →
      // null; a watcher polling in between may miss the brief ones, never reorder them.
      const order = ['created', 'running', 'ready', 'waiting', 'pending', 'concluded', 'null'];
      expect(statuses).toContain('ready');
      expect(statuses.at(-1)).toBe('null');
      expect(statuses.map((s) => order.indexOf(s))).toEqual(
        [...statuses.map((s) => order.indexOf(s))].sort((a, b) => a - b),
      );

      const jobs = collect(shell(tourLine('npx qmpkit exec query-jobs')));
      expect(await jobs.done, jobs.err()).toBe(0);
      expect(JSON.parse(jobs.out())).toEqual([]);

      // Ctrl-C, as in the terminal: the whole foreground process group gets SIGINT.
      for (const child of children.slice(0, 2)) process.kill(-(child.pid as number), 'SIGINT');
      // npm and the shell die of the signal; the server shuts down cleanly and removes its socket.
      await serverOut.done;
      await until(() => serverOut.err().includes('SIGINT, shutting down'), 'a clean shutdown');
      await until(() => !existsSync(join(clone, 'qmpkit.sock')), 'the socket to go');
    },
    8 * HANG_GUARD_MS,
  );

  test('command 2 runs the whole suite, and it passes', async () => {
    const suite = collect(shell(testCommand as string));
    const code = await suite.done;
    expect(code, `${suite.out().slice(-4000)}\n${suite.err().slice(-4000)}`).toBe(0);
    expect(suite.out()).toMatch(/Tasks:\s+\d+ successful, \d+ total/);
    // A guard against a hang, not the suite's time budget: alone the nested suite takes ~10 min, but
    // beside two other fresh-clone runs (load ~60 on 2 cores) it passed 20 min and was cut off.
  }, 2_700_000);
});
