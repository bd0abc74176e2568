// The backend behind an NBD export of a simulated node. Expected values follow QEMU 7.2: a write
// dirties each granule it touches (the conformance scenarios nbd-exports.ts check the same
// through qemu-io and nbdinfo against qemu-storage-daemon), null-co keeps nothing.
import { NBD_STATE_DIRTY, NBD_STATE_HOLE, NBD_STATE_ZERO, NbdError } from '@qmpkit/nbd';
import { expect, test } from 'vitest';
import { MiB, Scenario } from '../jobs/scenario.test-helper.js';
import { NodeNbdBackend } from './node-backend.js';

const options = { writable: true, bitmaps: ['b0'], allocationDepth: false };

test('writes dirty the bitmap granules they touch and reach the raw image file', () => {
  const s = new Scenario();
  s.store.create('img.raw', MiB);
  s.layer.add({
    driver: 'raw',
    'node-name': 'n0',
    file: { driver: 'file', filename: 'img.raw' },
  } as never);
  const node = s.layer.lookupNode('n0');
  s.run('block-dirty-bitmap-add', { node: 'n0', name: 'b0', granularity: 4096 });
  const file = s.layer.nodes().find((n) => n.driver === 'file');
  s.run('block-dirty-bitmap-add', { node: file?.nodeName, name: 'f', granularity: 65536 });
  const backend = new NodeNbdBackend(s.layer, node, options);
  backend.write(8192, new Uint8Array(4096).fill(0xab), { fua: false });
  backend.write(20000, new Uint8Array(10), { fua: false });
  expect(backend.read(8190, 4)).toEqual(new Uint8Array([0, 0, 0xab, 0xab]));
  // The image file holds the data at the same offsets (raw, no offset option).
  expect(s.store.bytes('img.raw')?.subarray(8190, 8194)).toEqual(
    new Uint8Array([0, 0, 0xab, 0xab]),
  );
  // Block status: the written 4 KiB blocks hold data, the rest of the file is a hole.
  expect(backend.blockStatus({ kind: 'base:allocation' }, 0, 32768)).toEqual([
    { length: 8192, flags: NBD_STATE_HOLE | NBD_STATE_ZERO },
    { length: 4096, flags: 0 },
    { length: 4096, flags: NBD_STATE_HOLE | NBD_STATE_ZERO },
    { length: 4096, flags: 0 },
    { length: 12288, flags: NBD_STATE_HOLE | NBD_STATE_ZERO },
  ]);
  expect(backend.blockStatus({ kind: 'qemu:dirty-bitmap', bitmap: 'b0' }, 0, 32768)).toEqual([
    { length: 8192, flags: 0 },
    { length: 4096, flags: NBD_STATE_DIRTY },
    { length: 4096, flags: 0 },
    { length: 4096, flags: NBD_STATE_DIRTY },
    { length: 12288, flags: 0 },
  ]);
  // The raw node's file child got the same writes.
  const fileBitmaps = s.layer.dirtyBitmaps.info(file as never);
  expect(fileBitmaps).toEqual([
    {
      name: 'f',
      count: 65536,
      granularity: 65536,
      recording: true,
      busy: false,
      persistent: false,
    },
  ]);
});

test('null-co keeps nothing; a read-only export refuses writes with EPERM', () => {
  const s = new Scenario();
  s.layer.add({ driver: 'null-co', 'node-name': 'z', size: MiB } as never);
  const node = s.layer.lookupNode('z');
  const backend = new NodeNbdBackend(s.layer, node, options);
  backend.write(0, new Uint8Array(512).fill(1), { fua: false });
  expect(backend.read(0, 512)).toEqual(new Uint8Array(512));
  expect(backend.blockStatus({ kind: 'base:allocation' }, 0, MiB)).toEqual([
    { length: MiB, flags: NBD_STATE_HOLE },
  ]);
  const readOnly = new NodeNbdBackend(s.layer, node, {
    ...options,
    writable: false,
  });
  let error: unknown;
  try {
    readOnly.write(0, new Uint8Array(1), { fua: false });
  } catch (e) {
    error = e;
  }
  expect(NbdError.isInstance(error) && error.errno).toBe('EPERM');
});
