// `qmpkit shell` in a real pseudo-terminal (tmux), against a real qemu-storage-daemon: tab
// completion from QEMU's own query-qmp-schema, replies, events in wire order, history kept
// across sessions, the transcript file, and leaving with Ctrl-D (0) and Ctrl-C (130). Also the
// terminal views of `jobs watch` and `run` (progress bars redrawn in place).

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HANG_GUARD_MS, until } from '@qmpkit/test-support';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { hasCommand, requireQemu } from '../src/daemon.js';
import { CLI_BIN, ndjson, runCli, startTarget, type Target } from './cli-harness.js';

requireQemu();
if (!hasCommand('tmux')) {
  throw new Error(
    'tmux not found: the shell tests drive qmpkit shell through a tmux pseudo-terminal',
  );
}

const MiB = 1024 * 1024;
// A tmux server of our own, so that the tests never touch the user's sessions.
const TMUX_SERVER = `qmpkit-cli-test-${process.pid}`;
let sessions = 0;

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', TMUX_SERVER, ...args], {
    encoding: 'utf8',
    env: { ...process.env, TMUX: '' },
  });
}

class Pane {
  readonly name = `s${++sessions}`;

  constructor(command: string) {
    tmux('new-session', '-d', '-s', this.name, '-x', '200', '-y', '50', command);
  }

  text(): string {
    return tmux('capture-pane', '-p', '-J', '-S', '-200', '-t', this.name);
  }

  /** Types `text` literally (one chunk: readline completes only on a chunk's last key). */
  type(text: string): void {
    tmux('send-keys', '-t', this.name, '-l', text);
  }

  /**
   * Presses one key (Tab, Enter, Up, C-c, C-d, C-u). Keys pressed one after another may reach
   * the shell in one read: only the last key of a read completes, so a test presses Tab only
   * after it saw the effect of the keys before it.
   */
  press(key: string): void {
    tmux('send-keys', '-t', this.name, key);
  }

  async waitFor(
    test: RegExp | ((text: string) => boolean),
    timeoutMs = HANG_GUARD_MS,
  ): Promise<string> {
    const matched = await until(
      () => {
        const text = this.text();
        return (typeof test === 'function' ? test(text) : test.test(text)) ? { text } : undefined;
      },
      () => `the pane to match ${String(test)}:\n${this.text()}`,
      timeoutMs,
    );
    return matched.text;
  }

  /** The last non-empty line (where the prompt is). */
  lastLine(): string {
    return (
      this.text()
        .split('\n')
        .filter((line) => line.trim() !== '')
        .at(-1)
        ?.trimEnd() ?? ''
    );
  }

  /** Ends the session (and the shell in it, if it is still running). */
  kill(): void {
    try {
      tmux('kill-session', '-t', this.name);
    } catch {
      // already gone
    }
  }

  async waitForLastLine(expected: string): Promise<void> {
    await this.waitFor(() => this.lastLine() === expected);
  }
}

let target: Target;
let historyFile: string;
let logFile: string;

const shellCommand = () =>
  `'${process.execPath}' '${CLI_BIN}' shell --socket '${target.cliSocket}' --history '${historyFile}' --log '${logFile}'; echo EXIT=$?; sleep 60`;

beforeAll(async () => {
  target = await startTarget('qemu', [
    `null-co,node-name=src,size=${64 * MiB}`,
    `null-co,node-name=dst,size=${64 * MiB}`,
    `null-co,node-name=w-src,size=${256 * MiB}`,
    `null-co,node-name=w-dst,size=${256 * MiB}`,
  ]);
  historyFile = join(target.daemon.dir, 'history');
  logFile = join(target.daemon.dir, 'transcript.ndjson');
});

afterAll(async () => {
  try {
    tmux('kill-server');
  } catch {
    // no server left
  }
  await target?.stop();
});

/** The values of an enum member of a command's arguments, from QEMU's query-qmp-schema. */
async function enumValuesOf(command: string, member: string): Promise<string[]> {
  const schema = (await target.check.execute('query-qmp-schema')) as unknown as Array<
    Record<string, unknown>
  >;
  const byName = new Map(schema.map((entry) => [entry.name as string, entry]));
  const args = byName.get(byName.get(command)?.['arg-type'] as string);
  const members = args?.members as Array<{ name: string; type: string }>;
  const type = byName.get(members.find((m) => m.name === member)?.type as string);
  return type?.values as string[];
}

describe('qmpkit shell in a terminal', () => {
  test('completion, replies, events, errors, history and transcript; Ctrl-D leaves with 0', async () => {
    const pane = new Pane(shellCommand());
    try {
      await firstSession(pane);
    } finally {
      pane.kill();
    }
  });

  test('history survives the session; Ctrl-C leaves with 130 and frees the monitor', async () => {
    const pane = new Pane(shellCommand());
    try {
      await pane.waitForLastLine('(QEMU)');
      pane.press('Up');
      await pane.waitForLastLine('(QEMU) job-pause id');
      pane.press('C-c');
      await pane.waitFor(/EXIT=130/);
    } finally {
      pane.kill();
    }
    // QEMU serves one client per monitor: the shell's connection is closed, exec gets through.
    const run = await runCli(['exec', 'query-jobs', '--compact', '--socket', target.cliSocket]);
    expect(run).toMatchObject({ code: 0, stdout: '[]\n' });
  });
});

async function firstSession(pane: Pane): Promise<void> {
  await pane.waitForLastLine('(QEMU)');

  // A command name.
  pane.type('query-ver');
  pane.press('Tab');
  await pane.waitForLastLine('(QEMU) query-version');
  pane.press('Enter');
  const version = await target.check.execute('query-version');
  await pane.waitFor((text) => text.includes(`"package": "${version.package}"`));
  expect(pane.text()).toContain(`"major": ${version.qemu.major}`);

  // An argument name, then the values of an enum argument.
  pane.type('blockdev-mirror sy');
  pane.press('Tab');
  await pane.waitForLastLine('(QEMU) blockdev-mirror sync=');
  // The key before was a Tab too (it completed sync=): this one lists the values.
  pane.press('Tab');
  const values = await enumValuesOf('blockdev-mirror', 'sync');
  expect(values).toContain('full');
  await pane.waitFor((text) => values.every((v) => text.includes(`sync=${v}`)));
  pane.press('C-u');

  // Events are shown as they arrive, in wire order: QEMU writes created and running before
  // the reply to blockdev-mirror (job-semantics §6.9).
  pane.type('blockdev-mirror job-id=m1 device=src target=dst sync=full speed=1');
  pane.press('Enter');
  const afterMirror = await pane.waitFor(
    /JOB_STATUS_CHANGE \{[^}]*"running"[^}]*\}[\s\S]*"return": \{\}/,
  );
  const created = afterMirror.search(
    /\[event \d\d:\d\d:\d\d\.\d{3}\] JOB_STATUS_CHANGE \{[^}]*"created"/,
  );
  const reply = afterMirror.lastIndexOf('"return": {}');
  expect(created).toBeGreaterThan(0);
  expect(created).toBeLessThan(reply);
  pane.type('job-cancel id=m1');
  pane.press('Enter');
  await pane.waitFor(/JOB_STATUS_CHANGE \{[^}]*"null"/);

  // QEMU's error reply.
  pane.type('job-pause id=nope');
  pane.press('Enter');
  await pane.waitFor(/"class": "GenericError",\s+"desc": "Job not found"/);

  // A typing mistake is caught before anything is sent.
  pane.type('job-pause id');
  pane.press('Enter');
  await pane.waitFor(/Error while parsing command line: expected a key=value pair, got 'id'/);

  // History: Up recalls the last line.
  await pane.waitForLastLine('(QEMU)');
  pane.press('Up');
  await pane.waitForLastLine('(QEMU) job-pause id');
  pane.press('Up');
  await pane.waitForLastLine('(QEMU) job-pause id=nope');
  pane.press('C-u');

  pane.press('C-d');
  await pane.waitFor(/EXIT=0/);

  expect(readFileSync(historyFile, 'utf8').split('\n').filter(Boolean)).toEqual([
    'query-version',
    'blockdev-mirror job-id=m1 device=src target=dst sync=full speed=1',
    'job-cancel id=m1',
    'job-pause id=nope',
    'job-pause id',
  ]);
  const transcript = ndjson(readFileSync(logFile, 'utf8'));
  expect(transcript[0]).toMatchObject({
    direction: 'out',
    message: { execute: 'query-version' },
  });
  expect(transcript[1]).toMatchObject({ direction: 'in', message: { return: version } });
  expect(transcript).toContainEqual(
    expect.objectContaining({
      direction: 'in',
      message: { error: { class: 'GenericError', desc: 'Job not found' } },
    }),
  );
  // job-semantics §6.3 (job-cancel of a running mirror).
  expect(
    transcript
      .map((t) => t.message as { event?: string; data?: { status?: string } })
      .filter((m) => m.event === 'JOB_STATUS_CHANGE')
      .map((m) => m.data?.status),
  ).toEqual(['created', 'running', 'aborting', 'concluded', 'null']);
}

describe('progress bars in a terminal', () => {
  test('jobs watch draws a bar per job, says how it ended, leaves on Ctrl-C with 130', async () => {
    const pane = new Pane(
      `'${process.execPath}' '${CLI_BIN}' jobs watch --interval 100 --socket '${target.cliSocket}'; echo EXIT=$?; sleep 60`,
    );
    try {
      await pane.waitForLastLine('no jobs (Ctrl-C to leave)');
      // speed=1: one 16 MiB chunk of 256 MiB, then the job sleeps (job-semantics §8.3).
      await target.check.execute('blockdev-mirror', {
        'job-id': 'w1',
        device: 'w-src',
        target: 'w-dst',
        sync: 'full',
        speed: 1,
      });
      const bar = await pane.waitFor(
        /w1 {2}mirror {2}running {2}\[#?\.+\] +6\.2% {2}16\.0 MiB \/ 256\.0 MiB/,
      );
      expect(bar).toContain('limit 1 B/s');
      // One line per job, redrawn in place: the job shows up once.
      expect(bar.match(/w1 {2}mirror/g)).toHaveLength(1);
      await target.check.execute('job-cancel', { id: 'w1' });
      await pane.waitFor(/w1 {2}mirror {2}cancelled {2}6\.2% {2}16\.0 MiB/);
      await pane.waitForLastLine('no jobs (Ctrl-C to leave)');
      pane.press('C-c');
      await pane.waitFor(/EXIT=130/);
    } finally {
      pane.kill();
    }
  });

  test('run mirror on a terminal: a bar while it runs, a hint when ready, Ctrl-C cancels (130)', async () => {
    const pane = new Pane(
      `'${process.execPath}' '${CLI_BIN}' run mirror --device src --target dst --job-id r1 --socket '${target.cliSocket}'; echo EXIT=$?; sleep 60`,
    );
    try {
      await pane.waitFor(/r1 {2}mirror {2}ready {2}\[#+\] +100\.0% .*\(ready: Ctrl-C cancels\)/);
      pane.press('C-c');
      await pane.waitFor(/qmpkit: interrupted; job r1 was cancelled\s+EXIT=130/);
      expect(await target.check.execute('query-jobs')).toEqual([]);
    } finally {
      pane.kill();
    }
  });
});
