import {
  formatEntryLine,
  formatMessageLine,
  formatRecordingHeader,
  type JsonValue,
  parseRecording,
} from '@qmpkit/protocol';
import { createLinkedPair, type LinkedTransport } from '@qmpkit/protocol/testing';
import { afterEach, describe, expect, test } from 'vitest';
import { planReplay } from './plan.js';
import { type ReplayMode, ReplaySession } from './session.js';

// Wire texts as QEMU 7.2 writes them (reference qmp-protocol.md §1.5, §2).
const GREETING =
  '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}}\r\n';
const EVENT =
  '{"timestamp": {"seconds": 1796629885, "microseconds": 956661}, "event": "JOB_STATUS_CHANGE", "data": {"status": "created", "id": "m1"}}\r\n';

type Line = [dir: 'in' | 'out', text: string] | ['closed', 'client' | 'server'];

/** A one-connection recording of these wire texts, 1 µs apart. */
function recording(lines: Line[]) {
  let t = 0;
  let text = formatRecordingHeader({ started: '2026-12-07T08:00:00.000Z' });
  text += formatEntryLine({ t: t++, conn: 1, state: 'open' });
  for (const [dir, value] of lines) {
    t += 1000;
    if (dir === 'closed') text += formatEntryLine({ t, conn: 1, state: 'closed', by: value });
    else text += formatMessageLine(t, 1, dir, JSON.parse(value) as JsonValue, value);
  }
  return parseRecording(text);
}

const sessions: { client: LinkedTransport; session: ReplaySession }[] = [];
afterEach(async () => {
  for (const { client, session } of sessions.splice(0)) {
    session.stop();
    await client.close();
  }
});

/** A replay of `lines` and a client reading raw text from it. */
async function replay(lines: Line[], mode: ReplayMode = 'strict') {
  const [client, server] = createLinkedPair();
  const log: string[] = [];
  const session = new ReplaySession(server, {
    plan: planReplay(recording(lines))[0]!,
    mode,
    log: (line) => log.push(line),
    nowNs: () => Number(process.hrtime.bigint()),
    wallMs: () => 1_800_000_000_123,
  });
  sessions.push({ client, session });
  const received: JsonValue[] = [];
  let waiters: (() => void)[] = [];
  let closed = false;
  client.onmessage = (msg) => {
    received.push(msg);
    for (const w of waiters) w();
  };
  client.onclose = () => {
    closed = true;
    for (const w of waiters) w();
  };
  await client.start();
  await session.start();
  const until = (count: number) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (received.length >= count || closed) {
          waiters = waiters.filter((w) => w !== check);
          resolve();
        }
      };
      waiters.push(check);
      check();
    });
  return { client, session, received, log, until, isClosed: () => closed };
}

describe('strict replay', () => {
  test('the greeting at once; each reply and event only after the command that caused it', async () => {
    const r = await replay([
      ['out', GREETING],
      ['in', '{"execute": "qmp_capabilities"}'],
      ['out', '{"return": {}}\r\n'],
      ['in', '{"execute": "blockdev-mirror", "arguments": {"job-id": "m1"}, "id": 1}'],
      ['out', EVENT],
      ['out', '{"return": {}, "id": 1}\r\n'],
    ]);
    await r.until(1);
    expect(r.received).toEqual([JSON.parse(GREETING)]);
    await r.client.sendRaw('{"execute": "qmp_capabilities"}\n');
    await r.until(2);
    // Nothing else comes before the next command: the event waits for blockdev-mirror.
    await r.client.sendRaw('{"execute":"blockdev-mirror","id":1,"arguments":{"job-id":"m1"}}');
    await r.until(4);
    expect(r.received.slice(1)).toEqual([{ return: {} }, JSON.parse(EVENT), { return: {}, id: 1 }]);
    expect(r.session.divergences).toBe(0);
  });

  test('a divergence is a GenericError naming the expected command; the replay then goes on', async () => {
    const r = await replay([
      ['out', GREETING],
      ['in', '{"execute": "query-jobs", "id": "a"}'],
      ['out', '{"return": [], "id": "a"}\r\n'],
      ['in', '{"execute": "job-dismiss", "arguments": {"id": "m1"}}'],
      ['out', '{"error": {"class": "GenericError", "desc": "Job not found"}}\r\n'],
    ]);
    await r.until(1);
    await r.client.send({ execute: 'query-block-jobs', id: 'x' });
    await r.until(2);
    expect(r.received[1]).toEqual({
      id: 'x',
      error: {
        class: 'GenericError',
        desc: 'replay: expected "query-jobs" (input 1 of recorded connection 1), got "query-block-jobs"',
      },
    });
    await r.client.send({ execute: 'query-jobs', id: 'a' });
    await r.until(3);
    expect(r.received[2]).toEqual({ return: [], id: 'a' });
    await r.client.send({ execute: 'job-dismiss', arguments: { id: 'other' } });
    await r.until(4);
    expect((r.received[3] as { error: { desc: string } }).error.desc).toBe(
      'replay: expected "job-dismiss" with the recorded arguments {"arguments":{"id":"m1"},"execute":"job-dismiss"} (input 2 of recorded connection 1), got {"arguments":{"id":"other"},"execute":"job-dismiss"}',
    );
    expect(r.session.divergences).toBe(2);
    expect(r.log.join('\n')).toContain(
      'connection 1: divergence at input 1: expected "query-jobs"',
    );
  });

  test("the client's own id is echoed where QEMU puts it", async () => {
    const r = await replay([
      ['out', GREETING],
      ['in', '{"execute": "query-jobs", "id": "rec-1"}'],
      ['out', '{"return": [], "id": "rec-1"}\r\n'],
      ['in', '{"execute": "job-pause", "arguments": {"id": "x"}, "id": "rec-2"}'],
      ['out', '{"id": "rec-2", "error": {"class": "GenericError", "desc": "Job not found"}}\r\n'],
    ]);
    await r.until(1);
    await r.client.send({ execute: 'query-jobs', id: 7 });
    await r.client.send({ execute: 'job-pause', arguments: { id: 'x' }, id: 'z' });
    await r.until(3);
    expect(r.received.slice(1)).toEqual([
      { return: [], id: 7 },
      { id: 'z', error: { class: 'GenericError', desc: 'Job not found' } },
    ]);
    // The decoded members keep the wire order: QEMU puts id after return but before error.
    expect(r.received.slice(1).map((m) => Object.keys(m as object))).toEqual([
      ['return', 'id'],
      ['id', 'error'],
    ]);
  });

  test('where the recorded server closed the connection, the replay closes it', async () => {
    const r = await replay([
      ['out', GREETING],
      ['in', '{"execute": "quit"}'],
      ['out', '{"return": {}}\r\n'],
      ['closed', 'server'],
    ]);
    await r.until(1);
    await r.client.send({ execute: 'quit' });
    await r.until(3);
    expect(r.received).toEqual([JSON.parse(GREETING), { return: {} }]);
    expect(r.isClosed()).toBe(true);
  });

  test('input beyond the recording is answered with an error', async () => {
    const r = await replay([['out', GREETING]]);
    await r.until(1);
    await r.client.send({ execute: 'query-jobs' });
    await r.until(2);
    expect(r.received[1]).toEqual({
      error: {
        class: 'GenericError',
        desc: 'replay: the recording has no more input on this connection (got "query-jobs")',
      },
    });
  });
});

describe('tolerant replay', () => {
  test('other arguments are accepted (and logged); events carry the current time', async () => {
    const r = await replay(
      [
        ['out', GREETING],
        ['in', '{"execute": "blockdev-mirror", "arguments": {"target": "/tmp/run-1/x"}}'],
        ['out', EVENT],
        ['out', '{"return": {}}\r\n'],
      ],
      'tolerant',
    );
    await r.until(1);
    await r.client.send({
      execute: 'blockdev-mirror',
      arguments: { target: '/tmp/run-2/x' },
      id: 5,
    });
    await r.until(3);
    expect(r.received.slice(1)).toEqual([
      { ...JSON.parse(EVENT), timestamp: { seconds: 1_800_000_000, microseconds: 123_000 } },
      { return: {}, id: 5 },
    ]);
    expect(r.log.join('\n')).toContain('other arguments than recorded (accepted)');
    await r.client.send({ execute: 'query-jobs' });
    await r.until(4);
    expect((r.received[3] as { error: { desc: string } }).error.desc).toContain('no more input');
  });

  test('a different command is still a divergence', async () => {
    const r = await replay(
      [
        ['out', GREETING],
        ['in', '{"execute": "query-jobs"}'],
        ['out', '{"return": []}\r\n'],
      ],
      'tolerant',
    );
    await r.until(1);
    await r.client.send({ execute: 'query-block-jobs' });
    await r.until(2);
    expect((r.received[1] as { error: { desc: string } }).error.desc).toBe(
      'replay: expected "query-jobs" (input 1 of recorded connection 1), got "query-block-jobs"',
    );
  });

  test('a client polling more often gets the recorded reply again; an extra poll in strict mode diverges', async () => {
    const lines: Line[] = [
      ['out', GREETING],
      ['in', '{"execute": "query-jobs"}'],
      ['out', '{"return": [{"id": "j", "status": "running"}]}\r\n'],
      ['in', '{"execute": "job-dismiss", "arguments": {"id": "j"}}'],
      ['out', '{"return": {}}\r\n'],
    ];
    const r = await replay(lines, 'tolerant');
    await r.until(1);
    await r.client.send({ execute: 'query-jobs', id: 1 });
    await r.client.send({ execute: 'query-jobs', id: 2 });
    await r.client.send({ execute: 'job-dismiss', arguments: { id: 'j' }, id: 3 });
    await r.until(4);
    const running = [{ id: 'j', status: 'running' }];
    expect(r.received.slice(1)).toEqual([
      { return: running, id: 1 },
      { return: running, id: 2 },
      { return: {}, id: 3 },
    ]);
    expect(r.session.divergences).toBe(0);
    const strict = await replay(lines, 'strict');
    await strict.until(1);
    await strict.client.send({ execute: 'query-jobs' });
    await strict.client.send({ execute: 'query-jobs' });
    await strict.until(3);
    expect(strict.session.divergences).toBe(1);
  });

  test('a client polling less often skips recorded polls: their replies go, the events stay', async () => {
    const r = await replay(
      [
        ['out', GREETING],
        ['in', '{"execute": "query-jobs"}'],
        ['out', '{"return": []}\r\n'],
        ['out', EVENT],
        ['in', '{"execute": "query-jobs"}'],
        ['out', '{"return": [{"id": "m1"}]}\r\n'],
        ['in', '{"execute": "job-pause", "arguments": {"id": "m1"}}'],
        ['out', '{"return": {}}\r\n'],
      ],
      'tolerant',
    );
    await r.until(1);
    await r.client.send({ execute: 'query-jobs' });
    await r.until(3);
    await r.client.send({ execute: 'job-pause', arguments: { id: 'm1' } });
    await r.until(4);
    expect(r.received.slice(1).map((m) => Object.keys(m as object)[0])).toEqual([
      'return',
      'timestamp',
      'return',
    ]);
    expect(r.received.at(-1)).toEqual({ return: {} });
    expect(r.session.divergences).toBe(0);
    expect(r.log.join('\n')).toContain('skipped 1 recorded poll(s)');
  });
});
