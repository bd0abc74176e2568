// The cluster allocator against the qcow2 layout rules (docs/interop/qcow2.txt): a cluster is
// free at refcount 0, a refcount block covers cluster_size * 8 / refcount_bits clusters, and a
// new refcount block must itself be counted. The images come from buildEmptyQcow2 (checked
// against qemu-img in the conformance tests); the conformance scenarios persistent-bitmaps.ts
// check the images the simulator writes with qemu-img check and real QEMU.
import { expect, test } from 'vitest';
import { buildEmptyQcow2, readQcow2Header } from '../qcow2.js';
import { type ImageFile, Qcow2Refcounts } from './qcow2-refcounts.js';

function memoryImage(params: Parameters<typeof buildEmptyQcow2>[0]): ImageFile {
  const { writes, fileLength } = buildEmptyQcow2(params);
  let bytes = new Uint8Array(fileLength);
  for (const w of writes) bytes.set(w.data, w.offset);
  return {
    read: (offset, length) => {
      const out = new Uint8Array(length);
      out.set(bytes.subarray(offset, Math.min(bytes.byteLength, offset + length)));
      return out;
    },
    write: (offset, data) => {
      if (offset + data.byteLength > bytes.byteLength) {
        const grown = new Uint8Array(offset + data.byteLength);
        grown.set(bytes);
        bytes = grown;
      }
      bytes.set(data, offset);
    },
  };
}

const headerOf = (file: ImageFile) => readQcow2Header((o, l) => file.read(o, l));

test('allocates after the header, refcount table, refcount block and L1 table; reuses freed clusters', () => {
  const file = memoryImage({ size: 64 * 1024 * 1024 });
  const refcounts = new Qcow2Refcounts(file, headerOf(file));
  expect([0, 1, 2, 3, 4].map((c) => refcounts.get(c))).toEqual([1, 1, 1, 1, 0]);
  expect(refcounts.allocate(1)).toBe(4 * 65536);
  expect(refcounts.allocate(2 * 65536)).toBe(5 * 65536);
  refcounts.free(4 * 65536, 65536);
  expect(refcounts.allocate(65536)).toBe(4 * 65536);
  refcounts.flush();
  const reread = new Qcow2Refcounts(file, headerOf(file));
  expect([4, 5, 6, 7].map((c) => reread.get(c))).toEqual([1, 1, 1, 0]);
});

test('a cluster beyond the first refcount block gets a new block that counts itself', () => {
  // 512-byte clusters, 16-bit refcounts: one block covers 256 clusters.
  const file = memoryImage({ size: 1024 * 1024, clusterSize: 512 });
  const refcounts = new Qcow2Refcounts(file, headerOf(file));
  const used = [...Array(256).keys()].filter((c) => refcounts.get(c) === 1).length;
  for (let i = used; i < 256; i++) refcounts.allocate(512);
  expect(refcounts.allocate(512)).toBe(257 * 512);
  refcounts.flush();
  const reread = new Qcow2Refcounts(file, headerOf(file));
  expect([255, 256, 257, 258].map((c) => reread.get(c))).toEqual([1, 1, 1, 0]);
});
