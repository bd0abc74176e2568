// Handlers, events and their order, flow control (§6), monitors and disconnects (§10), the
// output bound, built-ins, quit and close — over the in-memory linked pair.

import { CommandError, type JsonValue } from '@qmpkit/protocol';
import { createLinkedPair } from '@qmpkit/protocol/testing';
import { type IntrospectionEntry, qmpSchema } from '@qmpkit/qapi-types/7.2';
import { until } from '@qmpkit/test-support';
import { describe, expect, expectTypeOf, onTestFinished, test, vi } from 'vitest';
import { delay, harness, testSchema } from '../test/helpers.js';
import { QMP_SERVER_CODEC } from './codec.js';
import { QmpServer } from './server.js';
import type { CommandContext, HandlerMap } from './types.js';

function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

const ids = (messages: readonly JsonValue[]) =>
  messages.map(
    (m) => (m as { id?: unknown; event?: string }).id ?? (m as { event?: string }).event,
  );

/** The schema plus a command that allows OOB (QSD 7.2 has none). */
const OOB_SCHEMA: IntrospectionEntry[] = [
  ...qmpSchema,
  {
    name: 'x-oob-test',
    'meta-type': 'command',
    'arg-type': '0',
    'ret-type': '0',
    'allow-oob': true,
  },
];

describe('handlers', () => {
  test('typed arguments, return values, CommandError, and unexpected throws', async () => {
    const h = harness({
      handlers: {
        'job-pause': (args) => {
          expectTypeOf(args).toEqualTypeOf<{ id: string }>();
          if (args.id === 'missing')
            throw new CommandError('GenericError', "Can't find job 'missing'");
          if (args.id === 'bug') throw new TypeError('boom');
          if (args.id === 'odd') throw 42;
        },
        'query-jobs': async () => {
          await delay(5);
          return [];
        },
      },
    });
    const client = await h.connect();
    await client.negotiate();
    await client.send('{"execute":"job-pause","arguments":{"id":"j"},"id":1}');
    await client.send('{"execute":"job-pause","arguments":{"id":"missing"},"id":2}');
    await client.send('{"execute":"job-pause","arguments":{"id":"bug"},"id":3}');
    await client.send('{"execute":"job-pause","arguments":{"id":"odd"},"id":4}');
    await client.send('{"execute":"query-jobs","id":5}');
    await client.waitFor(6);
    expect(client.replies).toEqual([
      { return: {}, id: 1 },
      { id: 2, error: { class: 'GenericError', desc: "Can't find job 'missing'" } },
      { id: 3, error: { class: 'GenericError', desc: 'boom' } },
      { id: 4, error: { class: 'GenericError', desc: 'Internal error' } },
      { return: [], id: 5 },
    ]);
    expect(h.logs.filter(([level]) => level === 'error').map(([, m]) => m)).toEqual([
      expect.stringContaining('command job-pause of client 1 failed: TypeError: boom'),
      expect.stringContaining('command job-pause of client 1 failed: 42'),
    ]);
  });

  test('register refuses names outside the schema and built-ins', () => {
    const server = new QmpServer({ ...testSchema, log: () => {} });
    expect(() => server.register('no-such' as never, () => undefined)).toThrow(
      /not a command of the schema/,
    );
    expect(() => server.register('quit' as never, () => undefined)).toThrow(
      /built into the server/,
    );
  });

  test('query-commands lists exactly the registered commands, in reverse schema order', async () => {
    const client = await harness({ handlers: { 'job-pause': () => undefined } }).connect();
    await client.negotiate();
    await client.send('{"execute":"query-commands","id":1}');
    await client.waitFor(2);
    const served = [
      'job-pause',
      'qmp_capabilities',
      'query-version',
      'query-commands',
      'query-qmp-schema',
      'quit',
    ];
    const expected = qmpSchema
      .filter((e) => e['meta-type'] === 'command' && served.includes(e.name))
      .map((e) => ({ name: e.name }))
      .reverse();
    expect(expected).toHaveLength(6);
    expect(client.messages[1]).toEqual({ return: expected, id: 1 });
  });

  test('query-version and query-qmp-schema', async () => {
    const client = await harness({ version: { package: 'p' } }).connect();
    await client.negotiate();
    await client.send('{"execute":"query-version","id":1}{"execute":"query-qmp-schema","id":2}');
    await client.waitFor(3);
    expect(client.messages[1]).toEqual({
      return: { qemu: { major: 7, minor: 2, micro: 0 }, package: 'p' },
      id: 1,
    });
    expect(client.messages[2]).toEqual({ return: JSON.parse(JSON.stringify(qmpSchema)), id: 2 });
  });

  test('aroundBuiltin runs around every built-in: it sees each, can hold or replace its reply', async () => {
    const seen: [string, unknown][] = [];
    const held = gate();
    const h = harness({
      aroundBuiltin: (command, context, run) => {
        seen.push([command, context.id]);
        if (command === 'query-version') return held.promise.then(run);
        if (command === 'query-commands') throw new CommandError('GenericError', 'refused');
        return run();
      },
    });
    const client = await h.connect();
    await client.negotiate();
    await client.send('{"execute":"query-version","id":1}');
    await client.send('{"execute":"query-commands","id":2}');
    // query-version's reply waits for the gate, and the in-band query-commands waits behind it.
    await until(() => seen.length === 2);
    expect(seen).toEqual([
      ['qmp_capabilities', undefined],
      ['query-version', 1],
    ]);
    expect(client.replies).toEqual([]);
    held.open();
    await client.waitFor(3);
    expect(client.replies).toEqual([
      { return: { qemu: { major: 7, minor: 2, micro: 0 }, package: 'qmpkit' }, id: 1 },
      { id: 2, error: { class: 'GenericError', desc: 'refused' } },
    ]);
    // A built-in's own error (negotiation already done) still comes from run.
    await client.send('{"execute":"qmp_capabilities","id":3}');
    await client.waitFor(4);
    expect(client.replies[2]).toMatchObject({ id: 3, error: { class: 'CommandNotFound' } });
    expect(seen.map(([c]) => c)).toEqual([
      'qmp_capabilities',
      'query-version',
      'query-commands',
      'qmp_capabilities',
    ]);
  });

  test('quit answers, then closes the server', async () => {
    const h = harness();
    const client = await h.connect();
    await client.negotiate();
    await client.send('{"execute":"quit","id":1}');
    await h.server.whenClosed;
    await until(() => client.closes.length === 1);
    expect(client.replies).toEqual([{ return: {}, id: 1 }]);
  });

  test("quit: what onQuit raises reaches the client before quit's reply (qemu-storage-daemon 7.2 ends its jobs first)", async () => {
    let server: QmpServer | undefined;
    const h = harness({
      now: () => 1_700_000_000_000,
      onQuit: () => server!.emit('JOB_STATUS_CHANGE', { id: 'j', status: 'null' }),
    });
    server = h.server;
    const client = await h.connect();
    await client.negotiate();
    await client.send('{"execute":"quit","id":1}');
    await h.server.whenClosed;
    await until(() => client.closes.length === 1);
    expect(client.replies).toEqual([
      {
        timestamp: { seconds: 1_700_000_000, microseconds: 0 },
        event: 'JOB_STATUS_CHANGE',
        data: { id: 'j', status: 'null' },
      },
      { return: {}, id: 1 },
    ]);
  });
});

describe('events', () => {
  test('emit goes before the reply, emitAfterReply and afterReply after it', async () => {
    const order: string[] = [];
    const h = harness({
      now: () => 1_700_000_000_123.456,
      handlers: {
        'job-dismiss': async (args, context: CommandContext) => {
          context.emitAfterReply('JOB_STATUS_CHANGE', { id: args.id, status: 'null' });
          context.afterReply(() => order.push('after'));
          context.emit('JOB_STATUS_CHANGE', { id: args.id, status: 'concluded' });
          await delay(2);
          order.push('handler');
        },
      },
    });
    const client = await h.connect();
    await client.negotiate();
    await client.send('{"execute":"job-dismiss","arguments":{"id":"j"},"id":1}');
    await client.waitFor(4);
    expect(client.replies).toEqual([
      {
        timestamp: { seconds: 1_700_000_000, microseconds: 123_456 },
        event: 'JOB_STATUS_CHANGE',
        data: { id: 'j', status: 'concluded' },
      },
      { return: {}, id: 1 },
      {
        timestamp: { seconds: 1_700_000_000, microseconds: 123_456 },
        event: 'JOB_STATUS_CHANGE',
        data: { id: 'j', status: 'null' },
      },
    ]);
    expect(order).toEqual(['handler', 'after']);
  });

  test('after-reply events also follow an error reply', async () => {
    const client = await harness({
      handlers: {
        'job-cancel': (args, context) => {
          context.emitAfterReply('JOB_STATUS_CHANGE', { id: args.id, status: 'aborting' });
          throw new CommandError('GenericError', 'nope');
        },
      },
    }).connect();
    await client.negotiate();
    await client.send('{"execute":"job-cancel","arguments":{"id":"j"},"id":1}');
    await client.waitFor(3);
    expect(ids(client.replies)).toEqual([1, 'JOB_STATUS_CHANGE']);
  });

  test('events reach every negotiated client on every monitor, never a negotiating one', async () => {
    const h = harness();
    const a = await h.connect();
    const b = await h.connect();
    const c = await h.connect();
    await a.negotiate();
    await b.negotiate();
    await c.waitFor(1);
    h.server.emit('BLOCK_JOB_READY', { type: 'mirror', device: 'j', len: 1, offset: 1, speed: 0 });
    await a.waitFor(2);
    await b.waitFor(2);
    // A reply to c after the event was raised: the event, had c got it, would be before it.
    await c.send('{"execute":"query-version","id":"after"}');
    await c.waitFor(2);
    expect(a.messages[1]).toMatchObject({ event: 'BLOCK_JOB_READY', data: { device: 'j' } });
    expect(b.messages[1]).toEqual(a.messages[1]);
    expect(ids(c.messages.slice(1))).toEqual(['after']);
    // Not replayed after negotiating.
    await c.negotiate();
    await c.send('{"execute":"query-version","id":"after"}');
    await c.waitFor(2);
    expect(ids(c.replies)).toEqual(['after']);
  });

  test('QEMU throttling: first at once, then the latest per period, per key', async () => {
    const h = harness({ throttlePeriodMs: 60 });
    const client = await h.connect();
    await client.negotiate();
    const bad = (node: string, sector: number) =>
      h.server.emit('QUORUM_REPORT_BAD', {
        type: 'read',
        'node-name': node,
        'sector-num': sector,
        'sectors-count': 1,
      });
    const raisedAt = performance.now();
    bad('a', 1);
    bad('a', 2);
    bad('b', 1);
    bad('a', 3);
    const sectors = () =>
      client.replies.map((m) => {
        const data = (m as { data: { 'node-name': string; 'sector-num': number } }).data;
        return `${data['node-name']}${data['sector-num']}`;
      });
    await client.waitFor(4);
    // a2 is replaced by a3, which is held to the end of a's period: it cannot arrive sooner
    // (a loaded machine can only make it later, so this bound holds on any machine).
    expect(sectors()).toEqual(['a1', 'b1', 'a3']);
    expect(performance.now() - raisedAt).toBeGreaterThanOrEqual(59);
    // a3 went out as a's period ended and began the next one. c's first period begins after
    // it and lasts as long: once c2 (held to its end) arrives, a's period is over, quiet.
    bad('c', 1);
    bad('c', 2);
    await client.waitFor(6);
    expect(sectors()).toEqual(['a1', 'b1', 'a3', 'c1', 'c2']);
    // So a4 goes out at once: before an unthrottled event raised right after it.
    bad('a', 4);
    h.server.emit('BLOCK_JOB_READY', { type: 'mirror', device: 'j', len: 1, offset: 1, speed: 0 });
    await client.waitFor(8);
    expect(ids(client.replies).slice(5)).toEqual(['QUORUM_REPORT_BAD', 'BLOCK_JOB_READY']);
    expect((client.replies[5] as { data: { 'sector-num': number } }).data['sector-num']).toBe(4);
    await h.server.close();
  });
});

describe('flow control (§6)', () => {
  test('without OOB nothing more is read while a command runs', async () => {
    const g = gate();
    let running = false;
    const h = harness({
      handlers: {
        'job-pause': () => {
          running = true;
          return g.promise;
        },
      },
    });
    const client = await h.connect();
    await client.negotiate();
    // Read ahead, the exec-oob would be refused at once (it bypasses the queue), in the same
    // turn as job-pause starts: before an event raised once it runs.
    await client.send(
      '{"execute":"job-pause","arguments":{"id":"a"},"id":1}{"exec-oob":"x","id":2}',
    );
    await until(() => running);
    h.server.emit('BLOCK_JOB_READY', { type: 'mirror', device: 'j', len: 1, offset: 1, speed: 0 });
    await client.waitFor(2);
    expect(ids(client.replies)).toEqual(['BLOCK_JOB_READY']);
    g.open();
    await client.waitFor(4);
    expect(ids(client.replies)).toEqual(['BLOCK_JOB_READY', 1, 2]);
  });

  test("a plain value is answered in its handler's turn; only a promise stops the input", async () => {
    const g = gate();
    const server = new QmpServer({
      ...testSchema,
      log: () => {},
      handlers: {
        'query-jobs': (_args, context) => {
          // Work left to a later promise job comes after the reply, as what QEMU leaves to its
          // main loop comes after the reply written when the handler returns.
          queueMicrotask(() => context.emit('JOB_STATUS_CHANGE', { id: 'j', status: 'null' }));
          return [];
        },
        'job-pause': () => g.promise,
      },
    });
    onTestFinished(() => server.abort());
    const [client, serverSide] = createLinkedPair({ server: { codec: QMP_SERVER_CODEC } });
    const pause = vi.spyOn(serverSide, 'pause');
    const messages: JsonValue[] = [];
    client.onmessage = (m) => messages.push(m);
    await client.start();
    server.serve(serverSide);
    await until(() => messages.length === 1);
    await client.sendRaw('{"execute":"qmp_capabilities"}{"execute":"query-jobs","id":1}');
    await until(() => messages.length === 4);
    expect(ids(messages.slice(1))).toEqual([undefined, 1, 'JOB_STATUS_CHANGE']);
    expect(pause).not.toHaveBeenCalled();
    await client.sendRaw('{"execute":"job-pause","arguments":{"id":"a"},"id":2}');
    await until(() => pause.mock.calls.length === 1);
    g.open();
    await until(() => messages.length === 5);
    expect(ids(messages.slice(4))).toEqual([2]);
  });

  test('with OOB: an OOB command overtakes 1 running + 7 queued, but not 8 queued', async () => {
    for (const queued of [7, 8]) {
      const g = gate();
      let running = false;
      const server = harness({
        schema: OOB_SCHEMA,
        handlers: {
          'job-pause': () => {
            running = true;
            return g.promise;
          },
          ...{ 'x-oob-test': () => undefined },
        } as HandlerMap,
      });
      const client = await server.connect();
      await client.negotiate(true);
      let text = '{"execute":"job-pause","arguments":{"id":"a"},"id":0}';
      for (let i = 1; i <= queued; i++) text += `{"execute":"query-version","id":${i}}`;
      text += '{"exec-oob":"x-oob-test","id":"oob"}';
      await client.send(text);
      // The whole write is taken in as far as the queue allows in the turn job-pause starts;
      // an event raised after that comes after the OOB reply, if there is one.
      await until(() => running);
      server.server.emit('BLOCK_JOB_READY', {
        type: 'mirror',
        device: 'j',
        len: 1,
        offset: 1,
        speed: 0,
      });
      const sentinel = queued === 7 ? ['oob', 'BLOCK_JOB_READY'] : ['BLOCK_JOB_READY'];
      await client.waitFor(1 + sentinel.length);
      expect(ids(client.replies)).toEqual(sentinel);
      client.messages.splice(1);
      g.open();
      await client.waitFor(queued === 7 ? queued + 2 : queued + 3);
      const order = ids(client.replies);
      expect(order.filter((id) => id !== 'oob')).toEqual(
        Array.from({ length: queued + 1 }, (_, i) => i),
      );
      if (queued === 8) expect(order.indexOf('oob')).toBeGreaterThan(0);
    }
  });

  test('in-band commands of all clients run one at a time, round-robin', async () => {
    const running: number[] = [];
    let max = 0;
    const h = harness({
      handlers: {
        'job-pause': async () => {
          running.push(1);
          max = Math.max(max, running.length);
          await delay(3);
          running.pop();
        },
      },
    });
    const a = await h.connect();
    const b = await h.connect();
    await a.negotiate(true);
    await b.negotiate(true);
    for (const c of [a, b]) {
      await c.send(
        '{"execute":"job-pause","arguments":{"id":"x"},"id":1}{"execute":"job-pause","arguments":{"id":"x"},"id":2}',
      );
    }
    await a.waitFor(3);
    await b.waitFor(3);
    expect(max).toBe(1);
  });

  test('a client that stops reading while pipelining requests is not cut off: its input waits', async () => {
    // Four schema replies are more than the bound: only events can pass it, replies hold
    // the client's input back instead (QEMU, too, reads no more while it has work in hand).
    const h = harness({ maxOutputBytes: 300_000 });
    const client = await h.connect({ pair: { bufferBytes: 0 } });
    await client.negotiate();
    client.transport.pause();
    // Not awaited: with nothing buffered, the writes complete only as the server reads them.
    const sent = client.send(
      Array.from({ length: 4 }, (_, i) => `{"execute":"query-qmp-schema","id":${i}}`).join(''),
    );
    client.transport.resume();
    await sent;
    await client.waitFor(5);
    expect(ids(client.replies)).toEqual([0, 1, 2, 3]);
    expect(h.server.clientCount).toBe(1);
    expect(h.logs.filter(([level]) => level !== 'info')).toEqual([]);
  });
});

describe('shutdown (issue 14)', () => {
  test('close() does not wait on a client that does not read: it is cut off once its output stalls', async () => {
    const h = harness();
    const idle = await h.connect({ pair: { bufferBytes: 0 } });
    await idle.negotiate();
    idle.transport.pause();
    await idle.send('{"execute":"query-qmp-schema","id":1}');
    await until(() => h.server.clientCount === 1);
    vi.useFakeTimers();
    try {
      let closed = false;
      void h.server.close().then(() => {
        closed = true;
      });
      // A second of (fake) time without progress: that client is cut off (after a quarter of a
      // second) and close() is done.
      await vi.advanceTimersByTimeAsync(1000);
      expect(closed).toBe(true);
      expect(h.server.clientCount).toBe(0);
    } finally {
      // On failure, end it under the fake clock: its timers would never fire after it.
      void h.server.abort();
      await vi.advanceTimersByTimeAsync(1000);
      vi.useRealTimers();
    }
  });

  test('close() lets a client that reads take all of its output first', async () => {
    const h = harness();
    const reader = await h.connect({ pair: { bufferBytes: 0 } });
    await reader.negotiate();
    await reader.send(
      Array.from({ length: 4 }, (_, i) => `{"execute":"query-qmp-schema","id":${i}}`).join(''),
    );
    await reader.waitFor(2);
    await h.server.close();
    await reader.waitFor(5);
    expect(reader.messages.slice(1).map((m) => (m as { id?: unknown }).id)).toEqual([0, 1, 2, 3]);
  });

  test('abort() ends every session at once, whatever is unsent', async () => {
    const h = harness();
    const idle = await h.connect({ pair: { bufferBytes: 0 } });
    await idle.negotiate();
    idle.transport.pause();
    await idle.send('{"execute":"query-qmp-schema","id":1}');
    await until(() => h.server.clientCount === 1);
    vi.useFakeTimers();
    try {
      let closed = false;
      void h.server.abort().then(() => {
        closed = true;
      });
      await vi.advanceTimersByTimeAsync(0);
      expect(closed).toBe(true);
      expect(h.server.clientCount).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('monitors and disconnects (§1.1, §10)', () => {
  test('one client at a time: the second gets its greeting when the first leaves', async () => {
    const h = harness();
    const monitor = h.server.createMonitor({ name: 'm' });
    const a = await h.connect({ monitor });
    const b = await h.connect({ monitor });
    // A round trip of the first client after the second connected: a greeting given to the
    // second at connect time would have been written, and delivered, before its reply.
    await a.negotiate();
    expect(b.messages).toEqual([]);
    expect(monitor.waitingClients).toBe(1);
    await b.send('{"execute":"qmp_capabilities","id":"early"}');
    await a.transport.close();
    await b.waitFor(2);
    expect(b.messages[0]).toMatchObject({ QMP: {} });
    // Bytes sent while waiting are processed once served.
    expect(b.messages[1]).toEqual({ return: {}, id: 'early' });
  });

  test('serveAllClients greets everyone at once', async () => {
    const h = harness();
    const monitor = h.server.createMonitor({ serveAllClients: true });
    const a = await h.connect({ monitor });
    const b = await h.connect({ monitor });
    await a.waitFor(1);
    await b.waitFor(1);
  });

  test('disconnect: queued requests are dropped, the running reply goes to the next client', async () => {
    const g = gate();
    const resumed: string[] = [];
    let running = false;
    const h = harness({
      handlers: {
        'job-pause': () => {
          running = true;
          return g.promise;
        },
        'job-resume': (args) => {
          resumed.push(args.id);
        },
      },
    });
    const monitor = h.server.createMonitor();
    const a = await h.connect({ monitor });
    await a.negotiate(true);
    await a.send(
      '{"execute":"job-pause","arguments":{"id":"x"},"id":"block"}{"execute":"job-resume","arguments":{"id":"q1"},"id":2}{"execute":"job-resume","arguments":{"id":"q2"},"id":3}',
    );
    // job-pause runs; the two job-resume were taken in with it and wait in the queue.
    await until(() => running);
    await a.transport.close();
    const b = await h.connect({ monitor });
    await b.waitFor(1);
    await b.send('{"execute":"qmp_capabilities","id":"mine"}');
    expect(b.messages).toHaveLength(1);
    g.open();
    await b.waitFor(3);
    expect(b.messages.slice(1)).toEqual([
      { return: {}, id: 'block' },
      { return: {}, id: 'mine' },
    ]);
    expect(resumed).toEqual([]);
  });

  test('the monitor serve() creates for a transport goes away with it', async () => {
    const h = harness();
    const a = await h.connect();
    await a.waitFor(1);
    expect(h.server.monitorCount).toBe(1);
    await a.transport.close();
    await until(() => h.server.monitorCount === 0);
  });

  test('close() ends every session and the monitors', async () => {
    const h = harness();
    const a = await h.connect();
    const b = await h.connect({ start: true });
    await a.waitFor(1);
    await b.waitFor(1);
    await h.server.close();
    await until(() => a.closes.length === 1 && b.closes.length === 1);
    expect(h.server.clientCount).toBe(0);
    expect(() => h.server.createMonitor()).toThrow(/closed/);
  });
});
