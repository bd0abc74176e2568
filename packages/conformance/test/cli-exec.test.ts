// `qmpkit exec`, connection errors and help, end to end: the built bin against a real
// qemu-storage-daemon and against qmpkit-server. Expected replies and error texts come from QEMU
// (its own answer on a second monitor, `--version`, the verified reference), never from the CLI.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { connectQmp } from '@qmpkit/client/node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { requireQemu } from '../src/daemon.js';
import {
  freePort,
  runCli,
  spawnCli,
  startTarget,
  type Target,
  type TargetName,
} from './cli-harness.js';

requireQemu();

const TARGETS: readonly TargetName[] = ['qemu', 'qmpkit-server'];

describe.each(TARGETS)('qmpkit exec against %s', (name) => {
  let target: Target;
  beforeAll(async () => {
    target = await startTarget(name);
  });
  afterAll(async () => {
    await target?.stop();
  });

  test('query-version: the return value as JSON on stdout, exit 0', async () => {
    const run = await runCli(['exec', 'query-version', '--socket', target.cliSocket]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const printed = JSON.parse(run.stdout);
    // What the server itself answers on its other monitor.
    expect(printed).toEqual(await target.check.execute('query-version'));
    if (name === 'qemu') {
      // …and what the binary says about itself.
      const banner = execFileSync('qemu-storage-daemon', ['--version'], { encoding: 'utf8' });
      const m = /version (\d+)\.(\d+)\.(\d+) \((.*)\)/.exec(banner);
      expect(printed).toEqual({
        qemu: { major: Number(m?.[1]), minor: Number(m?.[2]), micro: Number(m?.[3]) },
        package: m?.[4],
      });
    }
  });

  test('--compact prints one line', async () => {
    const run = await runCli(['exec', 'query-version', '--compact', '--socket', target.cliSocket]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout.split('\n')).toHaveLength(2);
    expect(JSON.parse(run.stdout)).toEqual(await target.check.execute('query-version'));
  });

  test("a failing command: exit 1, the server's class and desc on stderr", async () => {
    // qmp-protocol §4.1: an unknown command; §8 / job-semantics §4.3: an unexpected argument.
    const unknown = await runCli(['exec', 'no-such-command', '--socket', target.cliSocket]);
    expect(unknown).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'CommandNotFound: The command no-such-command has not been found\n',
    });
    const extra = await runCli(['exec', 'query-version', 'foo=1', '--socket', target.cliSocket]);
    expect(extra).toMatchObject({
      code: 1,
      stdout: '',
      stderr: "GenericError: Parameter 'foo' is unexpected\n",
    });
  });
});

describe.each(TARGETS)('--tcp against %s', (name) => {
  test('HOST:PORT and PORT alone (host 127.0.0.1)', async () => {
    const port = await freePort();
    const target = await startTarget(
      name,
      [],
      [
        '--chardev',
        `socket,host=127.0.0.1,port=${port},server=on,wait=off,id=tcp0`,
        '--monitor',
        'chardev=tcp0',
      ],
    );
    try {
      const expected = await target.check.execute('query-version');
      for (const address of [`127.0.0.1:${port}`, String(port)]) {
        const run = await runCli(['exec', 'query-version', '--tcp', address]);
        expect(run.stderr, address).toBe('');
        expect(JSON.parse(run.stdout), address).toEqual(expected);
      }
    } finally {
      await target.stop();
    }
  });
});

describe.each(TARGETS)('a busy monitor on %s', (name) => {
  test('no greeting: a timeout that says why; Ctrl-C while waiting exits 130', async () => {
    const target = await startTarget(name);
    // qmp-protocol §1.1: a socket monitor serves one client at a time; the next gets nothing.
    const holder = await connectQmp({ path: target.cliSocket });
    try {
      const run = await runCli([
        'exec',
        'query-version',
        '--timeout',
        '300',
        '--socket',
        target.cliSocket,
      ]);
      expect(run).toMatchObject({
        code: 1,
        stdout: '',
        stderr: `qmpkit: no QMP greeting and negotiation from ${target.cliSocket} within 300 ms (QEMU serves one client at a time: is another one connected?)\n`,
      });
      const waiting = spawnCli(['exec', 'query-version', '--socket', target.cliSocket]);
      // Interrupted while it waits for the greeting (not while node is still starting up).
      await waiting.waitForConnection();
      waiting.kill('SIGINT');
      const interrupted = await waiting.done;
      expect(interrupted).toMatchObject({ code: 130, stdout: '', stderr: '' });
    } finally {
      await holder.close();
      await target.stop();
    }
  });
});

describe('qmpkit exec against qemu: job commands and arguments', () => {
  let target: Target;
  beforeAll(async () => {
    target = await startTarget('qemu');
  });
  afterAll(async () => {
    await target?.stop();
  });

  test("job lookup errors: QEMU's class and desc on stderr", async () => {
    // job-semantics §4.2: job-* and block-job-* lookup failures.
    const pause = await runCli(['exec', 'job-pause', 'id=nope', '--socket', target.cliSocket]);
    expect(pause).toMatchObject({ code: 1, stdout: '', stderr: 'GenericError: Job not found\n' });
    // The argument given as one JSON object.
    const cancel = await runCli([
      'exec',
      'block-job-cancel',
      '{"device": "j9"}',
      '--socket',
      target.cliSocket,
    ]);
    expect(cancel).toMatchObject({
      code: 1,
      stderr: "DeviceNotActive: Block job 'j9' not found\n",
    });
  });

  test('a number where a string is expected is refused by QEMU; quoting makes it a string', async () => {
    // job-semantics §4.3: QAPI input validation.
    const run = await runCli(['exec', 'job-pause', 'id=5', '--socket', target.cliSocket]);
    expect(run).toMatchObject({
      code: 1,
      stderr: "GenericError: Invalid parameter type for 'id', expected: string\n",
    });
    const quoted = await runCli(['exec', 'job-pause', 'id="5"', '--socket', target.cliSocket]);
    expect(quoted).toMatchObject({ code: 1, stderr: 'GenericError: Job not found\n' });
  });

  test('key=value arguments reach QEMU typed (string, integer, boolean)', async () => {
    const add = await runCli([
      'exec',
      'blockdev-add',
      'driver=null-co',
      'node-name=n1',
      'size=1048576',
      'read-only=true',
      '--socket',
      target.cliSocket,
    ]);
    expect(add).toMatchObject({ code: 0, stdout: '{}\n' });
    const nodes = (await target.check.execute('query-named-block-nodes')) as Array<{
      'node-name': string;
      ro: boolean;
      image: { 'virtual-size': number };
    }>;
    expect(nodes.find((n) => n['node-name'] === 'n1')).toMatchObject({
      ro: true,
      image: { 'virtual-size': 1048576 },
    });
  });
});

describe('connection errors: one line, no stack, exit 1', () => {
  test('a missing socket', async () => {
    const run = await runCli(['exec', 'query-version', '--socket', '/nonexistent/qmpkit.sock']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      'qmpkit: cannot connect to /nonexistent/qmpkit.sock: ENOENT: no such socket file (is QEMU running with this -qmp/--chardev path?)\n',
    );
  });

  test('a refused TCP connection, for every command', async () => {
    const port = await freePort();
    for (const args of [
      ['exec', 'query-jobs'],
      ['jobs'],
      ['jobs', 'watch'],
      ['shell'],
      ['run', 'stream', '--device', 'x'],
    ]) {
      const run = await runCli([...args, '--tcp', String(port)]);
      expect(run.code, args.join(' ')).toBe(1);
      expect(run.stderr, args.join(' ')).toBe(
        `qmpkit: cannot connect to 127.0.0.1:${port}: ECONNREFUSED: connection refused (nothing is listening there)\n`,
      );
    }
  });

  test('usage errors exit 2 and point at --help; --help works without a server', async () => {
    const run = await runCli(['exec', 'query-jobs']);
    expect(run).toMatchObject({
      code: 2,
      stderr:
        'qmpkit: say where the QMP server is: --socket PATH or --tcp HOST:PORT (see qmpkit exec --help)\n',
    });
    for (const args of [
      ['--help'],
      ['shell', '--help'],
      ['exec', '--help'],
      ['jobs', '--help'],
      ['jobs', 'watch', '--help'],
      ['run', 'backup', '--help'],
    ]) {
      const help = await runCli(args);
      expect(help.code, args.join(' ')).toBe(0);
      expect(help.stdout, args.join(' ')).toMatch(/^Usage: qmpkit /);
    }
    const { version } = JSON.parse(
      readFileSync(fileURLToPath(import.meta.resolve('@qmpkit/cli/package.json')), 'utf8'),
    ) as { version: string };
    expect(await runCli(['--version'])).toMatchObject({ code: 0, stdout: `qmpkit ${version}\n` });
  });
});
