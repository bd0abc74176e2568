import { describe, expect, test } from 'vitest';
import { BlkdebugState, blkdebugRule } from './blkdebug.js';
import { BlockLayer } from './block-layer.js';
import { MemoryImageStore } from './image-store.js';
import { buildEmptyQcow2 } from './qcow2.js';
import { qemuSchema } from './qemu-schema.test-helper.js';

// Semantics from QEMU 7.2 block/blkdebug.c; the three scenarios below were run with qemu-io 7.2
// over `raw` on `blkdebug` on `null-co` (raw raises read_aio/write_aio on its file before each
// request), and the conformance test replays them against qemu-io.

/** What raw over blkdebug does for one request: raise the event, then issue the request. */
function request(state: BlkdebugState, kind: 'read' | 'write', offset: number, bytes: number) {
  state.event(kind === 'read' ? 'read_aio' : 'write_aio');
  return state.check(kind, offset, bytes)?.errno ?? 0;
}

describe('BlkdebugState', () => {
  test('defaults: EIO, any sector, every request type but block-status', () => {
    expect(blkdebugRule({ event: 'read_aio' })).toEqual({
      event: 'read_aio',
      state: 0,
      iotypes: ['read', 'write', 'write-zeroes', 'discard', 'flush'],
      errno: 5,
      offset: -1,
      once: false,
      immediately: false,
    });
  });

  test('sector and once: only requests covering the sector fail, and only the first', () => {
    const state = new BlkdebugState([{ event: 'read_aio', once: true, sector: 8 }]);
    expect(request(state, 'read', 0, 512)).toBe(0);
    expect(request(state, 'read', 4096, 512)).toBe(5);
    expect(request(state, 'read', 4096, 512)).toBe(0);
    expect(request(state, 'read', 0, 8192)).toBe(0);
    expect(state.rules()).toEqual([]);
  });

  test("rules for the event 'none' are armed from the start (blkdebug_open raises it)", () => {
    const state = new BlkdebugState([{ event: 'none', errno: 28, iotype: 'write' }]);
    expect(request(state, 'read', 0, 512)).toBe(0);
    expect(request(state, 'write', 0, 512)).toBe(28);
  });

  test('each event replaces the armed rules; iotype restricts what fails', () => {
    const state = new BlkdebugState([
      { event: 'write_aio', errno: 28 },
      { event: 'read_aio', errno: 5, iotype: 'write' },
    ]);
    expect(request(state, 'read', 0, 512)).toBe(0);
    expect(request(state, 'write', 0, 512)).toBe(28);
    expect(request(state, 'write', 0, 512)).toBe(28);
    expect(request(state, 'read', 0, 512)).toBe(0);
  });

  test('set-state: rules are matched against the state before the event', () => {
    const state = new BlkdebugState(
      [{ event: 'read_aio', state: 2 }],
      [{ event: 'read_aio', new_state: 2 }],
    );
    expect(request(state, 'read', 0, 512)).toBe(0);
    expect(state.state).toBe(2);
    expect(request(state, 'read', 0, 512)).toBe(5);
    expect(request(state, 'read', 0, 512)).toBe(5);
  });

  test('with several armed rules the one listed first wins; errno 0 injects nothing', () => {
    const state = new BlkdebugState([
      { event: 'read_aio', errno: 0, sector: 0 },
      { event: 'read_aio', errno: 28 },
    ]);
    expect(request(state, 'read', 0, 512)).toBe(0);
    expect(request(state, 'read', 512, 512)).toBe(28);
  });
});

// The same scenarios as the conformance test's "BlockLayer.requestError against qemu-io".
describe('BlockLayer.requestError', () => {
  const errno = (layer: BlockLayer, kind: 'read' | 'write', offset: number, bytes: number) =>
    layer.requestError(layer.lookupNode('n'), kind, offset, bytes)?.errno ?? 0;

  test('raw with an offset over blkdebug: sectors count in the file', () => {
    const store = new MemoryImageStore();
    store.put('disk.img', new Uint8Array(1048576));
    const layer = new BlockLayer({ store, schema: qemuSchema });
    layer.add({
      driver: 'raw',
      offset: 65536,
      file: {
        driver: 'blkdebug',
        image: { driver: 'file', filename: 'disk.img' },
        'inject-error': [{ event: 'read_aio', sector: 136 }],
      },
      'node-name': 'n',
    });
    expect([
      errno(layer, 'read', 0, 4096),
      errno(layer, 'read', 4096, 512),
      errno(layer, 'read', 65536, 4096),
    ]).toEqual([0, 5, 0]);
  });

  test('qcow2: data reads hit host sectors, backing reads arm rules, writes raise write_aio', () => {
    const clusterSize = 65536;
    const { writes, fileLength } = buildEmptyQcow2({ size: 64 * 1048576 });
    const image = new Uint8Array(fileLength + 2 * clusterSize);
    for (const w of writes) image.set(w.data, w.offset);
    const view = new DataView(image.buffer);
    const l2 = fileLength;
    view.setBigUint64(3 * clusterSize, BigInt(l2) | (1n << 63n));
    // Guest cluster 16 (1 MiB) lives at host offset fileLength + 64 KiB.
    view.setBigUint64(l2 + 16 * 8, BigInt(fileLength + clusterSize) | (1n << 63n));
    const store = new MemoryImageStore();
    store.put('img.qcow2', image);
    const layer = new BlockLayer({ store, schema: qemuSchema });
    layer.add({
      driver: 'qcow2',
      file: {
        driver: 'blkdebug',
        image: { driver: 'file', filename: 'img.qcow2' },
        'inject-error': [
          { event: 'read_aio', once: true, sector: (fileLength + clusterSize + 4096) / 512 },
          { event: 'write_aio', errno: 28, once: true },
        ],
      },
      'node-name': 'n',
    });
    expect(errno(layer, 'read', 0, 65536)).toBe(0); // unallocated, no backing: zeros, no I/O
    expect(errno(layer, 'read', 1048576, 65536)).toBe(5);
    expect(errno(layer, 'read', 1048576, 65536)).toBe(0);
    expect(errno(layer, 'write', 0, 4096)).toBe(28);
    expect(errno(layer, 'write', 0, 4096)).toBe(0);
  });
});
