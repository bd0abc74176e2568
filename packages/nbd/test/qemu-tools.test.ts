// The real tools against qemu-nbd serving a file and against our server serving a sparse
// backend with the same content: every output must be identical once the socket path is
// replaced. qemu-nbd is the oracle; nothing here is copied from our own output.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HANG_GUARD_MS } from '@qmpkit/test-support';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { type NbdBackend, NbdError, SparseMemoryBackend } from '../src/index.js';
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

// Each test runs real QEMU tools; the machine may be busy.
vi.setConfig({ testTimeout: 2 * HANG_GUARD_MS, hookTimeout: 2 * HANG_GUARD_MS });

const builds = qemuBuilds();

const SIZE = 64 * 1024 * 1024;

let dir: string | undefined;
const endpoints: Endpoint[] = [];

beforeEach(async () => {
  dir = await tempDir('qmpkit-nbd-tools-');
});

afterEach(async () => {
  await Promise.all(endpoints.splice(0).map((e) => e.stop()));
  await removeDir(dir);
  dir = undefined;
});

async function rawImage(name: string, size = SIZE): Promise<string> {
  const path = join(dir!, name);
  await writeFile(path, '');
  const result = await run('truncate', ['-s', String(size), path]);
  expect(result.code).toBe(0);
  return path;
}

async function pair(
  qemuArgs: readonly string[],
  backend: NbdBackend,
  image?: string,
): Promise<[Endpoint, Endpoint]> {
  const qemu = await startQemuNbd(dir!, image ?? (await rawImage('disk.raw')), qemuArgs);
  endpoints.push(qemu);
  const ours = await startOurs(dir!, backend, { maxConnections: 1 });
  endpoints.push(ours);
  return [qemu, ours];
}

/** Runs a tool against both endpoints (`uri` stands for the endpoint's URI) and returns both outputs. */
async function both(endpointsPair: [Endpoint, Endpoint], command: string, args: readonly string[]) {
  const out: string[] = [];
  for (const endpoint of endpointsPair) {
    const result = await run(
      command,
      args.map((a) => (a === 'uri' ? endpoint.uri() : a)),
    );
    out.push(
      `exit ${result.code}\n${normalize(result.stdout, endpoint)}\n--stderr--\n${normalize(result.stderr, endpoint)}`,
    );
  }
  return { qemu: out[0]!, ours: out[1]! };
}

const WRITES = [
  'write -P 0xab 0 1M',
  'write -z 4194304 64k',
  'write -P 1 8388608 128k',
  'write -z 8388608 64k',
  'write -P 2 12582912 128k',
  'write -z -u 12582912 64k',
  'write -P 3 16777216 8k',
  'write -z 16777728 1024',
  'write -P 4 20971520 8k',
  'discard 20972032 5k',
  'write -P 5 25165824 64k',
  'discard 25165824 32k',
  'write -P 6 29360128 100',
  'write -P 7 31461280 200',
  'write -z 33554432 1000',
  'write -z 33558528 10000',
  'write -f -P 8 40000000 3000',
  'flush',
];
const READS = [
  'read -P 0xab 0 1M',
  'read -P 0 16777728 1024',
  'read -P 3 16777216 512',
  'read -P 5 25165824 64k',
  'read -P 7 31461280 200',
  'read -P 9 0 512', // a failing verification: qemu-io's message must match too
  'read -P 0 60000000 4096',
];

function qemuIo(commands: readonly string[]): string[] {
  return ['-f', 'raw', ...commands.flatMap((c) => ['-c', c]), 'uri'];
}

describe.each(builds.map((b) => [b.version, b] as const))('QEMU %s', (_version, build) => {
  beforeEach(() => useQemu(build));

  describe('a writable export', () => {
    test('qemu-io writes and reads, then nbdinfo, qemu-img map / info / compare / convert agree', async () => {
      const endpoints2 = await pair(['-f', 'raw'], new SparseMemoryBackend({ size: SIZE }));
      const steps: Array<[string, string[]]> = [
        ['nbdinfo', ['uri']],
        ['qemu-io', qemuIo(WRITES)],
        ['qemu-io', qemuIo(READS)],
        ['nbdinfo', ['--map', 'uri']],
        ['nbdinfo', ['--map', '--totals', 'uri']],
        ['nbdinfo', ['--list', 'uri']],
        ['nbdinfo', ['--size', 'uri']],
        ['nbdinfo', ['--can', 'trim', 'uri']],
        ['qemu-img', ['map', '-f', 'raw', 'uri']],
        ['qemu-img', ['map', '--output=json', '-f', 'raw', 'uri']],
        ['qemu-img', ['info', '-f', 'raw', 'uri']],
      ];
      for (const [command, args] of steps) {
        const { qemu, ours } = await both(endpoints2, command, args);
        expect(ours, `${command} ${args.join(' ')}`).toBe(qemu);
      }
      // The two exports hold the same bytes…
      const compare = await run('qemu-img', [
        'compare',
        '-f',
        'raw',
        '-F',
        'raw',
        endpoints2[0].uri(),
        endpoints2[1].uri(),
      ]);
      expect(compare.stdout).toBe('Images are identical.\n');
      expect(compare.code).toBe(0);
      // …and a sparse copy of each is the same file, with the same map.
      const copies: string[] = [];
      for (const [i, endpoint] of endpoints2.entries()) {
        const target = join(dir!, `copy-${i}.qcow2`);
        const converted = await run('qemu-img', [
          'convert',
          '-f',
          'raw',
          '-O',
          'qcow2',
          endpoint.uri(),
          target,
        ]);
        expect(converted.code, converted.stderr).toBe(0);
        copies.push((await run('qemu-img', ['map', '--output=json', target])).stdout);
      }
      expect(copies[1]).toBe(copies[0]);
      expect(copies[0]).toContain('"data": true');
    });

    test('requests past the end fail the same way', async () => {
      const endpoints2 = await pair(['-f', 'raw'], new SparseMemoryBackend({ size: SIZE }));
      for (const commands of [
        ['write -P 1 67108352 1024'],
        ['read 67108864 512'],
        ['write -z 67100000 100000'],
        ['discard 67108000 4096'],
      ]) {
        const { qemu, ours } = await both(endpoints2, 'qemu-io', qemuIo(commands));
        expect(ours, commands.join(';')).toBe(qemu);
      }
    });
  });

  describe('a read-only export', () => {
    test('advertises the same flags and refuses writes alike', async () => {
      const image = await rawImage('ro.raw');
      const seeded = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x5a 4096 12k', image]);
      expect(seeded.code).toBe(0);
      const backend = new SparseMemoryBackend({ size: SIZE });
      backend.write(4096, new Uint8Array(12 * 1024).fill(0x5a));
      const endpoints2 = await pair(['-f', 'raw', '-r'], readOnlyView(backend), image);
      for (const [command, args] of [
        ['nbdinfo', ['uri']],
        ['nbdinfo', ['--map', 'uri']],
        ['qemu-io', ['-f', 'raw', '-r', '-c', 'read -P 0x5a 4096 12k', 'uri']],
        ['qemu-io', ['-f', 'raw', '-c', 'write 0 4k', 'uri']],
        ['qemu-img', ['map', '--output=json', '-f', 'raw', 'uri']],
      ] as Array<[string, string[]]>) {
        const { qemu, ours } = await both(endpoints2, command, args);
        expect(ours, `${command} ${args.join(' ')}`).toBe(qemu);
      }
    });
  });

  /** A read-only view of a backend (the content stays the source's). */
  function readOnlyView(source: SparseMemoryBackend): NbdBackend {
    const refuse = () => {
      throw new NbdError('EPERM', 'read-only');
    };
    return {
      size: source.size,
      writable: false,
      read: (offset, length) => source.read(offset, length),
      blockStatus: (context, offset, length) => source.blockStatus(context, offset, length),
      write: refuse,
      writeZeroes: refuse,
      trim: refuse,
      flush: () => undefined,
    };
  }

  describe('meta contexts', () => {
    test('qemu:dirty-bitmap marks what qemu-io wrote, as a qcow2 persistent bitmap does', async () => {
      const image = join(dir!, 'bitmap.qcow2');
      expect(
        (await run('qemu-img', ['create', '-q', '-f', 'qcow2', image, String(SIZE)])).code,
      ).toBe(0);
      expect((await run('qemu-img', ['bitmap', '--add', image, 'b0'])).code).toBe(0);
      const backend = new SparseMemoryBackend({
        size: SIZE,
        bitmaps: [{ name: 'b0', granularity: 65536 }],
      });
      const endpoints2 = await pair(['-f', 'qcow2', '-B', 'b0'], backend, image);
      const qcowIo = (commands: string[]) => [
        '-f',
        'raw',
        ...commands.flatMap((c) => ['-c', c]),
        'uri',
      ];
      for (const [command, args] of [
        [
          'qemu-io',
          qcowIo([
            'write -P 1 0 4k',
            'write -P 2 1000000 70000',
            'write -z 5000000 1',
            'discard 9000000 64k',
          ]),
        ],
        ['nbdinfo', ['--map=qemu:dirty-bitmap:b0', 'uri']],
        ['nbdinfo', ['--map=qemu:dirty-bitmap:b0', '--totals', 'uri']],
        ['qemu-img', ['map', '--output=json', '--image-opts', 'IMAGE-OPTS']],
      ] as Array<[string, string[]]>) {
        const out: string[] = [];
        for (const endpoint of endpoints2) {
          const realArgs = args.map((a) =>
            a === 'uri'
              ? endpoint.uri()
              : a === 'IMAGE-OPTS'
                ? `driver=nbd,server.type=unix,server.path=${endpoint.socket},x-dirty-bitmap=qemu:dirty-bitmap:b0`
                : a,
          );
          const result = await run(command, realArgs);
          out.push(
            `exit ${result.code}\n${normalize(result.stdout, endpoint)}\n${normalize(result.stderr, endpoint)}`,
          );
        }
        expect(out[1], `${command} ${args.join(' ')}`).toBe(out[0]);
      }
    });

    test('qemu:allocation-depth and the context list', async () => {
      const backend = new SparseMemoryBackend({ size: SIZE, allocationDepth: true });
      const endpoints2 = await pair(['-f', 'raw', '-A'], backend);
      for (const [command, args] of [
        ['qemu-io', qemuIo(['write -P 1 0 4k', 'write -P 2 1000000 70000'])],
        ['nbdinfo', ['--map=qemu:allocation-depth', 'uri']],
        ['nbdinfo', ['--map=base:allocation', 'uri']],
        ['nbdinfo', ['uri']],
      ] as Array<[string, string[]]>) {
        const { qemu, ours } = await both(endpoints2, command, args);
        expect(ours, `${command} ${args.join(' ')}`).toBe(qemu);
      }
    });
  });
});
