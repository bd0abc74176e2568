import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Daemon, startQemuStorageDaemon } from '../src/daemon.js';
import { RawQmpSession } from '../src/raw-session.js';

// The harness itself, checked against the oracle: it must see what the reference says QEMU does.
describe('RawQmpSession against a real qemu-storage-daemon', () => {
  let daemon: Daemon;
  beforeAll(async () => {
    daemon = await startQemuStorageDaemon();
  });
  afterAll(() => daemon?.stop());

  test('records the greeting, CR LF framing, and several replies from one write', async () => {
    const session = await RawQmpSession.connect(daemon.socketPath);
    try {
      await session.negotiate();
      session.send('{"execute":"query-jobs","id":1}{"execute":"nope","id":"x"}');
      const messages = await session.waitForCount(4);
      expect(messages[0]?.json).toMatchObject({ QMP: { capabilities: ['oob'] } });
      expect(messages[2]?.json).toEqual({ return: [], id: 1 });
      expect(messages[3]?.json).toEqual({
        id: 'x',
        error: { class: 'CommandNotFound', desc: 'The command nope has not been found' },
      });
      expect(session.received.endsWith('\r\n')).toBe(true);
      expect(session.received.split('\r\n').length - 1).toBe(4);
    } finally {
      await session.close();
    }
  });

  test('garbage gets one reply per error; the server closes after our end of input', async () => {
    const session = await RawQmpSession.connect(daemon.socketPath);
    try {
      await session.negotiate();
      const before = session.messages.length;
      session.send('@}');
      session.endInput();
      const after = await session.waitForClose();
      expect(after.slice(before).map((m) => m.json)).toEqual([
        { error: { class: 'GenericError', desc: "JSON parse error, stray '@'" } },
        { error: { class: 'GenericError', desc: 'JSON parse error, expecting value' } },
      ]);
    } finally {
      await session.close();
    }
  });
});
