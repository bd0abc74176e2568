// The built bin, spawned like a test setup would spawn qemu-storage-daemon.

import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HANG_GUARD_MS, until } from '@qmpkit/test-support';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { BIN, cleanUp, startServer as start } from './bin-harness.js';

const VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;
const dir = mkdtempSync(join(tmpdir(), 'qmpkit-server-app-'));

beforeAll(() => {
  if (!existsSync(BIN))
    throw new Error(`${BIN} is missing: run pnpm --filter @qmpkit/server-app build`);
});
// Servers a test started (one a failing test leaves running is killed here).
afterEach(cleanUp);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[]) {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    timeout: HANG_GUARD_MS,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function exchange(
  target: { path: string } | { port: number; host: string },
  send: string,
  lines: number,
) {
  return new Promise<string[]>((resolve, reject) => {
    const socket = connect(target);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      const got = text.split('\r\n').filter((l) => l !== '');
      if (got.length >= lines) {
        socket.destroy();
        resolve(got);
      }
    });
    socket.on('error', reject);
    socket.write(send);
  });
}

describe('qmpkit-server', () => {
  test('--help and --version', () => {
    const help = run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: qmpkit-server \[options\]/);
    expect(help.stdout).toContain('--chardev socket,path=<path>,server=on,wait=off,id=<id>');
    const version = run(['-V']);
    expect(version.code).toBe(0);
    expect(version.stdout).toBe(
      `qmpkit-server version ${VERSION} (qmpkit; answers QMP like QEMU 7.2 or 10.0, default 10.0)\n`,
    );
  });

  test.each([
    [['--bogus'], "qmpkit-server: unrecognized option '--bogus'"],
    [['extra'], 'qmpkit-server: extra: Unexpected argument'],
    [['--monitor', 'chardev=m0'], 'qmpkit-server: --monitor chardev=m0: chardev "m0" not found'],
    [
      ['--chardev', 'socket,path=x.sock,server=on,wait=off,id=m0,foo=1'],
      "qmpkit-server: --chardev socket,path=x.sock,server=on,wait=off,id=m0,foo=1: Invalid parameter 'foo'",
    ],
    [
      ['--chardev', 'socket,path=x.sock,server=on,wait=off'],
      'qmpkit-server: --chardev socket,path=x.sock,server=on,wait=off: chardev: no id specified',
    ],
    [
      ['--blockdev', 'node-name=a', '--socket', join(dir, 'never.sock')],
      "qmpkit-server: --blockdev node-name=a: Parameter 'driver' is missing",
    ],
    [
      ['--blockdev', '{"driver":', '--socket', join(dir, 'never.sock')],
      'qmpkit-server: --blockdev {"driver":: JSON parse error, premature EOI',
    ],
    [['--tcp', 'nocolon'], 'qmpkit-server: --tcp nocolon: expected HOST:PORT'],
    [['--export', 'type=nbd'], 'qmpkit-server: --export type=nbd: not supported by qmpkit-server'],
    [
      ['--socket', join(dir, 'no', 'such', 'dir.sock')],
      `qmpkit-server: cannot listen on ${join(dir, 'no', 'such', 'dir.sock')}`,
    ],
  ])('%j exits 1 with a clear message', (args, message) => {
    const result = run(args);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(message);
  });

  test('a bad option after a good one: nothing is left listening', () => {
    const path = join(dir, 'never.sock');
    const result = run(['--socket', path, '--blockdev', 'driver=null-co']);
    expect(result.code).toBe(1);
    expect(existsSync(path)).toBe(false);
  });

  test('--serve-all-clients greets a second client while the first is still connected', async () => {
    const greeting = (path: string) =>
      new Promise<{ line: string; socket: ReturnType<typeof connect> }>(
        (resolveGreeting, reject) => {
          const socket = connect(path);
          let data = '';
          socket.setEncoding('utf8');
          socket.on('data', (chunk: string) => {
            data += chunk;
            if (data.includes('\r\n')) resolveGreeting({ line: data, socket });
          });
          socket.on('error', reject);
        },
      );
    const path = join(dir, 'all.sock');
    const server = start(['--socket', path, '--serve-all-clients']);
    await until(() => existsSync(path), 'the socket');
    const first = await greeting(path);
    const second = await greeting(path);
    expect(first.line).toMatch(/^\{"QMP": /);
    expect(second.line).toMatch(/^\{"QMP": /);
    first.socket.destroy();
    second.socket.destroy();
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });

  test('qemu-storage-daemon syntax: unix socket mode 0600 even under umask 000, logs, SIGTERM removes the socket', async () => {
    const socketDir = join(dir, 'umask');
    mkdirSync(socketDir);
    const path = join(socketDir, 'qmp.sock');
    // A racing outsider's view: every change reported in the directory, with the mode then.
    const seen: { event: string; name: string; mode: number | undefined }[] = [];
    const watcher = watch(socketDir, (event, name) => {
      let mode: number | undefined;
      try {
        mode = lstatSync(join(socketDir, String(name))).mode;
      } catch {
        mode = undefined;
      }
      seen.push({ event, name: String(name), mode });
    });
    const server = start(
      ['--chardev', `socket,path=${path},server=on,wait=off,id=qmp0`, '--monitor', 'chardev=qmp0'],
      { umask: '000' },
    );
    try {
      await until(
        () => server.stderr().includes(`qmpkit-server: listening on unix socket ${path}`),
        'the server to listen',
      );
      expect(statSync(path).mode & 0o777).toBe(0o600);
      // Every change made before this marker has been reported once the marker has.
      writeFileSync(join(socketDir, 'marker'), '');
      await until(() => seen.some((s) => s.name === 'marker'), 'the marker to be reported');
    } finally {
      watcher.close();
    }
    // Never reachable with another mode: no mode change once it appeared, nothing open on the way.
    expect(seen.filter((s) => s.name === 'qmp.sock' && s.event === 'change')).toEqual([]);
    for (const s of seen) {
      if (s.mode === undefined || s.name === 'marker') continue;
      if (s.name === 'qmp.sock') expect(s.mode & 0o777).toBe(0o600);
      else expect(s.mode & 0o077).toBe(0);
    }
    const lines = await exchange(
      { path },
      '{"execute":"qmp_capabilities"}{"execute":"query-version","id":1}',
      3,
    );
    // Without --qemu-version: the newest verified profile, QEMU 10.0.
    expect(JSON.parse(lines[0]!)).toEqual({
      QMP: {
        version: { qemu: { major: 10, minor: 0, micro: 0 }, package: `qmpkit ${VERSION}` },
        capabilities: ['oob'],
      },
    });
    expect(JSON.parse(lines[2]!)).toMatchObject({ id: 1, return: { qemu: { major: 10 } } });
    await until(() => server.stderr().includes('left'), 'the client to leave');
    expect(server.stderr()).toMatch(/client 1 connected to .*qmp\.sock/);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  test('--qemu-version: the greeting, the schema and the commands of that version', async () => {
    // What the real daemons answer (Debian 7.2.22 and 10.0.2): block-job-change exists from 8.2
    // on; a job id no block job has is DeviceNotActive there.
    const ask =
      '{"execute":"qmp_capabilities"}' +
      '{"execute":"block-job-change","arguments":{"id":"j","type":"mirror","copy-mode":"write-blocking"},"id":1}';
    for (const [version, qemu, reply] of [
      [
        '10.0',
        { major: 10, minor: 0, micro: 0 },
        { id: 1, error: { class: 'DeviceNotActive', desc: "Block job 'j' not found" } },
      ],
      [
        '7.2',
        { major: 7, minor: 2, micro: 0 },
        {
          id: 1,
          error: {
            class: 'CommandNotFound',
            desc: 'The command block-job-change has not been found',
          },
        },
      ],
    ] as const) {
      const path = join(dir, `v${version}.sock`);
      const server = start(['--qemu-version', version, '--socket', path]);
      await until(
        () => server.stderr().includes('listening on unix socket'),
        'the server to listen',
      );
      const lines = await exchange({ path }, ask, 3);
      expect(JSON.parse(lines[0]!)).toMatchObject({ QMP: { version: { qemu } } });
      expect(JSON.parse(lines[2]!)).toEqual(reply);
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    }
    const bad = run(['--qemu-version', '9.2', '--socket', join(dir, 'x.sock')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('qmpkit-server: --qemu-version 9.2: expected 7.2 or 10.0\n');
  });

  test('TCP form and quit: the reply, then a clean exit', async () => {
    // Port 0: the server binds a free port and logs it (no probe that another run could race).
    const server = start([
      '--chardev',
      'socket,host=127.0.0.1,port=0,server=on,wait=off,id=t',
      '--monitor',
      't',
    ]);
    await until(
      () => /listening on tcp 127\.0\.0\.1:\d+\n/.test(server.stderr()),
      'the server to listen',
    );
    const port = Number(/listening on tcp 127\.0\.0\.1:(\d+)/.exec(server.stderr())![1]);
    expect(port).toBeGreaterThan(0);
    const lines = await exchange(
      { host: '127.0.0.1', port },
      '{"execute":"qmp_capabilities"}{"execute":"quit","id":"q"}',
      3,
    );
    expect(JSON.parse(lines[2]!)).toEqual({ return: {}, id: 'q' });
    expect(await server.exited).toBe(0);
  });

  test('after SIGKILL the socket file and pidfile stay; a restart on the same paths works', async () => {
    const path = join(dir, 'killed.sock');
    const pidfile = join(dir, 'killed.pid');
    const first = start(['--socket', path, '--pidfile', pidfile]);
    await until(() => existsSync(pidfile), 'the pidfile');
    first.child.kill('SIGKILL');
    await first.exited;
    expect(existsSync(path)).toBe(true);
    expect(existsSync(pidfile)).toBe(true);
    const second = start(['--socket', path, '--pidfile', pidfile]);
    await until(() => second.stderr().includes('listening'), 'the restarted server to listen');
    await until(
      () => readFileSync(pidfile, 'utf8') === `${second.child.pid}\n`,
      'the pidfile of the restarted server',
    );
    const lines = await exchange({ path }, '{"execute":"qmp_capabilities","id":1}', 2);
    expect(JSON.parse(lines[1]!)).toEqual({ return: {}, id: 1 });
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(pidfile)).toBe(false);
  });

  test('a second signal cuts a shutdown short; the files still go', async () => {
    const path = join(dir, 'twice.sock');
    const pidfile = join(dir, 'twice.pid');
    const server = start(['--socket', path, '--pidfile', pidfile]);
    await until(() => existsSync(pidfile), 'the pidfile');
    // A client that asks for a lot and reads nothing.
    const idle = connect(path);
    idle.pause();
    idle.on('error', () => {});
    idle.write(`{"execute":"qmp_capabilities"}${'{"execute":"query-qmp-schema"}'.repeat(20)}`);
    await until(() => server.stderr().includes('connected'), 'the client to connect');
    server.child.kill('SIGTERM');
    await until(() => server.stderr().includes('shutting down'), 'the shutdown to begin');
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(pidfile)).toBe(false);
    idle.destroy();
  });

  test('SIGINT with a --socket shortcut', async () => {
    const path = join(dir, 'int.sock');
    const server = start(['--socket', path]);
    await until(() => existsSync(path), 'the socket');
    server.child.kill('SIGINT');
    expect(await server.exited).toBe(0);
    expect(existsSync(path)).toBe(false);
  });
});
