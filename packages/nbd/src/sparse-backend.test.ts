import { describe, expect, test } from 'vitest';
import { NbdError } from './backend.js';
import { NBD_STATE_DIRTY, NBD_STATE_HOLE, NBD_STATE_ZERO } from './constants.js';
import { SparseMemoryBackend } from './sparse-backend.js';

const HOLE = NBD_STATE_HOLE | NBD_STATE_ZERO;
const base = { kind: 'base:allocation' } as const;
const zeroes = { fua: false, mayTrim: true, fastOnly: false };

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

describe('SparseMemoryBackend', () => {
  test('reads what was written and zeroes elsewhere', () => {
    const disk = new SparseMemoryBackend({ size: 1 << 20 });
    disk.write(4090, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    expect([...disk.read(4088, 14)]).toEqual([0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 0]);
    expect(disk.allocatedBytes).toBe(8192);
  });

  test('reports 4 KiB blocks as a raw file on ext4 does through QEMU', () => {
    const disk = new SparseMemoryBackend({ size: 1 << 20 });
    disk.write(5000, new Uint8Array(100).fill(1));
    expect(disk.blockStatus(base, 0, 1 << 20)).toEqual([
      { length: 4096, flags: HOLE },
      { length: 4096, flags: 0 },
      { length: (1 << 20) - 8192, flags: HOLE },
    ]);
    // Zeroing whole blocks leaves holes; a partial block keeps its allocation.
    disk.write(65536, new Uint8Array(8192).fill(2));
    disk.writeZeroes(65536, 4096 + 10, zeroes);
    expect(disk.blockStatus(base, 65536, 8192)).toEqual([
      { length: 4096, flags: HOLE },
      { length: 4096, flags: 0 },
    ]);
    expect([...disk.read(65536 + 4096, 12)]).toEqual([...new Array(10).fill(0), 2, 2]);
  });

  test('ignores trims by default, punches them with discard: unmap', () => {
    const ignoring = new SparseMemoryBackend({ size: 65536 });
    const unmapping = new SparseMemoryBackend({ size: 65536, discard: 'unmap' });
    for (const disk of [ignoring, unmapping]) {
      disk.write(0, new Uint8Array(8192).fill(3));
      disk.trim(0, 4096);
    }
    expect(ignoring.read(0, 1)[0]).toBe(3);
    expect(unmapping.read(0, 1)[0]).toBe(0);
    expect(unmapping.blockStatus(base, 0, 8192)).toEqual([
      { length: 4096, flags: HOLE },
      { length: 4096, flags: 0 },
    ]);
  });

  test('past its limit a write fails with ENOSPC and changes nothing', () => {
    const disk = new SparseMemoryBackend({ size: 1 << 20, maxBytes: 8192 });
    disk.write(0, new Uint8Array(8192).fill(1));
    // Rewriting allocated blocks needs no new memory.
    disk.write(0, new Uint8Array(8192).fill(2));
    let error: unknown;
    try {
      disk.write(8000, new Uint8Array(200).fill(3));
    } catch (e) {
      error = e;
    }
    expect(NbdError.isInstance(error) && error.errno).toBe('ENOSPC');
    expect((error as Error).message).toBe(
      'sparse memory backend full: 12288 bytes needed, the limit is 8192',
    );
    expect([...disk.read(8000, 4)]).toEqual([2, 2, 2, 2]);
    expect(disk.allocatedBytes).toBe(8192);
  });

  test('refuses writes when read-only and ranges outside the disk', () => {
    const disk = new SparseMemoryBackend({ size: 4096, writable: false });
    expect(() => disk.write(0, new Uint8Array(1))).toThrow(/read-only/);
    expect(() => disk.read(4000, 100)).toThrow(/outside/);
  });

  test('answers block status on a huge, mostly empty disk without walking it', () => {
    const size = 2 ** 40; // 1 TiB
    const disk = new SparseMemoryBackend({ size });
    disk.write(2 ** 39, new Uint8Array(10).fill(1));
    expect(disk.blockStatus(base, 0, size)).toEqual([
      { length: 2 ** 39, flags: HOLE },
      { length: 4096, flags: 0 },
      { length: 2 ** 39 - 4096, flags: HOLE },
    ]);
  });

  test('dirty bitmaps: marked by writes and zero writes at their granularity, enabled or not', () => {
    const disk = new SparseMemoryBackend({
      size: 1 << 20,
      bitmaps: [{ name: 'a' }, { name: 'b', granularity: 4096, enabled: false }],
    });
    disk.write(70000, new Uint8Array(1));
    disk.writeZeroes(200000, 1, zeroes);
    const a = { kind: 'qemu:dirty-bitmap', bitmap: 'a' } as const;
    const b = { kind: 'qemu:dirty-bitmap', bitmap: 'b' } as const;
    expect(disk.blockStatus(a, 0, 262144)).toEqual([
      { length: 65536, flags: 0 },
      { length: 65536, flags: NBD_STATE_DIRTY },
      { length: 65536, flags: 0 },
      { length: 65536, flags: NBD_STATE_DIRTY },
    ]);
    expect(disk.blockStatus(b, 0, 262144)).toEqual([{ length: 262144, flags: 0 }]);
    disk.setBitmapEnabled('b', true);
    disk.write(5000, new Uint8Array(1));
    expect(disk.blockStatus(b, 4000, 10000)).toEqual([
      { length: 96, flags: 0 },
      { length: 4096, flags: NBD_STATE_DIRTY },
      { length: 5808, flags: 0 },
    ]);
    disk.clearBitmap('a');
    expect(disk.blockStatus(a, 0, 1 << 20)).toEqual([{ length: 1 << 20, flags: 0 }]);
    expect(disk.bitmaps).toEqual(['a', 'b']);
  });

  test('dirty bitmaps: long clean and dirty runs come out as single extents', () => {
    const g = 65536;
    const disk = new SparseMemoryBackend({
      size: 1024 * g,
      bitmaps: [{ name: 'a', granularity: g }],
    });
    disk.write(7 * g, new Uint8Array(1)); // bit 7
    disk.writeZeroes(8 * g, 8 * g, zeroes); // bits 8..15: a whole byte
    disk.write(100 * g + 5, new Uint8Array(2)); // bit 100
    const a = { kind: 'qemu:dirty-bitmap', bitmap: 'a' } as const;
    expect(disk.blockStatus(a, 3 * g + 1, 1000 * g)).toEqual([
      { length: 4 * g - 1, flags: 0 },
      { length: 9 * g, flags: NBD_STATE_DIRTY },
      { length: 84 * g, flags: 0 },
      { length: g, flags: NBD_STATE_DIRTY },
      { length: 1003 * g + 1 - 101 * g, flags: 0 },
    ]);
  });

  test('pages that fill up hold their data in one array: same bytes, holes and limits as block by block', () => {
    // A reference model of the semantics (bytes, and which 4 KiB blocks hold data) against the
    // backend under random writes, zero writes and punches across dense and sparse pages.
    const size = 6 << 20;
    const bs = 4096;
    const disk = new SparseMemoryBackend({ size, discard: 'unmap', maxBytes: 5 << 20 });
    const bytes = new Uint8Array(size);
    const held = new Uint8Array(size / bs);
    let seed = 12345;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return Math.floor((seed / 2 ** 31) * n);
    };
    for (let step = 0; step < 400; step++) {
      const long = random(4) === 0;
      const offset = random(size - 1);
      const length = Math.min(size - offset, 1 + random(long ? 1 << 20 : 3 * bs));
      const first = Math.floor(offset / bs);
      const last = Math.floor((offset + length - 1) / bs);
      const kind = random(3);
      if (kind === 0) {
        const data = new Uint8Array(length).fill(1 + random(255));
        let fresh = 0;
        for (let b = first; b <= last; b++) fresh += held[b] === 0 ? 1 : 0;
        let heldBytes = 0;
        for (const h of held) heldBytes += h * bs;
        if (heldBytes + fresh * bs > 5 << 20) {
          expect(() => disk.write(offset, data)).toThrow(/full/);
          continue;
        }
        disk.write(offset, data);
        bytes.set(data, offset);
        held.fill(1, first, last + 1);
      } else {
        if (kind === 1) disk.writeZeroes(offset, length, zeroes);
        else disk.trim(offset, length);
        bytes.fill(0, offset, offset + length);
        // Whole blocks become holes; partial ones keep their allocation.
        for (let b = first; b <= last; b++) {
          if (b * bs >= offset && (b + 1) * bs <= offset + length) held[b] = 0;
        }
      }
      if (step % 40 === 39 || step === 399) {
        // (toEqual on megabytes of bytes is far too slow: the first difference is compared.)
        expect(firstDifference(disk.read(0, size), bytes)).toBe(-1);
        const at = random(size - 1);
        const n = 1 + random(size - at - 1);
        expect(firstDifference(disk.read(at, n), bytes.subarray(at, at + n))).toBe(-1);
        const expected: Array<{ length: number; flags: number }> = [];
        for (let b = 0; b < size / bs; b++) {
          const flags = held[b] === 1 ? 0 : HOLE;
          const previous = expected[expected.length - 1];
          if (previous !== undefined && previous.flags === flags) previous.length += bs;
          else expected.push({ length: bs, flags });
        }
        expect(disk.blockStatus(base, 0, size)).toEqual(expected);
        let heldBytes = 0;
        for (const h of held) heldBytes += h * bs;
        expect(disk.allocatedBytes).toBe(heldBytes);
      }
    }
  });
});
