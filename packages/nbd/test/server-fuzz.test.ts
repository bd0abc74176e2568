// Garbage after the greeting — random options, random requests after a good handshake, random
// bytes — never takes the server down: every connection ends, nothing is logged as an error
// (only the warnings QEMU would print), and the next client is served normally.
import { HANG_GUARD_MS, until } from '@qmpkit/test-support';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { SparseMemoryBackend } from '../src/index.js';
import { connectNbd, type NbdServer } from '../src/node/index.js';
import { removeDir, startOurs, tempDir } from './harness.js';
import { cat, lstr, RawSession, u16, u32, u64 } from './raw-session.js';

let dir: string | undefined;
let server: NbdServer | undefined;
const errors: string[] = [];

beforeAll(async () => {
  dir = await tempDir('qmpkit-nbd-fuzz-');
  const backend = new SparseMemoryBackend({
    size: 1 << 20,
    bitmaps: [{ name: 'b0' }],
    allocationDepth: true,
  });
  ({ server } = await startOurs(dir, backend, {
    exportName: 'disk',
    qemuVersion: '10.0',
    log: (level, message) => {
      if (level === 'error') errors.push(message);
    },
  }));
});

afterAll(async () => {
  await server?.close();
  await removeDir(dir);
});

const OPTS_MAGIC = 0x49484156454f5054n;

const optionArb = fc
  .record({
    option: fc.oneof(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
    data: fc.uint8Array({ maxLength: 64 }),
    lie: fc.integer({ min: -8, max: 8 }),
  })
  .map(({ option, data, lie }) =>
    cat(u64(OPTS_MAGIC), u32(option), u32(Math.max(0, data.length + lie)), data),
  );

const requestArb = fc
  .record({
    extended: fc.boolean(),
    flags: fc.integer({ min: 0, max: 0xffff }),
    type: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 0xffff })),
    offset: fc.oneof(
      fc.integer({ min: 0, max: 1 << 20 }),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    ),
    length: fc.oneof(fc.integer({ min: 0, max: 70_000 }), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
    payload: fc.uint8Array({ maxLength: 512 }),
  })
  .map((r) =>
    r.extended
      ? cat(
          u32(0x21e41c71),
          u16(r.flags),
          u16(r.type),
          u64(1),
          u64(r.offset),
          u64(r.length),
          r.payload,
        )
      : cat(
          u32(0x25609513),
          u16(r.flags),
          u16(r.type),
          u64(1),
          u64(r.offset),
          u32(r.length),
          r.payload,
        ),
  );

const go = cat(u64(OPTS_MAGIC), u32(7), u32(10), lstr('disk'), u16(0));
const structured = cat(u64(OPTS_MAGIC), u32(8), u32(0));
const extended = cat(u64(OPTS_MAGIC), u32(11), u32(0));

const scriptArb = fc.oneof(
  fc.array(optionArb, { maxLength: 6 }).map((options) => cat(...options)),
  fc
    .tuple(
      fc.constantFrom(new Uint8Array(0), structured, extended),
      fc.array(requestArb, { maxLength: 6 }),
    )
    .map(([mode, requests]) => cat(mode, go, ...requests)),
  fc.uint8Array({ maxLength: 256 }),
);

test(
  'random input never takes the server down',
  async () => {
    const path = (server!.address as { path: string }).path;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(0, 1, 2, 3), scriptArb, async (flags, script) => {
        const session = await RawSession.open(path);
        await session.greeting(flags);
        await session.send(script).catch(() => undefined);
        session.endInput();
        // The server ends every connection once our side has nothing more to say.
        expect(await session.drainUntilClosed()).toBe(true);
      }),
      { numRuns: 150 },
    );
    await until(() => server!.connectionCount === 0, 'every connection to go');
    expect(errors).toEqual([]);
    const client = await connectNbd(
      { path },
      { exportName: 'disk', metaContexts: ['base:allocation'] },
    );
    await client.write(0, new Uint8Array([1, 2, 3]));
    expect([...(await client.read(0, 3))]).toEqual([1, 2, 3]);
    await client.disconnect();
  },
  3 * HANG_GUARD_MS,
);
