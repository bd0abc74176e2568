// The README's in-memory example, run as written (imports by relative path: the layering rules
// forbid a package importing itself by name).

import { expect, test } from 'vitest';
import { classifyServerMessage, makeGreeting, makeSuccess } from '../src/index.js';
import { createLinkedPair } from '../src/testing/index.js';

test('the README pair example negotiates', async () => {
  const seen: unknown[] = [];
  const [client, server] = createLinkedPair();

  server.onmessage = (command) => {
    const id = (command as { id?: unknown }).id as number;
    void server.send(makeSuccess({}, id));
  };
  client.onmessage = (message) => {
    const m = classifyServerMessage(message);
    if (m.kind === 'greeting') void client.send({ execute: 'qmp_capabilities', id: 1 });
    if (m.kind === 'return') seen.push(m.id);
  };
  await Promise.all([client.start(), server.start()]);
  await server.send(makeGreeting({ qemu: { major: 7, minor: 2, micro: 0 }, package: '' }, ['oob']));

  for (let i = 0; i < 100 && seen.length === 0; i++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  expect(seen).toEqual([1]);
});
