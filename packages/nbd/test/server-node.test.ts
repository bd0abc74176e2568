// The Node server's bounds and lifecycle: requests in flight, handshake deadline, export removal,
// close, the unix socket's privacy, TCP on loopback, and backend errors as clients see them.

import { lstat, readdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { until } from '@qmpkit/test-support';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import {
  EndOfStreamError,
  ExportDefinitionError,
  type NbdBackend,
  NbdError,
  SparseMemoryBackend,
} from '../src/index.js';
import { connectNbd, NbdListenError, NbdServer } from '../src/node/index.js';
import { removeDir, tempDir } from './harness.js';
import { cat, lstr, RawSession, u16, u32 } from './raw-session.js';

let dir: string | undefined;
const servers: NbdServer[] = [];

beforeEach(async () => {
  dir = await tempDir('qmpkit-nbd-server-');
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await removeDir(dir);
  dir = undefined;
});

async function listen(
  options: Parameters<typeof NbdServer.listen>[1] = {},
  path = join(dir!, 'nbd.sock'),
) {
  const server = await NbdServer.listen({ path }, options);
  servers.push(server);
  return server;
}

/** A backend whose reads wait until released, counting how many run at once. */
function gatedBackend(size: number) {
  const disk = new SparseMemoryBackend({ size });
  const gates: Array<() => void> = [];
  const stats = { running: 0, max: 0, calls: 0 };
  const backend: NbdBackend = {
    size,
    writable: true,
    read: async (offset, length) => {
      stats.calls++;
      stats.running++;
      stats.max = Math.max(stats.max, stats.running);
      await new Promise<void>((resolve) => gates.push(resolve));
      stats.running--;
      return disk.read(offset, length);
    },
    write: (o, d) => disk.write(o, d),
    writeZeroes: (o, l, f) => disk.writeZeroes(o, l, f),
    trim: (o, l) => disk.trim(o, l),
    flush: () => disk.flush(),
    blockStatus: (c, o, l) => disk.blockStatus(c, o, l),
  };
  return { backend, gates, stats };
}

async function rawGo(socket: string, name = ''): Promise<RawSession> {
  const s = await RawSession.open(socket);
  await s.greeting(3);
  await s.option(7, cat(lstr(name), u16(0)));
  await s.optionReplies();
  return s;
}

describe('bounds', () => {
  test('at most 16 requests of one client reach the backend at once', async () => {
    const { backend, gates, stats } = gatedBackend(1 << 20);
    const server = await listen();
    server.addExport({ name: '', backend });
    const s = await rawGo((server.address as { path: string }).path);
    for (let i = 0; i < 20; i++) await s.request(0, 0, i, i * 512, 512);
    await until(() => stats.running === 16, '16 reads in the backend');
    // Give a 17th read every chance to slip through before releasing anything.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(stats.calls).toBe(16);
    while (stats.calls < 20 || gates.length > 0) {
      gates.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    for (let i = 0; i < 20; i++) expect((await s.reply(512))[0]).toMatchObject({ errno: 0 });
    expect(stats.max).toBe(16);
    s.close();
  });

  test('a client that does not finish the handshake in time is dropped', async () => {
    const server = await listen({ handshakeTimeoutMs: 100 });
    server.addExport({ name: '', backend: new SparseMemoryBackend({ size: 4096 }) });
    const s = await RawSession.open((server.address as { path: string }).path);
    await s.greeting(3);
    expect(await s.closedByServer()).toBe(true);
    await until(() => server.connectionCount === 0, 'the connection to go');
  });

  test('an option longer than 32 MiB ends the session', async () => {
    const server = await listen();
    server.addExport({ name: '', backend: new SparseMemoryBackend({ size: 4096 }) });
    const s = await RawSession.open((server.address as { path: string }).path);
    await s.greeting(3);
    await s.send(
      cat(
        new Uint8Array([0x49, 0x48, 0x41, 0x56, 0x45, 0x4f, 0x50, 0x54]),
        u32(6),
        u32(32 * 1024 * 1024 + 1),
      ),
    );
    expect(await s.closedByServer()).toBe(true);
  });
});

describe('lifecycle', () => {
  test('removing an export drops its clients; others keep going', async () => {
    const server = await listen();
    server.addExport({ name: 'a', backend: new SparseMemoryBackend({ size: 4096 }) });
    server.addExport({ name: 'b', backend: new SparseMemoryBackend({ size: 4096 }) });
    const path = (server.address as { path: string }).path;
    const a = await connectNbd({ path }, { exportName: 'a' });
    const b = await connectNbd({ path }, { exportName: 'b' });
    expect(await server.removeExport('a')).toBe(true);
    await expect(a.read(0, 1)).rejects.toBeInstanceOf(EndOfStreamError);
    expect([...(await b.read(0, 2))]).toEqual([0, 0]);
    expect(server.exportNames()).toEqual(['b']);
    await b.disconnect();
    await until(() => server.connectionCount === 0, 'clients to go');
  });

  test('close ends clients, fails their requests and removes the socket file', async () => {
    const { backend, gates, stats } = gatedBackend(1 << 20);
    const server = await listen();
    server.addExport({ name: '', backend });
    const path = (server.address as { path: string }).path;
    const client = await connectNbd({ path });
    await client.write(0, new Uint8Array(512).fill(1)); // data, so the read reaches read()
    const pending = client.read(0, 512).then(
      () => 'answered',
      (error: unknown) => error,
    );
    await until(() => stats.calls === 1, 'the read to reach the backend');
    // The server waits for what the backend is doing before it calls itself closed.
    const closing = server.close();
    gates.shift()!();
    await closing;
    expect(await pending).toBeInstanceOf(EndOfStreamError);
    expect(server.connectionCount).toBe(0);
    await expect(lstat(path)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  test('export definitions are refused in QEMU words', () => {
    return listen().then((server) => {
      const backend = new SparseMemoryBackend({ size: 4096 });
      server.addExport({ name: 'x', backend });
      expect(() => server.addExport({ name: 'x', backend })).toThrow(
        new ExportDefinitionError("NBD server already has export named 'x'"),
      );
      expect(() => server.addExport({ name: 'y'.repeat(4097), backend })).toThrow(/too long/);
    });
  });
});

describe('sockets', () => {
  test('the unix socket is 0600 even under umask 000, and nothing is left beside it', async () => {
    const previous = process.umask(0);
    try {
      const server = await listen();
      const path = (server.address as { path: string }).path;
      expect((await lstat(path)).mode & 0o777).toBe(0o600);
      expect(await readdir(dir!)).toEqual(['nbd.sock']);
    } finally {
      process.umask(previous);
    }
  });

  test('a stale socket is replaced; a live one or a plain file is refused', async () => {
    const path = join(dir!, 'taken.sock');
    const other = createServer();
    await new Promise<void>((r) => other.listen({ path }, () => r()));
    try {
      await expect(listen({}, path)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    } finally {
      await new Promise<void>((r) => other.close(() => r()));
    }
    // Closing a Node server removes its file; make a stale one by hand.
    const stale = createServer();
    const stalePath = join(dir!, 'stale.sock');
    await new Promise<void>((r) => stale.listen({ path: stalePath }, () => r()));
    const { link } = await import('node:fs/promises');
    await link(stalePath, join(dir!, 'left.sock'));
    await new Promise<void>((r) => stale.close(() => r()));
    const server = await listen({}, join(dir!, 'left.sock'));
    expect(server.address).toEqual({ kind: 'unix', path: join(dir!, 'left.sock') });
    const file = join(dir!, 'file');
    await writeFile(file, 'x');
    const refused = await listen({}, file).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(NbdListenError);
    expect(refused).toMatchObject({ code: 'EEXIST' });
    expect((await readdir(dir!)).sort()).toEqual(['file', 'left.sock']);
  });

  test('TCP listens on loopback by default', async () => {
    const server = await NbdServer.listen({});
    servers.push(server);
    expect(server.address).toMatchObject({ kind: 'tcp', host: '127.0.0.1' });
    const port = (server.address as { port: number }).port;
    expect(port).toBeGreaterThan(0);
    server.addExport({ name: 'd', backend: new SparseMemoryBackend({ size: 8192 }) });
    expect(server.uri('d')).toBe(`nbd://127.0.0.1:${port}/d`);
    const client = await connectNbd({ port }, { exportName: 'd' });
    await client.write(0, new Uint8Array([5]));
    expect((await client.read(0, 1))[0]).toBe(5);
    await client.disconnect();
  });
});

describe('backend errors', () => {
  test('reach the client with their errno and QEMU message', async () => {
    const disk = new SparseMemoryBackend({ size: 1 << 20, maxBytes: 4096 });
    const failing: NbdBackend = {
      size: disk.size,
      writable: true,
      read: (o, l) => disk.read(o, l),
      write: (o, d) => disk.write(o, d),
      writeZeroes: (o, l, f) => disk.writeZeroes(o, l, f),
      trim: (o, l) => disk.trim(o, l),
      blockStatus: (c, o, l) => disk.blockStatus(c, o, l),
      flush: () => {
        throw new Error('disk on fire');
      },
    };
    const server = await listen();
    server.addExport({ name: '', backend: failing });
    const client = await connectNbd({ path: (server.address as { path: string }).path });
    await client.write(0, new Uint8Array(4096));
    const full = await client.write(8192, new Uint8Array(1)).catch((e: unknown) => e);
    expect(NbdError.isInstance(full) && [full.errno, full.message]).toEqual([
      'ENOSPC',
      'writing to file failed',
    ]);
    const fire = await client.flush().catch((e: unknown) => e);
    expect(NbdError.isInstance(fire) && [fire.errno, fire.message]).toEqual([
      'EIO',
      'flush failed',
    ]);
    await client.disconnect();
  });
});

describe('request data in flight', () => {
  test('is bounded per client: reads wait until earlier ones are answered', async () => {
    const { backend, gates, stats } = gatedBackend(1 << 20);
    const server = await listen({ maxInFlightBytesPerClient: 1024 });
    server.addExport({ name: '', backend });
    const s = await rawGo((server.address as { path: string }).path);
    for (let i = 0; i < 6; i++) await s.request(0, 0, i, i * 512, 512);
    await until(() => stats.running === 2, 'two reads in the backend');
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(stats.calls).toBe(2);
    while (stats.calls < 6 || gates.length > 0) {
      gates.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    for (let i = 0; i < 6; i++) expect((await s.reply(512))[0]).toMatchObject({ errno: 0 });
    expect(stats.max).toBe(2);
    s.close();
  });
});
