// What the nodes hold, by QEMU's rules: a qcow2 overlay reads what it does not hold from its
// backing, a write into part of a cluster copies the rest of the cluster from there first
// (qcow2's copy-on-write) and leaves the backing as it was, and after a stream the top holds
// everything itself. The conformance scenarios (guest-data.ts) check raw files through real
// qemu-io / qemu-img against qemu-storage-daemon.
import { expect, test } from 'vitest';
import { MiB, Scenario } from '../jobs/scenario.test-helper.js';
import { buildEmptyQcow2 } from '../qcow2.js';

const SIZE = 4 * MiB;
const guest = { guest: true, epoch: 0 };

function overlayOnRawBase(s: Scenario): void {
  s.store.create('/base.img', SIZE);
  s.store.write('/base.img', 0, new Uint8Array(MiB).fill(0x11));
  const { writes, fileLength } = buildEmptyQcow2({ size: SIZE });
  const image = new Uint8Array(fileLength);
  for (const w of writes) image.set(w.data, w.offset);
  s.store.put('/top.qcow2', image);
  s.add({ driver: 'raw', 'node-name': 'base', file: { driver: 'file', filename: '/base.img' } });
  s.add({
    driver: 'qcow2',
    'node-name': 'top',
    file: { driver: 'file', filename: '/top.qcow2' },
    backing: 'base',
  });
  s.take();
}

test('a qcow2 overlay reads through to its backing and copies on write', () => {
  const s = new Scenario();
  overlayOnRawBase(s);
  const data = s.layer.nodeData;
  const top = s.layer.lookupNode('top');
  const base = s.layer.lookupNode('base');
  expect(data.read(top, MiB - 2, 4)).toEqual(new Uint8Array([0x11, 0x11, 0, 0]));
  data.write(top, 4096, new Uint8Array(4096).fill(0x22), guest);
  // The written cluster holds the write and, around it, what the backing had.
  expect(data.read(top, 4094, 4)).toEqual(new Uint8Array([0x11, 0x11, 0x22, 0x22]));
  expect(data.read(top, 8190, 4)).toEqual(new Uint8Array([0x22, 0x22, 0x11, 0x11]));
  expect(data.read(base, 4096, 1)).toEqual(new Uint8Array([0x11]));
  // The write allocated that cluster in the overlay, and only that one.
  // A write where the backing has a hole allocates that one cluster in the overlay.
  data.write(top, 2 * MiB + 4096, new Uint8Array(512).fill(0x33), guest);
  const status = s.layer.blockStatus(top, 2 * MiB, 2 * 65536);
  expect(status.map((e) => [e.offset, e.length, e.status])).toEqual([
    [2 * MiB, 65536, 'data'],
    [2 * MiB + 65536, 65536, 'zero'],
  ]);
});

test('after a stream the top holds the data it read through its backing', () => {
  const s = new Scenario();
  overlayOnRawBase(s);
  const data = s.layer.nodeData;
  const top = s.layer.lookupNode('top');
  data.write(top, 2 * MiB, new Uint8Array(512).fill(0x33), guest);
  s.run('block-stream', { device: 'top', 'job-id': 's1' });
  s.step(1000);
  expect(s.take()).toContain('s1 concluded');
  expect(s.layer.findNode('top')?.backing).toBeUndefined();
  const after = data.read(top, 0, SIZE);
  expect(after.subarray(0, MiB).every((b) => b === 0x11)).toBe(true);
  expect(after.subarray(MiB, 2 * MiB).every((b) => b === 0)).toBe(true);
  expect(after.subarray(2 * MiB, 2 * MiB + 512).every((b) => b === 0x33)).toBe(true);
});

test('a backup target holds what the source held when the job started', () => {
  const s = new Scenario({ throughput: MiB });
  s.store.create('/src.raw', SIZE);
  s.store.create('/dst.raw', SIZE);
  s.add({ driver: 'file', 'node-name': 'src', filename: '/src.raw' });
  s.add({ driver: 'file', 'node-name': 'dst', filename: '/dst.raw' });
  const data = s.layer.nodeData;
  const src = s.layer.lookupNode('src');
  data.write(src, 0, new Uint8Array(SIZE).fill(0x44), guest);
  s.run('blockdev-backup', { 'job-id': 'b', device: 'src', target: 'dst', sync: 'full' });
  // At 1 MiB/s the job has copied little when the guest overwrites the end of the source.
  data.write(src, SIZE - MiB, new Uint8Array(MiB).fill(0x55), guest);
  s.step(10_000);
  expect(s.take()).toContain('b concluded');
  expect(s.store.bytes('/dst.raw')?.every((b) => b === 0x44)).toBe(true);
  expect(
    s.store
      .bytes('/src.raw')
      ?.subarray(SIZE - MiB)
      .every((b) => b === 0x55),
  ).toBe(true);
});
