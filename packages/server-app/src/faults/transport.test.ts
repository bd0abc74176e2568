import type { Transport, TransportState } from '@qmpkit/protocol';
import { until } from '@qmpkit/test-support';
import { afterEach, describe, expect, test } from 'vitest';
import { FaultPlan } from './plan.js';
import type { FaultSpec } from './spec.js';
import { FaultTransport } from './transport.js';

/** A transport that records what reaches it. */
class RecordingTransport implements Transport {
  state: TransportState = 'idle';
  writes: string[] = [];
  started = false;
  abortedWith: Error | undefined | null = null;
  onmessage?: Transport['onmessage'];
  onerror?: Transport['onerror'];
  onend?: Transport['onend'];
  onclose?: Transport['onclose'];
  async start() {
    this.started = true;
    this.state = 'running';
  }
  async send() {}
  async sendRaw(data: Uint8Array | string) {
    this.writes.push(String(data));
  }
  async close() {
    this.state = 'closed';
    this.onclose?.(undefined);
  }
  abort(cause?: Error) {
    this.abortedWith = cause;
    this.state = 'closed';
    this.onclose?.(cause);
  }
  pause() {}
  resume() {}
}

const open: FaultTransport[] = [];
afterEach(() => {
  for (const t of open.splice(0)) t.abort();
});

function wrap(faults: FaultSpec[], seed = 1) {
  const inner = new RecordingTransport();
  const outer = new FaultTransport(inner, new FaultPlan(seed, faults));
  open.push(outer);
  return { inner, outer };
}

const LINE = '{"return": {}, "id": 1}\r\n';

describe('FaultTransport', () => {
  test('without faults, writes pass through whole', async () => {
    const { inner, outer } = wrap([]);
    await outer.start();
    await outer.sendRaw(LINE);
    expect(inner.started).toBe(true);
    expect(inner.writes).toEqual([LINE]);
  });

  test('split: one write reaches the peer as several, in order, bytes unchanged', async () => {
    const { inner, outer } = wrap([{ kind: 'split', pieces: 4 }]);
    await outer.sendRaw(LINE);
    await outer.sendRaw(LINE);
    expect(inner.writes).toHaveLength(8);
    expect(inner.writes.join('')).toBe(LINE + LINE);
    for (const piece of inner.writes) expect(piece.length).toBeGreaterThan(0);
  });

  test('split points are the seed’s: same seed, same pieces', async () => {
    const pieces = async (seed: number) => {
      const { inner, outer } = wrap([{ kind: 'split' }], seed);
      for (let i = 0; i < 5; i++) await outer.sendRaw(LINE);
      return inner.writes;
    };
    expect(await pieces(11)).toEqual(await pieces(11));
  });

  test('coalesce: writes inside the window reach the peer as one', async () => {
    const { inner, outer } = wrap([{ kind: 'coalesce', ms: 30 }]);
    await outer.sendRaw('a\r\n');
    await outer.sendRaw('b\r\n');
    await outer.sendRaw('c\r\n');
    expect(inner.writes).toEqual([]);
    await until(() => inner.writes.length > 0);
    expect(inner.writes).toEqual(['a\r\nb\r\nc\r\n']);
  });

  test('hold-greeting for ever: nothing is written and nothing read', async () => {
    const { inner, outer } = wrap([{ kind: 'hold-greeting' }]);
    let written = false;
    void outer.sendRaw('{"QMP": {}}\r\n').then(
      () => {
        written = true;
      },
      () => {},
    );
    await outer.start();
    await new Promise((r) => setImmediate(r));
    expect(inner.started).toBe(false);
    expect(inner.writes).toEqual([]);
    expect(written).toBe(false);
  });

  test('hold-greeting with ms: greeting and input follow once it is over', async () => {
    const { inner, outer } = wrap([{ kind: 'hold-greeting', ms: 20 }]);
    const greeted = outer.sendRaw('{"QMP": {}}\r\n');
    await outer.start();
    expect(inner.started).toBe(false);
    await greeted;
    expect(inner.writes).toEqual(['{"QMP": {}}\r\n']);
    expect(inner.started).toBe(true);
  });

  test('a held connection that closes fails its held output', async () => {
    const { inner, outer } = wrap([{ kind: 'hold-greeting' }]);
    const greeted = outer.sendRaw('{"QMP": {}}\r\n');
    inner.abort(new Error('peer gone'));
    await expect(greeted).rejects.toThrow('peer gone');
  });

  test('abort cuts the connection and drops what is gathered', async () => {
    const { inner, outer } = wrap([{ kind: 'coalesce', ms: 10_000 }]);
    await outer.sendRaw(LINE);
    const cause = new Error('dropped');
    outer.abort(cause);
    expect(inner.abortedWith).toBe(cause);
    expect(inner.writes).toEqual([]);
  });
});
