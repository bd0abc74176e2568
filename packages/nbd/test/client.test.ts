// Our client against qemu-nbd (the oracle) and against our server: the same calls must give the
// same answers. Also the README's example, run as written (but in a temporary directory).

import { join } from 'node:path';
import { HANG_GUARD_MS } from '@qmpkit/test-support';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { NbdError, NbdOptionError, SparseMemoryBackend } from '../src/index.js';
import { connectNbd, listNbdExports, NbdServer, queryNbdExport } from '../src/node/index.js';
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

// Each test runs real QEMU tools; the machine may be busy.
vi.setConfig({ testTimeout: 2 * HANG_GUARD_MS, hookTimeout: 2 * HANG_GUARD_MS });

const builds = qemuBuilds();

const SIZE = 32 * 1024 * 1024;
let dir: string | undefined;
const endpoints: Endpoint[] = [];

beforeEach(async () => {
  dir = await tempDir('qmpkit-nbd-client-');
});

afterEach(async () => {
  await Promise.all(endpoints.splice(0).map((e) => e.stop()));
  await removeDir(dir);
  dir = undefined;
});

async function bothServers(): Promise<Endpoint[]> {
  const image = join(dir!, 'disk.raw');
  expect((await run('truncate', ['-s', String(SIZE), image])).code).toBe(0);
  const qemu = await startQemuNbd(dir!, image, ['-f', 'raw', '-x', 'disk', '-D', 'the disk']);
  endpoints.push(qemu);
  const ours = await startOurs(dir!, new SparseMemoryBackend({ size: SIZE }), {
    exportName: 'disk',
    description: 'the disk',
    maxConnections: 1,
  });
  endpoints.push(ours);
  return [qemu, ours];
}

/** Everything the client can do, recorded. */
async function exercise(socket: string): Promise<unknown[]> {
  const out: unknown[] = [];
  out.push(await listNbdExports({ path: socket }));
  out.push(await queryNbdExport({ path: socket }, 'disk'));
  const error = await queryNbdExport({ path: socket }, 'nope').catch((e: unknown) => e);
  out.push(error instanceof NbdOptionError ? [error.replyType, error.message] : error);
  const client = await connectNbd(
    { path: socket },
    { exportName: 'disk', metaContexts: ['base:allocation'] },
  );
  try {
    out.push(client.info, [...client.metaContexts]);
    const writes = [
      client.write(0, new Uint8Array(5000).fill(7), { fua: true }),
      client.write(1024 * 1024, new Uint8Array(70000).fill(9)),
      client.writeZeroes(2 * 1024 * 1024, 65536, { noHole: true }),
    ];
    await Promise.all(writes);
    await client.flush();
    await client.trim(1024 * 1024, 4096);
    const data = await client.read(0, 8192);
    out.push(
      Buffer.from(data)
        .toString('hex')
        .replace(/(.)\1+/g, (m, c) => `${c}*${m.length}`),
    );
    out.push(
      Buffer.from(await client.read(1024 * 1024 - 10, 20, { dontFragment: true })).toString('hex'),
    );
    out.push([...(await client.blockStatus(0, SIZE))]);
    out.push([...(await client.blockStatus(0, SIZE, { reqOne: true }))]);
    const pastEnd = await client.read(SIZE, 512).catch((e: unknown) => e);
    out.push(NbdError.isInstance(pastEnd) ? [pastEnd.errno, pastEnd.message] : pastEnd);
  } finally {
    await client.disconnect();
  }
  return out;
}

describe.each(builds.map((b) => [b.version, b] as const))('QEMU %s', (_version, build) => {
  beforeEach(() => useQemu(build));

  describe('the client', () => {
    test('gets the same answers from qemu-nbd and from our server', async () => {
      const [qemu, ours] = await bothServers();
      const expected = await exercise(qemu!.socket);
      const actual = await exercise(ours!.socket);
      expect(actual).toEqual(expected);
      expect(JSON.stringify(expected)).toContain('the disk');
      expect(JSON.stringify(expected)).toContain('operation past EOF');
    });

    test('simple replies (no structured replies negotiated) read the same', async () => {
      const [qemu, ours] = await bothServers();
      const results: unknown[] = [];
      for (const endpoint of [qemu!, ours!]) {
        const client = await connectNbd(
          { path: endpoint.socket },
          { exportName: 'disk', structuredReplies: false },
        );
        await client.write(100, new Uint8Array([1, 2, 3]));
        const data = await client.read(98, 8);
        const error = await client.read(SIZE - 1, 2).catch((e: unknown) => e);
        const status = await client.blockStatus(0, 4096).catch((e: unknown) => e);
        await client.disconnect();
        results.push([
          client.info,
          [...data],
          (error as NbdError).errno,
          (status as NbdError).errno,
        ]);
      }
      expect(results[1]).toEqual(results[0]);
    });
  });
});
describe('the README example', () => {
  test('does what the README says', async () => {
    const path = join(dir!, 'disk.sock');
    const disk = new SparseMemoryBackend({
      size: 1024 ** 3,
      maxBytes: 256 * 1024 ** 2,
      bitmaps: [{ name: 'b0', granularity: 65536 }],
    });
    const server = await NbdServer.listen({ path });
    try {
      server.addExport({ name: 'disk', backend: disk });
      expect(server.uri('disk')).toBe(`nbd+unix:///disk?socket=${path}`);
      const client = await connectNbd(
        { path },
        { exportName: 'disk', metaContexts: ['base:allocation', 'qemu:dirty-bitmap:b0'] },
      );
      await client.write(0, new Uint8Array(4096).fill(0xab), { fua: true });
      const bytes = await client.read(0, 8192);
      expect(bytes.subarray(0, 4096).every((b) => b === 0xab)).toBe(true);
      expect(bytes.subarray(4096).every((b) => b === 0)).toBe(true);
      const status = await client.blockStatus(0, 1024 ** 2);
      expect(status.get('base:allocation')).toEqual([
        { length: 4096, flags: 0 },
        { length: 1044480, flags: 3 },
      ]);
      expect(status.get('qemu:dirty-bitmap:b0')).toEqual([
        { length: 65536, flags: 1 },
        { length: 983040, flags: 0 },
      ]);
      await client.disconnect();
    } finally {
      await server.close();
    }
  });
});
