import { describe, expect, test } from 'vitest';
import {
  buildEmptyQcow2,
  changeQcow2BackingFile,
  Qcow2AllocationMap,
  Qcow2FormatError,
  readQcow2AllocationMap,
  readQcow2Header,
} from './qcow2.js';

// Layout facts from QEMU's docs/interop/qcow2.txt; images built by buildEmptyQcow2 are checked
// with `qemu-img check` and compared with QEMU's own in the conformance test.

function image(params: Parameters<typeof buildEmptyQcow2>[0], extra = 0): Uint8Array {
  const { writes, fileLength } = buildEmptyQcow2(params);
  const bytes = new Uint8Array(fileLength + extra);
  for (const w of writes) bytes.set(w.data, w.offset);
  return bytes;
}

const reader = (bytes: Uint8Array) => (offset: number, length: number) => {
  const out = new Uint8Array(length);
  out.set(bytes.subarray(offset, Math.min(bytes.byteLength, offset + length)));
  return out;
};

describe('qcow2 headers', () => {
  // docs/interop/qcow2.txt: the backing file name sits where backing_file_offset (bytes 8-15)
  // points, backing_file_size (16-19) long; the format in extension 0xe2792aca. The image as
  // QEMU then reads it is checked by the conformance scenarios (qemu-img info).
  test('a changed backing file replaces the name and format, or removes both', () => {
    const bytes = image({ size: 67108864, backingFile: 'mid.qcow2', backingFormat: 'qcow2' });
    const file = {
      read: reader(bytes),
      write: (offset: number, data: Uint8Array) => bytes.set(data, offset),
    };
    changeQcow2BackingFile(file, 'base.raw', 'raw');
    const changed = readQcow2Header(reader(bytes));
    expect(changed).toMatchObject({
      backingFile: 'base.raw',
      backingFormat: 'raw',
      size: 67108864,
    });
    // The feature table is kept.
    expect(changed.extensions.map((e) => e.type)).toEqual([0xe2792aca, 0x6803f857]);
    changeQcow2BackingFile(file, undefined, 'qcow2');
    const none = readQcow2Header(reader(bytes));
    expect(none).toMatchObject({ backingFile: undefined, backingFormat: undefined });
    expect(none.extensions.map((e) => e.type)).toEqual([0x6803f857]);
    expect(new DataView(bytes.buffer).getBigUint64(8)).toBe(0n);
  });

  test('v3 by default, with backing file and format', () => {
    const header = readQcow2Header(
      reader(image({ size: 67108864, backingFile: 'base.qcow2', backingFormat: 'qcow2' })),
    );
    expect(header).toMatchObject({
      version: 3,
      clusterSize: 65536,
      size: 67108864,
      l1Size: 1,
      refcountOrder: 4,
      headerLength: 112,
      compressionType: 'zlib',
      backingFile: 'base.qcow2',
      backingFormat: 'qcow2',
    });
  });

  test('v2, small clusters, lazy refcounts, 1-bit refcounts', () => {
    expect(readQcow2Header(reader(image({ size: 1048576, version: 2 })))).toMatchObject({
      version: 2,
      headerLength: 72,
      backingFile: undefined,
    });
    const v3 = readQcow2Header(
      reader(image({ size: 3 * 1048576, clusterSize: 4096, lazyRefcounts: true, refcountBits: 1 })),
    );
    expect(v3).toMatchObject({ clusterSize: 4096, refcountOrder: 0, compatibleFeatures: 1n });
    // 4 KiB clusters: one L2 table covers 512 clusters (2 MiB), so 3 MiB needs two L1 entries.
    expect(v3.l1Size).toBe(2);
  });

  test("QEMU's refusals", () => {
    expect(() => readQcow2Header(reader(new Uint8Array(1024)))).toThrow(
      new Qcow2FormatError('Image is not in qcow2 format'),
    );
    const v4 = image({ size: 1048576 });
    new DataView(v4.buffer).setUint32(4, 4);
    expect(() => readQcow2Header(reader(v4))).toThrow('Unsupported qcow2 version 4');
  });
});

describe('qcow2 allocation', () => {
  test('data, zero and compressed clusters are held by the image; unallocated ones are not', () => {
    const clusterSize = 65536;
    const bytes = image({ size: 64 * 1048576 }, 2 * clusterSize);
    const view = new DataView(bytes.buffer);
    const l2 = 4 * clusterSize;
    view.setBigUint64(3 * clusterSize, BigInt(l2) | (1n << 63n)); // L1[0] → L2 table
    view.setBigUint64(l2 + 0 * 8, BigInt(5 * clusterSize) | (1n << 63n)); // data
    view.setBigUint64(l2 + 1 * 8, 1n); // zero cluster, no data
    view.setBigUint64(l2 + 7 * 8, (1n << 62n) | 12345n); // compressed
    const header = readQcow2Header(reader(bytes));
    const map = readQcow2AllocationMap(reader(bytes), header);
    expect(map.extents()).toEqual([
      { offset: 0, length: 2 * clusterSize },
      { offset: 7 * clusterSize, length: clusterSize },
    ]);
    expect(map.allocatedBytes()).toBe(3 * clusterSize);
    expect(map.allocatedBytes(65536 + 4096, 65536)).toBe(65536 - 4096);
    expect(map.isClusterAllocated(6)).toBe(false);
  });

  test('runs merge in any order, and a huge virtual size costs nothing', () => {
    const map = new Qcow2AllocationMap(512, 2 ** 60);
    for (const c of [10, 12, 11, 2 ** 40, 9]) map.setCluster(c);
    expect(map.extents()).toEqual([
      { offset: 9 * 512, length: 4 * 512 },
      { offset: 2 ** 40 * 512, length: 512 },
    ]);
    // The last cluster is cut at the end of the disk.
    const small = new Qcow2AllocationMap(65536, 65536 + 1000);
    small.setCluster(1);
    expect(small.extents()).toEqual([{ offset: 65536, length: 1000 }]);
  });

  test('crafted L1 tables: L2 tables beyond the file are skipped, a shared one is read once', () => {
    const clusterSize = 65536;
    const bytes = image({ size: 4 * 1024 * 1048576 }, clusterSize);
    const view = new DataView(bytes.buffer);
    const l2 = 4 * clusterSize;
    view.setBigUint64(3 * clusterSize, BigInt(l2));
    view.setBigUint64(3 * clusterSize + 8, BigInt(l2));
    view.setBigUint64(3 * clusterSize + 16, 1n << 40n);
    view.setBigUint64(l2, BigInt(l2) | (1n << 63n));
    let reads = 0;
    const read = (offset: number, length: number) => {
      reads++;
      return reader(bytes)(offset, length);
    };
    const header = readQcow2Header(reader(bytes));
    const map = readQcow2AllocationMap(read, header, bytes.byteLength);
    expect(map.extents()).toEqual([{ offset: 0, length: clusterSize }]);
    expect(reads).toBe(2); // the L1 table and one L2 table
  });
});
