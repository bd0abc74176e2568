import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRecordMessage, parseRecording, wireText } from '@qmpkit/protocol';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { RecordingProxy } from './proxy.js';
import { RecordFile } from './record-file.js';

let dir: string;
const cleanups: (() => Promise<void> | void)[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'qmpkit-record-'));
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** A stand-in QEMU that writes `script` in the chunks given, one step per chunk it receives. */
async function upstream(greeting: string[], answer: (input: string) => string[]): Promise<string> {
  const path = join(dir, 'qemu.sock');
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    for (const chunk of greeting) socket.write(chunk);
    socket.on('data', (data) => {
      for (const chunk of answer(data.toString('utf8'))) {
        if (chunk === '<close>') socket.end();
        else socket.write(chunk);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return path;
}

async function startProxy(upstreamPath: string) {
  const out = join(dir, 'session.qmp.jsonl');
  const file = new RecordFile(out, { upstream: `unix:${upstreamPath}`, listen: 'unix:proxy' });
  const log: string[] = [];
  const proxy = await RecordingProxy.start({
    upstream: { path: upstreamPath },
    listen: { path: join(dir, 'proxy.sock') },
    file,
    connectTimeoutMs: 5000,
    log: (line) => log.push(line),
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await proxy.close();
    file.close();
  };
  cleanups.push(stop);
  return { out, log, stop, socket: join(dir, 'proxy.sock') };
}

/** Connects, writes `send` (one chunk per element, each after `waitFor` text arrived). */
function client(path: string) {
  const socket = connect({ path });
  let received = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  socket.on('data', (d) => {
    received += d.toString('utf8');
    for (const w of waiters.splice(0)) {
      if (received.includes(w.text)) w.resolve();
      else waiters.push(w);
    }
  });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return {
    socket,
    closed,
    received: () => received,
    until: (text: string) =>
      new Promise<void>((resolve) => {
        if (received.includes(text)) resolve();
        else waiters.push({ text, resolve });
      }),
  };
}

const GREETING =
  '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}}\r\n';

test('bytes pass unchanged both ways and the recording holds every message exactly', async () => {
  const seen: string[] = [];
  const path = await upstream([GREETING.slice(0, 10), GREETING.slice(10)], (input) => {
    seen.push(input);
    if (input.includes('qmp_capabilities')) return ['{"return": {}}\r\n'];
    if (input.includes('quit')) {
      return [
        '{"return": {}, "id": 7}\r',
        '\n{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "SHUTDOWN"}\r\n',
        '<close>',
      ];
    }
    return [];
  });
  const proxy = await startProxy(path);
  expect(statSync(proxy.socket).mode & 0o777).toBe(0o600);
  const c = client(proxy.socket);
  await c.until('\r\n');
  c.socket.write("{ 'execute' : 'qmp_capabilities' }");
  await c.until('{"return": {}}\r\n');
  c.socket.write('{"execute": "quit", "id": 7}\n');
  await c.closed;
  expect(c.received()).toBe(
    `${GREETING}{"return": {}}\r\n{"return": {}, "id": 7}\r\n{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "SHUTDOWN"}\r\n`,
  );
  expect(seen.join('')).toBe(
    "{ 'execute' : 'qmp_capabilities' }" + '{"execute": "quit", "id": 7}\n',
  );
  await proxy.stop();

  const { header, entries } = parseRecording(readFileSync(proxy.out, 'utf8'));
  expect(header).toMatchObject({
    format: 'qmpkit-recording',
    version: 1,
    upstream: `unix:${path}`,
  });
  expect(statSync(proxy.out).mode & 0o777).toBe(0o600);
  expect(entries[0]).toMatchObject({ conn: 1, state: 'open' });
  expect(entries.at(-1)).toMatchObject({ conn: 1, state: 'closed', by: 'server' });
  const messages = entries.filter(isRecordMessage);
  expect(messages.map((m) => [m.dir, m.msg])).toEqual([
    ['out', JSON.parse(GREETING)],
    ['in', { execute: 'qmp_capabilities' }],
    ['out', { return: {} }],
    ['in', { execute: 'quit', id: 7 }],
    ['out', { return: {}, id: 7 }],
    ['out', { timestamp: { seconds: 1, microseconds: 2 }, event: 'SHUTDOWN' }],
  ]);
  const inText = messages
    .filter((m) => m.dir === 'in')
    .map(wireText)
    .join('');
  const outText = messages
    .filter((m) => m.dir === 'out')
    .map(wireText)
    .join('');
  expect(inText).toBe(seen.join(''));
  expect(outText).toBe(c.received());
  // Times are monotonic.
  const times = entries.map((e) => e.t);
  expect([...times].sort((a, b) => a - b)).toEqual(times);
});

test('stopping the recorder ends open connections and leaves a complete file', async () => {
  const path = await upstream([GREETING], () => []);
  const proxy = await startProxy(path);
  const a = client(proxy.socket);
  const b = client(proxy.socket);
  await Promise.all([a.until('\r\n'), b.until('\r\n')]);
  await proxy.stop();
  await Promise.all([a.closed, b.closed]);
  const text = readFileSync(proxy.out, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  const { entries } = parseRecording(text);
  const closed = entries.filter((e) => 'state' in e && e.state === 'closed');
  expect(closed.map((e) => [e.conn, 'by' in e && e.by]).sort()).toEqual([
    [1, 'proxy'],
    [2, 'proxy'],
  ]);
  expect(() => statSync(proxy.socket)).toThrow();
});

test('an unreachable upstream disconnects the client and says why', async () => {
  const proxy = await startProxy(join(dir, 'nobody.sock'));
  const c = client(proxy.socket);
  await c.closed;
  await proxy.stop();
  expect(proxy.log.join('\n')).toMatch(/client 1: cannot connect to unix:.*nobody\.sock: ENOENT/);
  const { entries } = parseRecording(readFileSync(proxy.out, 'utf8'));
  expect(entries.at(-1)).toMatchObject({ conn: 1, state: 'closed', by: 'server' });
});

test('TCP both ways: loopback listener on a free port, TCP upstream', async () => {
  const upstreamServer: Server = createServer((socket) => {
    socket.write(GREETING);
    socket.on('data', () => socket.write('{"return": {}}\r\n'));
  });
  await new Promise<void>((resolve) =>
    upstreamServer.listen({ host: '127.0.0.1', port: 0 }, resolve),
  );
  cleanups.push(() => new Promise<void>((resolve) => upstreamServer.close(() => resolve())));
  const upstreamPort = (upstreamServer.address() as { port: number }).port;
  const file = new RecordFile(join(dir, 'tcp.qmp.jsonl'), { upstream: 'tcp', listen: 'tcp' });
  const proxy = await RecordingProxy.start({
    upstream: { host: '127.0.0.1', port: upstreamPort },
    listen: { host: '127.0.0.1', port: 0 },
    file,
    connectTimeoutMs: 5000,
    log: () => {},
  });
  cleanups.push(async () => {
    await proxy.close();
    file.close();
  });
  expect(proxy.address).toMatchObject({ host: '127.0.0.1' });
  const port = (proxy.address as { port: number }).port;
  expect(port).toBeGreaterThan(0);
  const socket = connect({ host: '127.0.0.1', port });
  let received = '';
  await new Promise<void>((resolve) => {
    socket.on('data', (d) => {
      received += d.toString('utf8');
      if (received === GREETING) socket.write('{"execute": "qmp_capabilities"}\n');
      if (received.endsWith('{"return": {}}\r\n')) resolve();
    });
  });
  socket.destroy();
  await proxy.close();
  file.close();
  const { entries } = parseRecording(readFileSync(join(dir, 'tcp.qmp.jsonl'), 'utf8'));
  expect(entries.filter(isRecordMessage).map((m) => m.dir)).toEqual(['out', 'in', 'out']);
  expect((entries[0] as { peer: string }).peer).toMatch(/^127\.0\.0\.1:\d+$/);
});
