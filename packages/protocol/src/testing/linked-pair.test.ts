import { until } from '@qmpkit/test-support';
import { describe, expect, test } from 'vitest';
import { ConnectError, ProtocolError, StateError } from '../errors.js';
import type { JsonValue } from '../json/value.js';
import type { Transport } from '../transport.js';
import { createLinkedPair, splitEvery } from './linked-pair.js';

/** Records what a transport delivers. */
function record(t: Transport) {
  const log = {
    messages: [] as JsonValue[],
    errors: [] as Error[],
    closes: [] as (Error | undefined)[],
    ends: 0,
  };
  t.onmessage = (m) => log.messages.push(m);
  t.onerror = (e) => log.errors.push(e);
  t.onclose = (c) => log.closes.push(c);
  t.onend = () => log.ends++;
  return log;
}

/**
 * Lets the event loop run `count` macrotask turns: the pair delivers each chunk in a turn of its
 * own, so after as many turns as there are chunks in flight whatever could arrive has arrived.
 * For checking that something did NOT happen; counted in turns, not milliseconds, so load
 * cannot shorten it.
 */
async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe('createLinkedPair', () => {
  test('messages go through both codecs, asynchronously, in order', async () => {
    const [client, server] = createLinkedPair();
    const c = record(client);
    const s = record(server);
    await Promise.all([client.start(), server.start()]);
    const sent = client.send({ execute: 'query-jobs', id: 1 });
    expect(s.messages).toEqual([]); // not delivered synchronously, like a socket
    await sent;
    for (let i = 2; i <= 50; i++) void client.send({ execute: 'query-jobs', id: i });
    await until(() => s.messages.length === 50);
    expect(s.messages.map((m) => (m as { id: number }).id)).toEqual(
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    await server.send({ return: [{ 'total-progress': 18446744073709551615n }], id: 1 });
    await until(() => c.messages.length === 1);
    expect(c.messages[0]).toEqual({ return: [{ 'total-progress': 18446744073709551615n }], id: 1 });
  });

  test("the server side writes QEMU's format; the client side reads it", async () => {
    const [client, server] = createLinkedPair();
    const chunks: string[] = [];
    // Capture the server's bytes by decoding on a raw side: use a client codec with no parsing.
    record(client);
    client.onmessage = (m) => chunks.push(JSON.stringify(m));
    await Promise.all([client.start(), server.start()]);
    await server.send({ id: 'x', error: { class: 'GenericError', desc: 'é' } });
    await until(() => chunks.length === 1);
    expect(chunks[0]).toBe('{"id":"x","error":{"class":"GenericError","desc":"é"}}');
  });

  test('nothing is delivered before start(); what arrived meanwhile follows in order', async () => {
    const [client, server] = createLinkedPair();
    const s = record(server);
    await client.start();
    await client.sendRaw('{"execute":"a"}'); // completes: it fits in the pipe's buffer
    await client.sendRaw('{"execute":"b"}');
    await turns(10);
    expect(s.messages).toEqual([]);
    await server.start();
    await until(() => s.messages.length === 2);
    expect(s.messages).toEqual([{ execute: 'a' }, { execute: 'b' }]);
  });

  test('bytes split into single-byte chunks still make whole messages', async () => {
    const [client, server] = createLinkedPair({ split: splitEvery(1) });
    const s = record(server);
    await Promise.all([client.start(), server.start()]);
    await client.send({ execute: 'x', arguments: { name: 'é中😀', n: -9223372036854775808n } });
    await until(() => s.messages.length === 1);
    expect(s.messages[0]).toEqual({
      execute: 'x',
      arguments: { name: 'é中😀', n: -9223372036854775808n },
    });
  });

  test("garbage is reported through onerror with QEMU's desc, and the session goes on", async () => {
    const [client, server] = createLinkedPair();
    const s = record(server);
    await Promise.all([client.start(), server.start()]);
    await client.sendRaw("{'execute': TRUE}{'execute':'ok'}");
    await until(() => s.messages.length === 1);
    expect(s.errors.map((e) => [ProtocolError.isInstance(e) && e.kind, e.message])).toEqual([
      ['parse', "JSON parse error, stray 'T'"],
      ['parse', 'JSON parse error, expecting value'],
    ]);
    expect(s.messages).toEqual([{ execute: 'ok' }]);
    expect(server.state).toBe('running');
  });

  test('pause() stops delivery right after the current message and holds the sender back', async () => {
    const [client, server] = createLinkedPair({ bufferBytes: 0 });
    const s = record(server);
    server.onmessage = (m) => {
      s.messages.push(m);
      server.pause();
    };
    await Promise.all([client.start(), server.start()]);
    await client.sendRaw('{"execute":"a"}{"execute":"b"}');
    let secondWritten = false;
    void client.sendRaw('{"execute":"c"}').then(() => {
      secondWritten = true;
    });
    await turns(10);
    expect(s.messages).toEqual([{ execute: 'a' }]);
    expect(secondWritten).toBe(false);
    server.resume(); // delivers b (already read), then pauses again
    expect(s.messages).toEqual([{ execute: 'a' }, { execute: 'b' }]);
    server.resume();
    await until(() => s.messages.length === 3);
    expect(secondWritten).toBe(true);
  });

  test('close() delivers what was sent, then end of stream: the peer closes with cause EOF', async () => {
    const [client, server] = createLinkedPair();
    const c = record(client);
    const s = record(server);
    await Promise.all([client.start(), server.start()]);
    void client.send({ execute: 'quit', id: 1 });
    await client.close();
    expect(c.closes).toEqual([undefined]);
    expect(client.state).toBe('closed');
    await until(() => s.closes.length === 1);
    expect(s.messages).toEqual([{ execute: 'quit', id: 1 }]);
    const cause = s.closes[0];
    expect(ConnectError.isInstance(cause) && cause.code).toBe('EOF');
    expect(server.state).toBe('closed');
    await expect(client.send({ execute: 'x' })).rejects.toSatisfy(StateError.isInstance);
    await expect(server.send({ return: {} })).rejects.toSatisfy(StateError.isInstance);
    await client.close(); // idempotent
    expect(c.closes).toHaveLength(1);
  });

  test('abort() resets the connection: the peer sees ECONNRESET', async () => {
    const [client, server] = createLinkedPair();
    const c = record(client);
    const s = record(server);
    await Promise.all([client.start(), server.start()]);
    const cause = new Error('simulated crash');
    server.abort(cause);
    await until(() => c.closes.length === 1 && s.closes.length === 1);
    expect(s.closes[0]).toBe(cause);
    const seen = c.closes[0];
    expect(ConnectError.isInstance(seen) && seen.code).toBe('ECONNRESET');
  });

  test('halfOpen: the peer ending fires onend and the transport stays open until close()', async () => {
    const [client, server] = createLinkedPair({ server: { halfOpen: true } });
    const s = record(server);
    await Promise.all([client.start(), server.start()]);
    await client.sendRaw('{"execute":"a"}');
    await client.close();
    await until(() => s.ends === 1);
    expect(s.messages).toEqual([{ execute: 'a' }]);
    expect(server.state).toBe('running');
    expect(s.closes).toEqual([]);
    await server.close();
    expect(s.closes).toEqual([undefined]);
  });

  test('an exception thrown by onmessage goes to onerror; delivery continues', async () => {
    const [client, server] = createLinkedPair();
    const s = record(server);
    const boom = new Error('handler bug');
    server.onmessage = (m) => {
      s.messages.push(m);
      if (s.messages.length === 1) throw boom;
    };
    await Promise.all([client.start(), server.start()]);
    await client.sendRaw('{"execute":"a"}{"execute":"b"}');
    await until(() => s.messages.length === 2);
    expect(s.errors).toEqual([boom]);
  });

  test('at end of stream the client codec reports a truncated message; the server codec drops it', async () => {
    const [client, server] = createLinkedPair();
    const c = record(client);
    const s = record(server);
    await Promise.all([client.start(), server.start()]);
    await server.sendRaw('{"return": {');
    await server.close();
    await until(() => c.closes.length === 1);
    expect(c.errors.map((e) => e.message)).toEqual(['JSON parse error, premature EOI']);

    const [client2, server2] = createLinkedPair();
    const s2 = record(server2);
    await Promise.all([client2.start(), server2.start()]);
    await client2.sendRaw('{"execute": "query-jobs"');
    await client2.close();
    await until(() => s2.closes.length === 1);
    // As QEMU: a half-sent command is forgotten when the client goes away.
    expect(s2.errors).toEqual([]);
    expect(s2.messages).toEqual([]);
    expect(s.errors).toEqual([]);
  });

  test('start() twice is a StateError', async () => {
    const [client] = createLinkedPair();
    await client.start();
    await expect(client.start()).rejects.toSatisfy(StateError.isInstance);
  });
});
