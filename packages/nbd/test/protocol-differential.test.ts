// Byte-level differential tests: the same hand-made options and requests, sent to qemu-nbd
// (serving a qcow2 image with a persistent dirty bitmap) and to our server (serving a sparse
// backend with 64 KiB blocks, like qcow2's clusters, and the same bitmap). Every reply —
// types, flags, error numbers, QEMU's message texts, extents, and where QEMU hangs up — must be
// identical. The expected values are whatever qemu-nbd answers.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { HANG_GUARD_MS } from '@qmpkit/test-support';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { SparseMemoryBackend } from '../src/index.js';
import {
  type Endpoint,
  qemuBuilds,
  removeDir,
  run,
  startOurs,
  startQemuNbd,
  tempDir,
  useQemu,
} from './harness.js';
import { cat, lstr, RawSession, text, u16, u32 } from './raw-session.js';

// Each test runs real QEMU tools; the machine may be busy.
vi.setConfig({ testTimeout: 2 * HANG_GUARD_MS, hookTimeout: 2 * HANG_GUARD_MS });

const SIZE = 16 * 1024 * 1024;
const NAME = 'disk';
const DESCRIPTION = 'a test disk';

const builds = qemuBuilds();

describe.each(builds.map((b) => [b.version, b] as const))('QEMU %s', (_version, build) => {
  let dir: string | undefined;
  // A qcow2 image with a persistent bitmap, for the handshake; a raw file, for transmission (a
  // raw file's block status is the filesystem's, which the sparse backend's 4 KiB blocks mirror).
  let qemu: Endpoint | undefined;
  let ours: Endpoint | undefined;
  let qemuRaw: Endpoint | undefined;
  let oursRaw: Endpoint | undefined;

  beforeAll(async () => {
    useQemu(build);
    dir = await tempDir('qmpkit-nbd-raw-');
    const image = join(dir, 'disk.qcow2');
    expect((await run('qemu-img', ['create', '-q', '-f', 'qcow2', image, String(SIZE)])).code).toBe(
      0,
    );
    expect((await run('qemu-img', ['bitmap', '--add', image, 'b0'])).code).toBe(0);
    qemu = await startQemuNbd(dir, image, [
      '-f',
      'qcow2',
      '-x',
      NAME,
      '-D',
      DESCRIPTION,
      '-B',
      'b0',
      '-A',
    ]);
    const backend = new SparseMemoryBackend({
      size: SIZE,
      blockSize: 65536,
      bitmaps: [{ name: 'b0', granularity: 65536 }],
      allocationDepth: true,
    });
    ours = await startOurs(dir, backend, {
      exportName: NAME,
      description: DESCRIPTION,
      maxConnections: 1,
    });
    const rawDir = join(dir, 'raw');
    await mkdir(rawDir);
    const raw = join(rawDir, 'disk.raw');
    expect((await run('truncate', ['-s', String(SIZE), raw])).code).toBe(0);
    qemuRaw = await startQemuNbd(rawDir, raw, ['-f', 'raw', '-x', NAME]);
    oursRaw = await startOurs(rawDir, new SparseMemoryBackend({ size: SIZE }), {
      exportName: NAME,
      maxConnections: 1,
    });
  });

  afterAll(async () => {
    await Promise.all([qemu?.stop(), ours?.stop(), qemuRaw?.stop(), oursRaw?.stop()]);
    await removeDir(dir);
  });

  /** Runs `script` against both servers (qemu-nbd first) and expects the same record. */
  async function same(script: (s: RawSession) => Promise<unknown>, raw = false): Promise<unknown> {
    const records: unknown[] = [];
    for (const endpoint of raw ? [qemuRaw!, oursRaw!] : [qemu!, ours!]) {
      const session = await RawSession.open(endpoint.socket);
      try {
        records.push(await script(session));
      } finally {
        session.close();
      }
    }
    expect(records[1]).toEqual(records[0]);
    return records[0];
  }

  const FIXED_NO_ZEROES = 3;
  const OPT = {
    EXPORT_NAME: 1,
    ABORT: 2,
    LIST: 3,
    STARTTLS: 5,
    INFO: 6,
    GO: 7,
    STRUCTURED: 8,
    LIST_META: 9,
    SET_META: 10,
    EXTENDED: 11,
  };
  const CMD = {
    READ: 0,
    WRITE: 1,
    DISC: 2,
    FLUSH: 3,
    TRIM: 4,
    CACHE: 5,
    WRITE_ZEROES: 6,
    BLOCK_STATUS: 7,
  };

  function infoData(name: string, requests: number[]): Uint8Array {
    return cat(lstr(name), u16(requests.length), ...requests.map(u16));
  }

  function metaData(name: string, queries: string[]): Uint8Array {
    return cat(lstr(name), u32(queries.length), ...queries.map(lstr));
  }

  describe('option haggling', () => {
    test('greeting, NBD_OPT_LIST, NBD_OPT_ABORT', async () => {
      const record = await same(async (s) => {
        const out: unknown[] = [await s.greeting(FIXED_NO_ZEROES)];
        await s.option(OPT.LIST);
        out.push(await s.optionReplies());
        await s.option(OPT.LIST, text('junk'));
        out.push(await s.optionReplies());
        await s.option(OPT.ABORT);
        out.push(await s.optionReplies());
        out.push(await s.closedByServer());
        return out;
      });
      expect(JSON.stringify(record)).toContain(Buffer.from(DESCRIPTION).toString('hex'));
    });

    test('errors for unknown, unsupported and malformed options keep the session', async () => {
      await same(async (s) => {
        await s.greeting(FIXED_NO_ZEROES);
        const out: unknown[] = [];
        for (const [option, data] of [
          [99, text('hello')],
          [OPT.EXTENDED, new Uint8Array(0)],
          [OPT.STARTTLS, new Uint8Array(0)],
          [OPT.STARTTLS, text('x')],
          [OPT.STRUCTURED, text('x')],
          [OPT.INFO, infoData('nope', [])],
          [OPT.INFO, new Uint8Array([0, 0, 0])],
          [OPT.INFO, cat(infoData(NAME, [1]), text('extra'))],
          [OPT.INFO, cat(u32(5000), new Uint8Array(5000), u16(0))],
          [OPT.INFO, cat(u32(3), new Uint8Array([97, 0, 98]), u16(0))],
          [OPT.INFO, infoData('x'.repeat(100), [])],
          [OPT.SET_META, metaData(NAME, ['base:allocation'])],
          [OPT.LIST_META, metaData(NAME, [])],
        ] as Array<[number, Uint8Array]>) {
          await s.option(option, data);
          out.push(await s.optionReplies());
        }
        return out;
      });
    });

    test('NBD_OPT_INFO and NBD_OPT_GO report the export as QEMU does', async () => {
      await same(async (s) => {
        await s.greeting(FIXED_NO_ZEROES);
        const out: unknown[] = [];
        for (const [option, data] of [
          [OPT.INFO, infoData(NAME, [])],
          [OPT.INFO, infoData(NAME, [1, 2, 3, 0, 77])],
          [OPT.STRUCTURED, new Uint8Array(0)],
          [OPT.STRUCTURED, new Uint8Array(0)],
          [OPT.INFO, infoData(NAME, [3])],
          [OPT.GO, infoData(NAME, [])],
        ] as Array<[number, Uint8Array]>) {
          await s.option(option, data);
          out.push(await s.optionReplies());
        }
        return out;
      });
    });

    test('meta contexts: listing and selecting', async () => {
      const record = await same(async (s) => {
        await s.greeting(FIXED_NO_ZEROES);
        await s.option(OPT.STRUCTURED);
        const out: unknown[] = [await s.optionReplies()];
        for (const [option, queries, name] of [
          [OPT.LIST_META, [], NAME],
          [OPT.LIST_META, ['base:'], NAME],
          [OPT.LIST_META, ['qemu:'], NAME],
          [OPT.LIST_META, ['qemu:dirty-bitmap:'], NAME],
          [OPT.LIST_META, ['x:y', 'base:allocation', 'qemu:nothing', 'qemu:dirty-bitmap:zz'], NAME],
          [OPT.LIST_META, ['base:allocation'], 'nope'],
          [OPT.SET_META, [], NAME],
          [OPT.SET_META, ['base:', 'qemu:', 'qemu:dirty-bitmap:'], NAME],
          [
            OPT.SET_META,
            ['qemu:dirty-bitmap:b0', 'qemu:allocation-depth', 'base:allocation'],
            NAME,
          ],
        ] as Array<[number, string[], string]>) {
          await s.option(option, metaData(name, queries));
          out.push(await s.optionReplies());
        }
        return out;
      });
      expect(JSON.stringify(record)).toContain('qemu:dirty-bitmap:b0');
    });

    test('NBD_OPT_EXPORT_NAME, with and without the zeroes', async () => {
      for (const flags of [1, 3]) {
        await same(async (s) => {
          await s.greeting(flags);
          await s.option(OPT.EXPORT_NAME, text(NAME));
          return [await s.bytes(flags === 1 ? 134 : 10)];
        });
      }
    });

    test('what QEMU hangs up on', async () => {
      for (const script of [
        async (s: RawSession) => [await s.greeting(8), await s.closedByServer()],
        async (s: RawSession) => [
          await s.greeting(FIXED_NO_ZEROES),
          await s.send(new Uint8Array(16)),
          await s.closedByServer(),
        ],
        async (s: RawSession) => [
          await s.greeting(FIXED_NO_ZEROES),
          await s.option(OPT.EXPORT_NAME, text('nope')),
          await s.closedByServer(),
        ],
        async (s: RawSession) => [
          await s.greeting(0), // not fixed newstyle: anything but EXPORT_NAME ends it
          await s.option(OPT.LIST),
          await s.closedByServer(),
        ],
      ]) {
        const record = await same(script);
        expect((record as unknown[]).at(-1)).toBe(true);
      }
    });
  });

  /** Negotiates structured replies, base:allocation + the bitmap, and enters transmission. */
  async function enter(s: RawSession, structured: boolean): Promise<unknown[]> {
    await s.greeting(FIXED_NO_ZEROES);
    const out: unknown[] = [];
    if (structured) {
      await s.option(OPT.STRUCTURED);
      out.push(await s.optionReplies());
      await s.option(OPT.SET_META, metaData(NAME, ['base:allocation', 'qemu:dirty-bitmap:b0']));
      out.push(await s.optionReplies());
    }
    await s.option(OPT.GO, infoData(NAME, []));
    out.push(await s.optionReplies());
    return out;
  }

  const pattern = (n: number, byte: number) => new Uint8Array(n).fill(byte);

  describe('transmission', () => {
    test('structured replies: reads, writes, zeroes, block status and their errors', async () => {
      // Each run writes the same data at the same places, so both servers end in the same state.
      const record = await same(async (s) => {
        const out = await enter(s, true);
        let cookie = 1;
        const step = async (
          type: number,
          flags: number,
          offset: number | bigint,
          length: number,
          payload?: Uint8Array,
          readLength = 0,
        ) => {
          await s.request(type, flags, cookie++, offset, length, payload);
          out.push(await s.reply(readLength));
        };
        await step(CMD.BLOCK_STATUS, 0, 0, SIZE);
        await step(CMD.WRITE, 0, 65536, 4096, pattern(4096, 0x11));
        await step(CMD.WRITE, 1, 3 * 65536 + 100, 70000, pattern(70000, 0x22));
        await step(CMD.WRITE_ZEROES, 0, 8 * 65536, 65536);
        await step(CMD.READ, 0, 0, 6 * 65536);
        await step(CMD.READ, 4, 65536, 8192); // DF: one data chunk
        await step(CMD.READ, 0, 0, 0);
        await step(CMD.BLOCK_STATUS, 0, 0, SIZE);
        await step(CMD.BLOCK_STATUS, 8, 65536, 10 * 65536); // REQ_ONE
        await step(CMD.BLOCK_STATUS, 0, 100, 1000);
        await step(CMD.BLOCK_STATUS, 0, 0, 0);
        await step(CMD.FLUSH, 0, 0, 0);
        await step(CMD.CACHE, 0, 0, 65536);
        await step(CMD.TRIM, 0, 0, 65536);
        await step(CMD.READ, 0, SIZE - 512, 1024);
        await step(CMD.READ, 0, BigInt(2) ** BigInt(63), 1);
        await step(CMD.WRITE, 0, SIZE, 512, pattern(512, 1));
        await step(CMD.WRITE_ZEROES, 0, SIZE - 4096, 8192);
        await step(CMD.TRIM, 0, SIZE, 1);
        await step(CMD.CACHE, 0, SIZE, 1);
        await step(CMD.READ, 16, 0, 512);
        await step(CMD.WRITE, 2, 0, 512, pattern(512, 3));
        await step(CMD.WRITE_ZEROES, 8, 0, 512);
        await step(CMD.BLOCK_STATUS, 2, 0, 512);
        await step(CMD.READ, 0, 0, 32 * 1024 * 1024 + 1);
        await step(42, 0, 0, 0);
        await s.request(CMD.DISC, 0, cookie++, 0, 0);
        out.push(await s.closedByServer());
        return out;
      }, true);
      expect(JSON.stringify(record)).toContain('operation past EOF');
    });

    test('simple replies when structured replies were not negotiated', async () => {
      await same(async (s) => {
        const out = await enter(s, false);
        let cookie = 100;
        const step = async (
          type: number,
          flags: number,
          offset: number,
          length: number,
          payload?: Uint8Array,
          readLength = 0,
        ) => {
          await s.request(type, flags, cookie++, offset, length, payload);
          out.push(await s.reply(readLength));
        };
        await step(CMD.WRITE, 0, 0, 16, pattern(16, 0x44));
        await step(CMD.READ, 0, 0, 32, undefined, 32);
        await step(CMD.READ, 4, 0, 32, undefined, 32); // DF is invalid without structured replies
        await step(CMD.READ, 0, SIZE, 1);
        await step(CMD.BLOCK_STATUS, 0, 0, 4096);
        await step(CMD.WRITE_ZEROES, 0, 0, 16);
        await step(CMD.READ, 0, 0, 32, undefined, 32);
        return out;
      }, true);
    });

    test('a request with the wrong magic is answered, then the connection is dropped', async () => {
      for (const structured of [false, true]) {
        const record = await same(async (s) => {
          const out = await enter(s, structured);
          await s.send(cat(u32(0x25609514), new Uint8Array(24).fill(1)));
          out.push(await s.reply());
          out.push(await s.closedByServer());
          return out;
        }, true);
        expect((record as unknown[]).at(-1)).toBe(true);
      }
    });

    test('a write too large to read is answered, then the connection is dropped', async () => {
      const record = await same(async (s) => {
        const out = await enter(s, true);
        await s.request(CMD.WRITE, 0, 7, 0, 32 * 1024 * 1024 + 1);
        out.push(await s.reply());
        out.push(await s.closedByServer());
        return out;
      }, true);
      expect((record as unknown[]).at(-1)).toBe(true);
    });
  });

  describe.runIf(build.version !== '7.2')('extended headers', () => {
    async function enterExtended(s: RawSession): Promise<unknown[]> {
      await s.greeting(FIXED_NO_ZEROES);
      const out: unknown[] = [];
      for (const [option, data] of [
        [OPT.EXTENDED, new Uint8Array(0)],
        [OPT.EXTENDED, new Uint8Array(0)],
        [OPT.STRUCTURED, new Uint8Array(0)],
        [OPT.EXTENDED, text('x')],
        [OPT.SET_META, metaData(NAME, ['base:allocation', 'qemu:dirty-bitmap:b0'])],
        [OPT.GO, infoData(NAME, [])],
      ] as Array<[number, Uint8Array]>) {
        await s.option(option, data);
        out.push(await s.optionReplies());
      }
      s.extended = true;
      return out;
    }

    test('NBD_OPT_INFO / GO flags with and without meta contexts', async () => {
      await same(async (s) => {
        await s.greeting(FIXED_NO_ZEROES);
        const out: unknown[] = [];
        for (const [option, data] of [
          [OPT.EXTENDED, new Uint8Array(0)],
          [OPT.INFO, infoData(NAME, [])],
          [OPT.SET_META, metaData(NAME, ['base:allocation'])],
          [OPT.INFO, infoData(NAME, [])],
        ] as Array<[number, Uint8Array]>) {
          await s.option(option, data);
          out.push(await s.optionReplies());
        }
        return out;
      });
    });

    test('negotiation, 64-bit requests and replies, block status payloads', async () => {
      const record = await same(async (s) => {
        const out = await enterExtended(s);
        let cookie = 1;
        const step = async (
          type: number,
          flags: number,
          offset: number | bigint,
          length: number | bigint,
          payload?: Uint8Array,
        ) => {
          await s.request(type, flags, cookie++, offset, length, payload);
          out.push(await s.reply());
        };
        const PAYLOAD = 32;
        await step(CMD.WRITE, 0, 65536, 4096, pattern(4096, 0x11));
        await step(CMD.WRITE, PAYLOAD, 3 * 65536 + 100, 70000, pattern(70000, 0x22));
        await step(CMD.READ, 0, 0, 6 * 65536);
        await step(CMD.READ, 4, 65536, 16);
        await step(CMD.READ, 0, 0, 0);
        await step(CMD.BLOCK_STATUS, 0, 0, SIZE);
        await step(CMD.BLOCK_STATUS, 8, 65536, 10 * 65536);
        await step(CMD.BLOCK_STATUS, 0, 0, 0);
        await step(CMD.BLOCK_STATUS, 0, 0, BigInt(2) ** BigInt(33));
        await step(
          CMD.BLOCK_STATUS,
          PAYLOAD,
          0,
          12,
          cat(new Uint8Array([0, 0, 0, 0, 0, 0, 16, 0]), u32(0)),
        );
        await step(
          CMD.BLOCK_STATUS,
          PAYLOAD,
          0,
          12,
          cat(new Uint8Array([0, 0, 0, 0, 0, 0, 16, 0]), u32(2)),
        );
        await step(CMD.BLOCK_STATUS, PAYLOAD, 0, 8, new Uint8Array(8));
        await step(
          CMD.BLOCK_STATUS,
          PAYLOAD,
          0,
          16,
          cat(new Uint8Array([0, 0, 0, 0, 0, 1, 0, 0]), u32(0), u32(0)),
        );
        await step(
          CMD.BLOCK_STATUS,
          PAYLOAD,
          0,
          12,
          cat(new Uint8Array([0, 0, 0, 0, 0, 1, 0, 0]), u32(9)),
        );
        await step(CMD.BLOCK_STATUS, PAYLOAD, 0, 6, new Uint8Array(6));
        await step(CMD.TRIM, PAYLOAD, 0, 4, new Uint8Array(4));
        await step(CMD.FLUSH, 0, 0, 0);
        await step(CMD.READ, 0, SIZE, 1);
        await step(CMD.WRITE_ZEROES, 0, 0, BigInt(2) ** BigInt(33));
        await step(CMD.READ, 0, 0, 32 * 1024 * 1024 + 1);
        await step(CMD.READ, 16, 0, 512);
        await step(42, 0, 0, 0);
        s.extended = false; // a compact request is not one any more
        await s.request(CMD.READ, 0, cookie++, 0, 16);
        await s.send(new Uint8Array(4)); // the 32 bytes of an extended header, wrong magic
        s.extended = true;
        out.push(await s.reply());
        out.push(await s.closedByServer());
        return out;
      }, true);
      expect(JSON.stringify(record)).toContain('"type":6');
    });
  });
});
