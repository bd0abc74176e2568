import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '@qmpkit/test-support';
import { afterAll, describe, expect, test } from 'vitest';
import { ConnectError, ProtocolError, StateError } from '../errors.js';
import type { JsonValue } from '../json/value.js';
import type { Transport } from '../transport.js';
import {
  connect as connectQmp,
  connectTcp,
  connectUnix,
  type SocketTransport,
  wrapSocket,
} from './socket-transport.js';

const dir = mkdtempSync(join(tmpdir(), 'qmpkit-protocol-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const GREETING = {
  QMP: {
    version: { qemu: { major: 7, minor: 2, micro: 22 }, package: 'test' },
    capabilities: ['oob'],
  },
};

function record(t: Transport) {
  const log = {
    messages: [] as JsonValue[],
    errors: [] as Error[],
    closes: [] as (Error | undefined)[],
  };
  t.onmessage = (m) => log.messages.push(m);
  t.onerror = (e) => log.errors.push(e);
  t.onclose = (c) => log.closes.push(c);
  return log;
}

/** A tiny QMP-ish server: greets, answers every command with {"return": {}, "id"}. */
function echoServer(onTransport?: (t: SocketTransport) => void): Server {
  return createServer((socket: Socket) => {
    const t = wrapSocket(socket);
    t.onmessage = (m) => {
      const id = (m as { id?: JsonValue }).id;
      void t.send(id === undefined ? { return: {} } : { return: {}, id }).catch(() => {});
    };
    onTransport?.(t);
    void t.start();
    void t.send(GREETING);
  });
}

function listen(server: Server, ...args: unknown[]): Promise<void> {
  return new Promise((resolve) => server.listen(...(args as [string]), () => resolve()));
}

describe('unix sockets', () => {
  test('connect, receive the greeting in QEMU bytes, exchange messages, close', async () => {
    const path = join(dir, 'qmp.sock');
    const serverSide: SocketTransport[] = [];
    const server = echoServer((t) => serverSide.push(t));
    await listen(server, path);
    try {
      const raw: Buffer[] = [];
      const client = await connectUnix(path);
      client.socket.on('data', (b: Buffer) => raw.push(b));
      const log = record(client);
      await client.start();
      await until(() => log.messages.length === 1);
      expect(log.messages[0]).toEqual(GREETING);
      expect(Buffer.concat(raw).toString()).toBe(
        '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "test"}, "capabilities": ["oob"]}}\r\n',
      );
      await client.send({ execute: 'qmp_capabilities', id: 18446744073709551615n });
      await until(() => log.messages.length === 2);
      expect(log.messages[1]).toEqual({ return: {}, id: 18446744073709551615n });
      const serverLog = record(serverSide[0]!);
      await client.close();
      expect(log.closes).toEqual([undefined]);
      await until(() => serverLog.closes.length === 1);
      const cause = serverLog.closes[0];
      expect(ConnectError.isInstance(cause) && cause.code).toBe('EOF');
      await expect(client.send({ execute: 'x' })).rejects.toSatisfy(StateError.isInstance);
    } finally {
      server.close();
    }
  });

  test('sends of one turn: the first goes out at once, the rest in one batch; all settle, in order', async () => {
    const path = join(dir, 'batch.sock');
    const received: Buffer[] = [];
    const server = createServer((socket) => socket.on('data', (b: Buffer) => received.push(b)));
    await listen(server, path);
    try {
      const client = await connectUnix(path);
      const sends = [1, 2, 3, 4].map((n) => client.send({ execute: 'x', id: n }));
      await expect(Promise.all(sends)).resolves.toEqual([
        undefined,
        undefined,
        undefined,
        undefined,
      ]);
      const expected = [1, 2, 3, 4].map((n) => `{"execute":"x","id":${n}}\n`).join('');
      await until(() => Buffer.concat(received).toString() === expected, 'the four commands');
      // Closing in the turn of the sends flushes them first; their promises resolve.
      const late = [5, 6].map((n) => client.send({ execute: 'x', id: n }));
      const closed = client.close();
      await expect(Promise.all(late)).resolves.toEqual([undefined, undefined]);
      await closed;
      await until(
        () => Buffer.concat(received).toString().endsWith('{"execute":"x","id":6}\n'),
        'the commands sent before close()',
      );
    } finally {
      server.close();
    }
  });

  test('abort() in the turn of the sends: the batch gathered after the first send is rejected', async () => {
    const path = join(dir, 'batch-abort.sock');
    const server = createServer(() => {});
    await listen(server, path);
    try {
      const client = await connectUnix(path);
      const first = client.send({ execute: 'x', id: 1 });
      const gathered = client.send({ execute: 'x', id: 2 });
      client.abort(new Error('stopped'));
      await expect(first).resolves.toBeUndefined(); // it went out at once
      await expect(gathered).rejects.toThrow('stopped');
    } finally {
      server.close();
    }
  });

  test('a missing socket file is a ConnectError with code ENOENT that names the path', async () => {
    const path = join(dir, 'missing.sock');
    const error = await connectUnix(path).catch((e: unknown) => e);
    expect(ConnectError.isInstance(error)).toBe(true);
    expect((error as ConnectError).code).toBe('ENOENT');
    expect((error as ConnectError).address).toBe(path);
    expect((error as ConnectError).message).toContain(path);
    expect((error as ConnectError).cause).toBeInstanceOf(Error);
  });

  test('the server closing the connection reaches the client as cause EOF', async () => {
    const path = join(dir, 'closing.sock');
    const server = echoServer((t) => {
      // Once the connection handler has sent the greeting (it does so right after this call).
      queueMicrotask(() => void t.close());
    });
    await listen(server, path);
    try {
      const client = await connectUnix(path);
      const log = record(client);
      await client.start();
      await until(() => log.closes.length === 1);
      expect(log.messages).toEqual([GREETING]);
      const cause = log.closes[0];
      expect(ConnectError.isInstance(cause) && cause.code).toBe('EOF');
      expect(client.state).toBe('closed');
    } finally {
      server.close();
    }
  });

  test('sendRawNow: undefined when written at once; a promise while the peer holds it back; rejects once closed', async () => {
    const path = join(dir, 'now.sock');
    let serverSide: SocketTransport | undefined;
    const server = createServer((socket) => {
      serverSide = wrapSocket(socket, { gatherWrites: false });
    });
    await listen(server, path);
    try {
      const client = await connectUnix(path); // not started: reads nothing until told
      const log = record(client);
      await until(() => serverSide !== undefined);
      const t = serverSide!;
      expect(t.sendRawNow('{"return": {}, "id": 1}\r\n')).toBeUndefined();
      // Fill the socket buffers: a write the kernel cannot take is held back, and its promise
      // settles only once the client reads.
      const big = `{"return": "${'x'.repeat(1024 * 1024)}"}\r\n`;
      let held: Promise<void> | undefined;
      for (let i = 0; i < 64 && held === undefined; i++) held = t.sendRawNow(big);
      expect(held).toBeInstanceOf(Promise);
      let settled = false;
      void held!.then(() => {
        settled = true;
      });
      await new Promise((resolve) => setImmediate(resolve));
      expect(settled).toBe(false);
      await client.start();
      await held;
      await until(() => log.messages.length >= 2);
      expect(log.messages[0]).toEqual({ return: {}, id: 1 });
      await t.close();
      await expect(t.sendRawNow('{}')).rejects.toBeInstanceOf(StateError);
      client.abort();
    } finally {
      server.close();
    }
  });

  test('a peer that does not read is cut off when the bounded write buffer overflows', async () => {
    const path = join(dir, 'overflow.sock');
    const closes: (Error | undefined)[] = [];
    const server = createServer((socket) => {
      const t = wrapSocket(socket, { maxWriteBufferBytes: 256 * 1024 });
      t.onclose = (cause) => closes.push(cause);
      void t.start();
      const big = { return: 'x'.repeat(64 * 1024) };
      for (let i = 0; i < 200 && t.state === 'running'; i++) void t.send(big).catch(() => {});
    });
    await listen(server, path);
    try {
      const client = await connectUnix(path); // never started: reads nothing
      await until(() => closes.length === 1);
      const cause = closes[0];
      expect(ProtocolError.isInstance(cause) && cause.kind).toBe('output-overflow');
      client.abort();
    } finally {
      server.close();
    }
  });
});

describe('half-close', () => {
  test('with halfOpen the server still answers after the client shut its sending side', async () => {
    const path = join(dir, 'half.sock');
    const ends: number[] = [];
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      const t = wrapSocket(socket, { halfOpen: true });
      // Answered once the client's end of stream has arrived.
      t.onend = () => {
        ends.push(1);
        void t.send({ return: {}, id: 1 }).then(() => t.close());
      };
      void t.start();
    });
    await listen(server, path);
    try {
      const raw = connect(path);
      const chunks: Buffer[] = [];
      raw.on('data', (b: Buffer) => chunks.push(b));
      const closed = new Promise((resolve) => raw.on('close', resolve));
      raw.end('{"execute":"query-jobs","id":1}');
      await closed;
      expect(ends).toEqual([1]);
      expect(Buffer.concat(chunks).toString()).toBe('{"return": {}, "id": 1}\r\n');
    } finally {
      server.close();
    }
  });
});

describe('TCP', () => {
  test('connect on loopback and exchange messages', async () => {
    const server = echoServer();
    await listen(server, 0, '127.0.0.1');
    const { port } = server.address() as { port: number };
    try {
      const client = await connectTcp('127.0.0.1', port);
      const log = record(client);
      await client.start();
      await client.send({ execute: 'query-jobs', id: 'a' });
      await until(() => log.messages.length === 2);
      expect(log.messages).toEqual([GREETING, { return: {}, id: 'a' }]);
      await client.close();
    } finally {
      server.close();
    }
  });

  test('connect(path) and connect(host, port) pick unix or TCP', async () => {
    const path = join(dir, 'either.sock');
    const unixServer = echoServer();
    const tcpServer = echoServer();
    await listen(unixServer, path);
    await listen(tcpServer, 0, '127.0.0.1');
    const { port } = tcpServer.address() as { port: number };
    try {
      for (const transport of [await connectQmp(path), await connectQmp('127.0.0.1', port)]) {
        const log = record(transport);
        await transport.start();
        await until(() => log.messages.length === 1);
        expect(log.messages[0]).toEqual(GREETING);
        await transport.close();
      }
    } finally {
      unixServer.close();
      tcpServer.close();
    }
  });

  test('a refused connection is a ConnectError with code ECONNREFUSED', async () => {
    const server = createServer();
    await listen(server, 0, '127.0.0.1');
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    const error = await connectTcp('127.0.0.1', port).catch((e: unknown) => e);
    expect(ConnectError.isInstance(error)).toBe(true);
    expect((error as ConnectError).code).toBe('ECONNREFUSED');
    expect((error as ConnectError).address).toBe(`127.0.0.1:${port}`);
  });

  test('an aborted signal stops connecting', async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await connectTcp('127.0.0.1', 9, { signal: controller.signal }).catch(
      (e: unknown) => e,
    );
    expect(ConnectError.isInstance(error)).toBe(true);
  });
});
