// Random writes, zero writes and discards through qemu-io, sent to qemu-nbd serving a raw file
// and to our server serving a sparse backend: afterwards both must hold the same bytes
// (`qemu-img compare`) and report the same map (`nbdinfo --map`). fast-check prints the seed
// and the shrunk operation list of any difference.

import { join } from 'node:path';
import { HANG_GUARD_MS } from '@qmpkit/test-support';
import fc from 'fast-check';
import { beforeEach, describe, expect, test } from 'vitest';
import { SparseMemoryBackend } from '../src/index.js';
import {
  type Endpoint,
  normalize,
  qemuBuilds,
  removeDir,
  run,
  startOurs,
  startQemuNbd,
  tempDir,
  useQemu,
} from './harness.js';

const builds = qemuBuilds();

const SIZE = 8 * 1024 * 1024;

const offsetArb = fc.oneof(
  fc.integer({ min: 0, max: SIZE / 4096 - 1 }).map((n) => n * 4096),
  fc.integer({ min: 0, max: SIZE - 1 }),
);
const lengthArb = fc.oneof(
  fc.integer({ min: 1, max: 32 }).map((n) => n * 4096),
  fc.integer({ min: 1, max: 200_000 }),
);
const opArb = fc
  .record({
    kind: fc.constantFrom('write', 'write', 'zero', 'zero-unmap', 'discard'),
    offset: offsetArb,
    length: lengthArb,
    pattern: fc.integer({ min: 1, max: 255 }),
  })
  .map((op) => ({ ...op, length: Math.min(op.length, SIZE - op.offset) }));

function command(op: { kind: string; offset: number; length: number; pattern: number }): string {
  switch (op.kind) {
    case 'write':
      return `write -P ${op.pattern} ${op.offset} ${op.length}`;
    case 'zero':
      return `write -z ${op.offset} ${op.length}`;
    case 'zero-unmap':
      return `write -z -u ${op.offset} ${op.length}`;
    default:
      return `discard ${op.offset} ${op.length}`;
  }
}

describe.each(builds.map((b) => [b.version, b] as const))('QEMU %s', (_version, build) => {
  beforeEach(() => useQemu(build));

  test(
    'random qemu-io writes leave the same bytes and the same map on both servers',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 12 }), async (ops) => {
          const dir = await tempDir('qmpkit-nbd-random-');
          const endpoints: Endpoint[] = [];
          try {
            const image = join(dir, 'disk.raw');
            expect((await run('truncate', ['-s', String(SIZE), image])).code).toBe(0);
            endpoints.push(await startQemuNbd(dir, image, ['-f', 'raw']));
            endpoints.push(
              await startOurs(dir, new SparseMemoryBackend({ size: SIZE }), { maxConnections: 1 }),
            );
            const outputs: string[] = [];
            for (const endpoint of endpoints) {
              const io = await run('qemu-io', [
                '-f',
                'raw',
                ...ops.flatMap((op) => ['-c', command(op)]),
                endpoint.uri(),
              ]);
              const map = await run('nbdinfo', ['--map', endpoint.uri()]);
              outputs.push(
                `${io.code}\n${normalize(io.stdout, endpoint)}${io.stderr}\n${map.stdout}`,
              );
            }
            expect(outputs[1]).toBe(outputs[0]);
            const compare = await run('qemu-img', [
              'compare',
              '-f',
              'raw',
              '-F',
              'raw',
              endpoints[0]!.uri(),
              endpoints[1]!.uri(),
            ]);
            expect(compare.stdout).toBe('Images are identical.\n');
          } finally {
            await Promise.all(endpoints.map((e) => e.stop()));
            await removeDir(dir);
          }
        }),
        { numRuns: Number(process.env.NBD_RANDOM_RUNS ?? 8) },
      );
    },
    3 * HANG_GUARD_MS,
  );
});
