// The Node listeners on real sockets: unix (mode 0600, stale files, removal) and TCP.

import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '@qmpkit/test-support';
import { afterAll, describe, expect, test } from 'vitest';
import { testSchema } from '../../test/helpers.js';
import { QmpServer } from '../server.js';
import { ListenError, listenTcp, listenUnix } from './listen.js';

const dir = mkdtempSync(join(tmpdir(), 'qmpkit-server-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function rawClient(target: { path: string } | { host: string; port: number }) {
  const socket: Socket = connect(target);
  const state = { text: '', closed: false };
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    state.text += chunk;
  });
  socket.on('close', () => {
    state.closed = true;
  });
  socket.on('error', () => {});
  return { socket, state, lines: () => state.text.split('\r\n').filter((l) => l !== '') };
}

describe('unix sockets', () => {
  test('mode 0600, CR LF greeting in QEMU bytes, removed on close', async () => {
    const path = join(dir, 'a.sock');
    const server = new QmpServer({
      ...testSchema,
      log: () => {},
      version: { qemu: { micro: 22 }, package: 'test' },
    });
    const listener = await listenUnix(server, path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const c = rawClient({ path });
    await until(() => c.state.text.includes('\r\n'));
    expect(c.state.text).toBe(
      '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "test"}, "capabilities": ["oob"]}}\r\n',
    );
    c.socket.write('{"execute":"qmp_capabilities","id":1}{"execute":"nope","id":"x"}');
    await until(() => c.lines().length === 3);
    expect(c.lines().slice(1)).toEqual([
      '{"return": {}, "id": 1}',
      '{"id": "x", "error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}}',
    ]);
    expect(listener.address).toBe(path);
    await server.close();
    expect(existsSync(path)).toBe(false);
    await until(() => c.state.closed);
  });

  test('a racing outsider never finds the socket (or a way to it) open, even under umask 000', async () => {
    const watched = join(dir, 'race');
    mkdirSync(watched);
    const path = join(watched, 'r.sock');
    // What an outsider watching the directory sees: every change of every entry, with the mode
    // it had when the kernel reported the change (inotify never drops events for one directory).
    const seen: { event: string; name: string; mode: number | undefined }[] = [];
    const watcher = watch(watched, (event, name) => {
      let mode: number | undefined;
      try {
        mode = lstatSync(join(watched, String(name))).mode;
      } catch {
        mode = undefined;
      }
      seen.push({ event, name: String(name), mode });
    });
    const oldMask = process.umask(0);
    const server = new QmpServer({ ...testSchema, log: () => {} });
    try {
      await listenUnix(server, path);
    } finally {
      process.umask(oldMask);
    }
    try {
      expect(lstatSync(path).mode & 0o777).toBe(0o600);
      // Everything before this marker has been reported once the marker has.
      writeFileSync(join(watched, 'marker'), '');
      await until(() => seen.some((s) => s.name === 'marker'), 'the marker event');
      const socketEvents = seen.filter((s) => s.name === 'r.sock');
      expect(socketEvents.length).toBeGreaterThan(0);
      // It appeared with its final mode: no mode change (IN_ATTRIB) once it was reachable.
      expect(socketEvents.filter((s) => s.event === 'change')).toEqual([]);
      for (const s of socketEvents) if (s.mode !== undefined) expect(s.mode & 0o777).toBe(0o600);
      // Anything else that appeared on the way (the private directory) was closed to others.
      for (const s of seen.filter((e) => e.name !== 'r.sock' && e.name !== 'marker')) {
        if (s.mode !== undefined) expect(s.mode & 0o077).toBe(0);
      }
      expect(readdirSync(watched).sort()).toEqual(['marker', 'r.sock']);
    } finally {
      watcher.close();
      await server.close();
    }
    expect(readdirSync(watched)).toEqual(['marker']);
  });

  test('a stale socket file is replaced; a live one or a regular file is refused', async () => {
    const stale = join(dir, 'stale.sock');
    // A crashed server: the file stays, nobody listens.
    const script = `require('node:net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`;
    spawnSync(process.execPath, ['-e', script]);
    expect(existsSync(stale)).toBe(true);
    const server = new QmpServer({ ...testSchema, log: () => {} });
    await listenUnix(server, stale);
    const live = await listenUnix(server, stale).catch((e: unknown) => e);
    expect(live).toBeInstanceOf(ListenError);
    expect((live as ListenError).code).toBe('EADDRINUSE');
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    const notSocket = await listenUnix(server, file).catch((e: unknown) => e);
    expect((notSocket as ListenError).code).toBe('EEXIST');
    expect(existsSync(file)).toBe(true);
    await server.close();
    expect(existsSync(stale)).toBe(false);
  });

  test('a directory that does not exist is a ListenError naming the path', async () => {
    const path = join(dir, 'no', 'such', 'x.sock');
    const error = await listenUnix(new QmpServer({ ...testSchema, log: () => {} }), path).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ListenError);
    expect((error as ListenError).message).toContain(path);
  });

  test('one client at a time on a socket; half-closed input is still answered', async () => {
    const path = join(dir, 'b.sock');
    const server = new QmpServer({ ...testSchema, log: () => {} });
    const listener = await listenUnix(server, path);
    const a = rawClient({ path });
    await until(() => a.lines().length === 1);
    const b = rawClient({ path });
    b.socket.write('{"execute":"qmp_capabilities","id":1}{"execute":"query-version","id":2}');
    // A round trip of the first client once the second waits: the server has run since then.
    await until(() => server.clientCount === 1 && listener.monitor.waitingClients === 1);
    a.socket.write('{"execute":"qmp_capabilities","id":"a"}');
    await until(() => a.lines().length === 2);
    expect(b.state.text).toBe('');
    a.socket.end();
    await until(() => b.lines().length === 3);
    expect(JSON.parse(b.lines()[2]!)).toMatchObject({ id: 2, return: { qemu: { major: 7 } } });
    // Half-close: commands sent before shutdown(SHUT_WR) are answered, then the server closes.
    b.socket.end('{"execute":"query-version","id":3}');
    await until(() => b.state.closed);
    expect(JSON.parse(b.lines()[3]!)).toMatchObject({ id: 3 });
    await server.close();
  });
});

describe('TCP', () => {
  test('loopback by default, port 0 picks a port, several monitors at once', async () => {
    const server = new QmpServer({ ...testSchema, log: () => {} });
    const tcp = await listenTcp(server, { port: 0 });
    const unix = await listenUnix(server, join(dir, 'c.sock'));
    expect(tcp.address).toBe(`127.0.0.1:${tcp.port}`);
    const a = rawClient({ host: '127.0.0.1', port: tcp.port! });
    const b = rawClient({ path: unix.address });
    await until(() => a.lines().length === 1 && b.lines().length === 1);
    a.socket.write('{"execute":"qmp_capabilities"}');
    b.socket.write('{"execute":"qmp_capabilities"}');
    await until(() => a.lines().length === 2 && b.lines().length === 2);
    server.emit('BLOCK_JOB_PENDING', { type: 'backup', id: 'j' });
    await until(() => a.lines().length === 3 && b.lines().length === 3);
    expect(JSON.parse(a.lines()[2]!)).toMatchObject({ event: 'BLOCK_JOB_PENDING' });
    await server.close();
    await until(() => a.state.closed && b.state.closed);
  });

  test('a port in use is a ListenError', async () => {
    const server = new QmpServer({ ...testSchema, log: () => {} });
    const first = await listenTcp(server, { port: 0 });
    const error = await listenTcp(server, { port: first.port! }).catch((e: unknown) => e);
    expect((error as ListenError).code).toBe('EADDRINUSE');
    await server.close();
  });
});
