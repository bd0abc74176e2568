// The output bound and the flow control that keeps replies under it (issue 14): a client that
// reads gets every reply whatever it pipelines and whatever the bound; one that stops reading
// stops the server reading its input and running its requests; only events cut a client off.

import type { JsonValue } from '@qmpkit/protocol';
import { until } from '@qmpkit/test-support';
import { describe, expect, test } from 'vitest';
import { harness, type TestClient } from '../test/helpers.js';
import { REQUEST_QUEUE_MAX } from './dispatcher.js';
import { OUTPUT_HIGH_WATER_BYTES } from './session.js';

const ids = (messages: readonly JsonValue[]) =>
  messages.map((m) => (m as { id?: unknown }).id ?? (m as { event?: string }).event);

/**
 * Round trips of another client. The dispatcher serves sessions in turn, so while these are
 * answered a session with a runnable request would have had it run too: after them, a count
 * that did not move shows that nothing was runnable, without waiting for a clock.
 */
async function roundTrips(probe: TestClient, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const before = probe.messages.length;
    await probe.send(`{"execute":"query-version","id":"probe-${i}"}`);
    await probe.waitFor(before + 1);
  }
}

describe('backpressure and bounds (issue 14)', () => {
  test('a client that truly stops reading is disconnected once, with one log line', async () => {
    const h = harness({ maxOutputBytes: 100_000 });
    const client = await h.connect({ pair: { bufferBytes: 0 } });
    await client.negotiate();
    client.transport.pause();
    // Events it did not ask for keep coming; nothing it sends could stop them.
    for (let i = 0; i < 2000; i++) {
      h.server.emit('BLOCK_JOB_READY', {
        type: 'mirror',
        device: `j${i}`,
        len: 1,
        offset: 1,
        speed: 0,
      });
    }
    await until(() => h.server.clientCount === 0, 'the disconnect');
    const warnings = h.logs.filter(([, m]) => m.includes('is not reading its output'));
    expect(warnings).toHaveLength(1);
    expect(h.logs.filter(([level]) => level === 'error')).toEqual([]);
  });

  test('a client that pipelines while reading gets every reply; input waits for output', async () => {
    // 60 schema replies (about 8 MB) are far more than the 2 MiB bound: only reading more
    // input while the output is taken keeps them all coming.
    const h = harness({ maxOutputBytes: 2 * 1024 * 1024 });
    const client = await h.connect();
    await client.negotiate();
    let text = '';
    for (let i = 0; i < 60; i++) text += `{"execute":"query-qmp-schema","id":${i}}`;
    await client.send(text);
    await client.waitFor(61);
    expect(ids(client.replies)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    expect(h.server.clientCount).toBe(1);
    expect(h.logs.filter(([level]) => level !== 'info')).toEqual([]);
  });

  test('a reading client gets every reply when the bound is below the high-water mark', async () => {
    // The bound is below one schema reply (~130 KB): flow control, not the bound, must hold the
    // replies back — a client that reads is never "not reading its output".
    const h = harness({ maxOutputBytes: OUTPUT_HIGH_WATER_BYTES });
    for (const oob of [false, true]) {
      const client = await h.connect();
      await client.negotiate(oob);
      let text = '';
      for (let i = 0; i < 5; i++) text += `{"execute":"query-qmp-schema","id":${i}}`;
      await client.send(text);
      await until(
        () => client.messages.length === 6 || client.closes.length > 0,
        'five replies or a disconnect',
      );
      expect(client.closes).toEqual([]);
      expect(ids(client.replies)).toEqual([0, 1, 2, 3, 4]);
      await client.transport.close();
    }
    expect(h.logs.filter(([level]) => level !== 'info')).toEqual([]);
  });

  test('while a client does not read, the commands answered stay bounded; then it gets them all', async () => {
    let answered = 0;
    const h = harness({
      handlers: {
        'query-jobs': () => {
          answered++;
          return [];
        },
      },
    });
    const client = await h.connect({ pair: { bufferBytes: 0 } });
    const probe = await h.connect();
    await client.negotiate();
    await probe.negotiate();
    client.transport.pause();
    const total = 20_000;
    let text = '';
    for (let i = 0; i < total; i++) text += `{"execute":"query-jobs","id":${i}}`;
    // Not awaited: with nothing buffered, it completes only as the server reads.
    const sent = client.send(text);
    // Each reply is at least 24 bytes; what the server answers before it stops reading is
    // what fits under the high-water mark, plus the requests it had already read.
    const bound = Math.ceil(OUTPUT_HIGH_WATER_BYTES / 24) + REQUEST_QUEUE_MAX + 1;
    await until(() => answered > bound / 2, 'the first replies');
    await roundTrips(probe, 20);
    const stalled = answered;
    await roundTrips(probe, 20);
    expect(answered).toBe(stalled);
    expect(answered).toBeLessThanOrEqual(bound);
    client.transport.resume();
    await sent;
    await client.waitFor(1 + total);
    expect(ids(client.replies)).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(h.logs.filter(([level]) => level !== 'info')).toEqual([]);
  });

  test('queued requests of a client that does not read wait: their replies never pass the bound', async () => {
    // With OOB on, 8 requests are read before the input stops. Their replies (50 KB each, 400 KB
    // in all) would pass the 150 KB bound if the queue kept running while the client does not
    // read; they wait instead, and the client, not cut off, gets them all once it reads.
    let calls = 0;
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const h = harness({
      maxOutputBytes: 150_000,
      handlers: {
        'query-jobs': async () => {
          if (++calls === 1) await released;
          return [{ id: 'x'.repeat(50_000) }] as never;
        },
      },
    });
    const client = await h.connect({ pair: { bufferBytes: 0 } });
    const probe = await h.connect();
    await client.negotiate(true);
    await probe.negotiate();
    client.transport.pause();
    let text = '';
    for (let i = 0; i < REQUEST_QUEUE_MAX; i++) text += `{"execute":"query-jobs","id":${i}}`;
    const sent = client.send(text);
    // The first request holds the dispatcher, the others are read in the same turn.
    await until(() => calls === 1, 'the first call');
    release();
    // One 50 KB reply fits under the high-water mark; the second passes it.
    await until(() => calls >= 2, 'the second call');
    await roundTrips(probe, 10);
    expect(calls).toBe(2);
    expect(h.server.clientCount).toBe(2);
    client.transport.resume();
    await sent;
    await client.waitFor(1 + REQUEST_QUEUE_MAX);
    expect(ids(client.replies)).toEqual(Array.from({ length: REQUEST_QUEUE_MAX }, (_, i) => i));
    expect(h.logs.filter(([level]) => level !== 'info')).toEqual([]);
  });

  test('every waiting client is served in turn; none is turned away', async () => {
    const h = harness();
    const monitor = h.server.createMonitor({ name: 'm' });
    const clients = [];
    for (let i = 0; i < 150; i++) clients.push(await h.connect({ monitor }));
    // Each leaves once greeted, letting the next one in.
    for (const c of clients) {
      await c.waitFor(1);
      expect(c.messages[0]).toMatchObject({ QMP: {} });
      await c.transport.close();
    }
    expect(h.logs.filter(([level]) => level !== 'info')).toEqual([]);
  });
});

describe('coalesced output', () => {
  test('the replies to requests pipelined in one input go out together, not one write each', async () => {
    // Every write of either side passes through `split` once: count them.
    let writes = 0;
    const h = harness();
    const client = await h.connect({
      pair: {
        split: (bytes) => {
          writes++;
          return [bytes];
        },
      },
    });
    await client.negotiate();
    let requests = '';
    for (let i = 0; i < 64; i++) requests += `{"execute":"query-version","id":${i}}`;
    writes = 0;
    await client.send(requests);
    await client.waitFor(1 + 64);
    expect(ids(client.replies)).toEqual(Array.from({ length: 64 }, (_, i) => i));
    // One write is the client's. The first reply goes out at once and the rest together after
    // it (how many batches depends on when the input is read): far fewer than one per reply.
    expect(writes - 1).toBeLessThanOrEqual(4);
  });
});
