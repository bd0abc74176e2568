import { linkSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, expect, test } from 'vitest';
import { listenUnixPrivately, unixSocketIsLive } from './listen-unix.js';

const dir = mkdtempSync(join(tmpdir(), 'qmpkit-listen-'));
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  for (const name of readdirSync(dir)) rmSync(join(dir, name), { recursive: true, force: true });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function server(): Server {
  const s = createServer((socket) => socket.end());
  servers.push(s);
  return s;
}

test('the socket appears listening, mode 0600, with no staging directory left behind', async () => {
  const path = join(dir, 'a.sock');
  const socket = await listenUnixPrivately(server(), path);
  expect(statSync(path).isSocket()).toBe(true);
  expect(statSync(path).mode & 0o777).toBe(0o600);
  expect(await unixSocketIsLive(path)).toBe(true);
  expect(readdirSync(dir)).toEqual(['a.sock']);
  socket.remove();
  expect(readdirSync(dir)).toEqual([]);
});

test('a live socket is not taken over; a stale one is replaced; a plain file is refused', async () => {
  const path = join(dir, 'b.sock');
  await listenUnixPrivately(server(), path);
  await expect(listenUnixPrivately(server(), path)).rejects.toThrow(
    `cannot listen on ${path}: something is listening there`,
  );
  // A stale socket: a second name of a socket whose server then stopped.
  const stalePath = join(dir, 'stale.sock');
  linkSync(path, stalePath);
  const first = servers.shift()!;
  await new Promise((r) => first.close(r));
  expect(statSync(stalePath).isSocket()).toBe(true);
  expect(await unixSocketIsLive(stalePath)).toBe(false);
  await listenUnixPrivately(server(), stalePath);
  expect(await unixSocketIsLive(stalePath)).toBe(true);
  writeFileSync(join(dir, 'plain'), '');
  await expect(listenUnixPrivately(server(), join(dir, 'plain'))).rejects.toThrow(
    'is not a socket',
  );
});

test('remove() leaves a successor socket alone', async () => {
  const path = join(dir, 'c.sock');
  const mine = await listenUnixPrivately(server(), path);
  rmSync(path);
  await listenUnixPrivately(server(), path);
  mine.remove();
  expect(statSync(path).isSocket()).toBe(true);
});
