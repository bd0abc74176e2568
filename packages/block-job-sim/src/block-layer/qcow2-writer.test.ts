// The qcow2 writer's order on disk: whatever write a crash stops it at, every cluster the L1 and
// L2 tables name is counted in the refcounts (the corruption `qemu-img check` reports as
// "refcount=0 reference=1"), and an L2 entry names a cluster only once its data is there. Leaked
// clusters are allowed, as after QEMU's own crash. Host offsets and map/check output are checked
// against real QEMU in the conformance scenarios (qcow2-guest-data.ts).
import { expect, test } from 'vitest';
import { type ImageFile, Qcow2Refcounts } from '../bitmaps/qcow2-refcounts.js';
import { buildEmptyQcow2, readQcow2Header } from '../qcow2.js';
import { type ClusterWrite, Qcow2Writer } from './qcow2-writer.js';

const CS = 65536;
const SIZE = 1024 * 1024 * 1024;

class Crash extends Error {}

/** An empty image in memory whose `crashAt`-th write (0-based) throws before it lands. */
function image(crashAt: number): { file: ImageFile; writes: () => number } {
  const { writes, fileLength } = buildEmptyQcow2({ size: SIZE });
  let bytes = new Uint8Array(fileLength);
  for (const w of writes) bytes.set(w.data, w.offset);
  let count = 0;
  const file: ImageFile = {
    read: (offset, length) => {
      const out = new Uint8Array(length);
      out.set(bytes.subarray(offset, Math.min(bytes.byteLength, offset + length)));
      return out;
    },
    write: (offset, data) => {
      if (count++ === crashAt) throw new Crash();
      if (offset + data.byteLength > bytes.byteLength) {
        const grown = new Uint8Array(offset + data.byteLength);
        grown.set(bytes);
        bytes = grown;
      }
      bytes.set(data, offset);
    },
  };
  return { file, writes: () => count };
}

const fill = (value: number) => new Uint8Array(CS).fill(value);
const REQUESTS: ClusterWrite[][] = [
  [{ cluster: 16, data: fill(0x11) }],
  [
    { cluster: 0, data: fill(0x22) },
    { cluster: 1, data: fill(0x22) },
  ],
  [{ cluster: 9600, data: fill(0x33) }],
  [{ cluster: 0, zero: true, unmap: true }],
  [{ cluster: 80, data: fill(0x44) }],
  [{ cluster: 16, zero: true, unmap: false }],
];

function run(file: ImageFile): void {
  const writer = new Qcow2Writer(file, readQcow2Header(file.read));
  for (const r of REQUESTS) writer.write(r);
}

/** Every cluster the tables name: [host offset, the value its data must have, or undefined]. */
function named(file: ImageFile): Array<[number, number | undefined]> {
  const header = readQcow2Header(file.read);
  const out: Array<[number, number | undefined]> = [];
  const l1 = new DataView(file.read(header.l1TableOffset, header.l1Size * 8).buffer);
  for (let i = 0; i < header.l1Size; i++) {
    const l2Offset = Number(l1.getBigUint64(i * 8) & 0x00fffffffffffe00n);
    if (l2Offset === 0) continue;
    out.push([l2Offset, undefined]);
    const l2 = new DataView(file.read(l2Offset, CS).buffer);
    for (let j = 0; j < CS / 8; j++) {
      const entry = l2.getBigUint64(j * 8);
      const host = Number(entry & 0x00fffffffffffe00n);
      const written = REQUESTS.flat().find((w) => w.cluster === i * (CS / 8) + j && 'data' in w);
      if (host === 0) continue;
      const zero = (entry & 1n) !== 0n;
      out.push([
        host,
        !zero && written !== undefined && 'data' in written ? written.data[0] : undefined,
      ]);
    }
  }
  return out;
}

test('the writer allocates as QEMU does and frees what an unmapping zero write leaves', () => {
  const { file } = image(Number.POSITIVE_INFINITY);
  run(file);
  const writer = new Qcow2Writer(file, readQcow2Header(file.read));
  // Header, refcount table, refcount block, L1; then (as qemu-io 7.2 places them): L2 table,
  // cluster 16, clusters 0-1, a second L2 table and cluster 9600; cluster 0's freed host cluster
  // goes to cluster 80; cluster 16 stays allocated as a zero cluster.
  expect(writer.dataOffset(16)).toBeUndefined();
  expect(writer.entry(16) & 0x00fffffffffffe00n).toBe(BigInt(5 * CS));
  expect(writer.dataOffset(1)).toBe(7 * CS);
  expect(writer.dataOffset(9600)).toBe(9 * CS);
  expect(writer.entry(0)).toBe(1n);
  expect(writer.dataOffset(80)).toBe(6 * CS);
  const refcounts = new Qcow2Refcounts(file, readQcow2Header(file.read));
  expect([...Array(11).keys()].map((c) => refcounts.get(c))).toEqual([
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
  ]);
});

test('a crash at any write leaves every named cluster counted and holding its data', () => {
  const total = (() => {
    const whole = image(Number.POSITIVE_INFINITY);
    run(whole.file);
    return whole.writes();
  })();
  expect(total).toBeGreaterThan(10);
  for (let crashAt = 0; crashAt < total; crashAt++) {
    const { file } = image(crashAt);
    expect(() => run(file)).toThrow(Crash);
    const refcounts = new Qcow2Refcounts(file, readQcow2Header(file.read));
    for (const [host, value] of named(file)) {
      expect(refcounts.get(host / CS), `crash at write ${crashAt}: cluster at ${host}`).toBe(1);
      if (value !== undefined) {
        expect(file.read(host, 1)[0], `crash at write ${crashAt}: data at ${host}`).toBe(value);
      }
    }
  }
});
