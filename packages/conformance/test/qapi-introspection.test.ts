// The runtime schema @qmpkit/qapi-types carries for each QEMU version, against the running
// binary of that version: query-qmp-schema, query-version and the greeting. The recorded replies
// in qemu-data are checked by qapi-codegen's and qapi-types' tests; this checks the binaries
// themselves, so a different build of 10.0.2 on the machine would show here.

import * as types72 from '@qmpkit/qapi-types/7.2';
import * as types10 from '@qmpkit/qapi-types/10.0';
import { HANG_GUARD_MS } from '@qmpkit/test-support';
import { describe, expect, test } from 'vitest';
import { startQemuStorageDaemon } from '../src/daemon.js';
import { qemuForTests } from '../src/qemu-binaries.js';
import { RawQmpSession } from '../src/raw-session.js';

const targets = [
  { install: qemuForTests('7.2'), types: types72 },
  { install: qemuForTests('10.0'), types: types10 },
];

describe.each(targets)('qemu-storage-daemon $types.qemuVersion', ({ install, types }) => {
  test.skipIf(install === undefined)(
    "query-qmp-schema is exactly @qmpkit/qapi-types' qmpSchema of that version",
    async () => {
      const daemon = await startQemuStorageDaemon({}, install);
      try {
        const session = await RawQmpSession.connect(daemon.socketPath);
        try {
          await session.negotiate();
          const from = session.messages.length;
          session.send('{"execute":"query-qmp-schema","id":"schema"}');
          const reply = await session.waitFor(
            (m) => (m as { id?: unknown }).id === 'schema',
            HANG_GUARD_MS,
            from,
          );
          const schema = (reply.json as { return: unknown[] }).return;
          expect(schema).toEqual(types.qmpSchema);
          expect(schema.some((e) => (e as { name: string }).name === 'block-job-change')).toBe(
            types.qemuVersion === '10.0',
          );
        } finally {
          await session.close();
        }
      } finally {
        await daemon.stop();
      }
    },
  );
});
