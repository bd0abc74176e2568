import { CommandError } from '@qmpkit/protocol';
import type { BlockdevOptions } from '@qmpkit/qapi-types/7.2';
import { beforeEach, describe, expect, test } from 'vitest';
import { BlockLayer, jobBlockerReason } from './block-layer.js';
import { MemoryImageStore } from './image-store.js';
import { buildEmptyQcow2 } from './qcow2.js';
import { qemuSchema } from './qemu-schema.test-helper.js';

// Expected texts and field values were recorded from qemu-storage-daemon 7.2.22 (Debian
// 1:7.2+dfsg-7+deb12u18) over QMP; packages/conformance/test/block-layer.test.ts replays the
// same cases against the real daemon in CI.

function qcow2Image(params: Parameters<typeof buildEmptyQcow2>[0], allocate: number[] = []) {
  const { writes, fileLength } = buildEmptyQcow2(params);
  const image = new Uint8Array(
    fileLength + allocate.length * (params.clusterSize ?? 65536) + 65536,
  );
  for (const w of writes) image.set(w.data, w.offset);
  if (allocate.length > 0) {
    // One L2 table after the metadata, then data clusters: enough to mark clusters allocated.
    const cluster = params.clusterSize ?? 65536;
    const l2Offset = fileLength;
    const view = new DataView(image.buffer);
    view.setBigUint64(3 * cluster, BigInt(l2Offset) | (1n << 63n));
    allocate.forEach((guestCluster, i) => {
      view.setBigUint64(
        l2Offset + guestCluster * 8,
        BigInt(l2Offset + (i + 1) * cluster) | (1n << 63n),
      );
    });
  }
  return image;
}

function failure(run: () => void): { class: string; desc: string } {
  try {
    run();
  } catch (error) {
    if (CommandError.isInstance(error)) return { class: error.errorClass, desc: error.desc };
    throw error;
  }
  throw new Error('did not fail');
}

const generic = (desc: string) => ({ class: 'GenericError', desc });

describe('BlockLayer', () => {
  let store: MemoryImageStore;
  let layer: BlockLayer;
  beforeEach(() => {
    store = new MemoryImageStore();
    store.put('raw.img', new Uint8Array(1048576));
    store.put('base.qcow2', qcow2Image({ size: 64 * 1048576 }, [0, 16]));
    store.put(
      'top.qcow2',
      qcow2Image({ size: 64 * 1048576, backingFile: 'base.qcow2', backingFormat: 'qcow2' }, [64]),
    );
    layer = new BlockLayer({ store, schema: qemuSchema });
  });

  test('null-co nodes, and their query-named-block-nodes entries', () => {
    layer.add({ driver: 'null-co', 'node-name': 'n0' });
    layer.add({ driver: 'null-co', 'node-name': 'n1', size: 1048576, 'read-zeroes': true });
    const [n1, n0] = layer.queryNamedBlockNodes();
    expect(n0).toEqual({
      iops_rd: 0,
      detect_zeroes: 'off',
      image: {
        'virtual-size': 1073741824,
        filename: 'null-co://',
        format: 'null-co',
        'actual-size': 0,
      },
      iops_wr: 0,
      ro: false,
      'node-name': 'n0',
      backing_file_depth: 0,
      drv: 'null-co',
      iops: 0,
      bps_wr: 0,
      write_threshold: 0,
      encrypted: false,
      bps: 0,
      bps_rd: 0,
      cache: { 'no-flush': false, direct: false, writeback: true },
      file: 'null-co://',
    });
    expect(n1?.file).toBe('json:{"read-zeroes": true, "driver": "null-co", "size": 1048576}');
    expect(n1?.image['virtual-size']).toBe(1048576);
  });

  test.each([
    ['1abc', "Invalid node-name: '1abc'"],
    ['a b', "Invalid node-name: 'a b'"],
    ['a:b', "Invalid node-name: 'a:b'"],
    ['-a', "Invalid node-name: '-a'"],
    ['_a', "Invalid node-name: '_a'"],
    ['#x', "Invalid node-name: '#x'"],
    ['', "Invalid node-name: ''"],
    ['é', "Invalid node-name: 'é'"],
    ['a'.repeat(32), 'Node name too long'],
  ])('node-name %j is refused: %s', (name, desc) => {
    expect(failure(() => layer.add({ driver: 'null-co', 'node-name': name }))).toEqual(
      generic(desc),
    );
  });

  test('node-name rules: 31 characters fit; names are unique; the root needs one', () => {
    layer.add({ driver: 'null-co', 'node-name': 'a'.repeat(31) });
    layer.add({ driver: 'null-co', 'node-name': 'n0' });
    expect(failure(() => layer.add({ driver: 'null-co', 'node-name': 'n0' }))).toEqual(
      generic("Duplicate nodes with node-name='n0'"),
    );
    expect(failure(() => layer.add({ driver: 'null-co' }))).toEqual(
      generic("'node-name' must be specified for the root node"),
    );
  });

  test("file nodes open real files; a missing one is QEMU's error", () => {
    expect(
      failure(() => layer.add({ driver: 'file', filename: 'nope.img', 'node-name': 'f1' })),
    ).toEqual(generic("Could not open 'nope.img': No such file or directory"));
    layer.add({ driver: 'file', filename: 'raw.img', 'node-name': 'f0' });
    layer.add({ driver: 'raw', file: 'f0', 'node-name': 'r0' });
    const [r0, f0] = layer.queryNamedBlockNodes();
    expect(f0?.image).toEqual({
      'virtual-size': 1048576,
      filename: 'raw.img',
      format: 'file',
      'actual-size': 1048576,
      'dirty-flag': false,
    });
    expect(r0).toMatchObject({ file: 'raw.img', drv: 'raw', 'node-name': 'r0' });
    expect(r0?.image.format).toBe('raw');
  });

  test('references: unknown names, nodes in use, deletion order', () => {
    layer.add({ driver: 'null-co', 'node-name': 'n0' });
    expect(failure(() => layer.add({ driver: 'raw', file: 'missing', 'node-name': 'r1' }))).toEqual(
      generic("Cannot find device='missing' nor node-name='missing'"),
    );
    layer.add({ driver: 'raw', file: 'n0', 'node-name': 'r1' });
    layer.add({ driver: 'raw', file: 'n0', 'node-name': 'r2' });
    expect(failure(() => layer.del('n0'))).toEqual(generic('Block device n0 is in use'));
    expect(failure(() => layer.del('zz'))).toEqual(
      generic("Failed to find node with node-name='zz'"),
    );
    layer.del('r2');
    layer.del('r1');
    layer.del('n0');
    expect(layer.queryNamedBlockNodes()).toEqual([]);
  });

  test('qcow2 over file with an automatically opened, read-only backing chain', () => {
    layer.add({
      driver: 'qcow2',
      file: { driver: 'file', filename: 'top.qcow2' },
      'node-name': 'top',
    });
    const nodes = layer.queryNamedBlockNodes();
    // Creation order: top's file, top, base's file, base; listed newest first.
    expect(nodes.map((n) => [n.drv, n.ro])).toEqual([
      ['qcow2', true],
      ['file', true],
      ['qcow2', false],
      ['file', false],
    ]);
    expect(nodes.map((n) => n['node-name']?.startsWith('#block'))).toEqual([
      true,
      true,
      false,
      true,
    ]);
    const top = nodes[2];
    expect(top?.backing_file).toBe('base.qcow2');
    expect(top?.backing_file_depth).toBe(1);
    expect(top?.image).toMatchObject({
      'backing-filename-format': 'qcow2',
      'virtual-size': 67108864,
      filename: 'top.qcow2',
      'cluster-size': 65536,
      format: 'qcow2',
      'format-specific': {
        type: 'qcow2',
        data: {
          compat: '1.1',
          'compression-type': 'zlib',
          'lazy-refcounts': false,
          'refcount-bits': 16,
          corrupt: false,
          'extended-l2': false,
        },
      },
      'full-backing-filename': 'base.qcow2',
      'backing-filename': 'base.qcow2',
      'dirty-flag': false,
    });
    expect(top?.image['backing-image']?.filename).toBe('base.qcow2');
    const node = layer.lookupNode('top');
    expect(layer.allocationMap(node)?.extents()).toEqual([{ offset: 64 * 65536, length: 65536 }]);
    expect(layer.allocationMap(node.backing as never)?.allocatedBytes()).toBe(2 * 65536);
  });

  test('backing by reference blocks deletion of the backing node; backing: null is a json: name', () => {
    layer.add({
      driver: 'qcow2',
      file: { driver: 'file', filename: 'base.qcow2', 'node-name': 'basef' },
      'node-name': 'base',
    });
    layer.add({
      driver: 'qcow2',
      file: { driver: 'file', filename: 'top.qcow2', 'node-name': 'topf' },
      backing: 'base',
      'node-name': 'top',
    });
    expect(failure(() => layer.del('base'))).toEqual(
      generic("Node 'base' is busy: node is used as backing hd of 'top'"),
    );
    expect(failure(() => layer.del('topf'))).toEqual(
      generic('Node topf is not owned by the monitor'),
    );
    expect(layer.blockDeviceInfo(layer.lookupNode('top')).file).toBe('top.qcow2');
    layer.del('top');
    layer.del('base');
    layer.add({
      driver: 'qcow2',
      file: { driver: 'file', filename: 'top.qcow2' },
      backing: null,
      'node-name': 't',
    });
    expect(layer.blockDeviceInfo(layer.lookupNode('t')).file).toBe(
      'json:{"backing": null, "driver": "qcow2", "file": {"driver": "file", "filename": "top.qcow2"}}',
    );
  });

  test('qcow2 on a non-qcow2 file, and a missing backing file', () => {
    expect(
      failure(() =>
        layer.add({
          driver: 'qcow2',
          file: { driver: 'file', filename: 'raw.img' },
          'node-name': 'q1',
        }),
      ),
    ).toEqual(generic('Image is not in qcow2 format'));
    store.put(
      'orphan.qcow2',
      qcow2Image({ size: 1048576, backingFile: 'gone.qcow2', backingFormat: 'qcow2' }),
    );
    expect(
      failure(() =>
        layer.add({
          driver: 'qcow2',
          file: { driver: 'file', filename: 'orphan.qcow2' },
          'node-name': 'o',
        }),
      ),
    ).toEqual(
      generic(
        "Could not open backing file: Could not open 'gone.qcow2': No such file or directory",
      ),
    );
    // A failed add leaves nothing behind.
    expect(layer.queryNamedBlockNodes()).toEqual([]);
  });

  test("blkdebug nodes keep their inject-error rules and show QEMU's filenames", () => {
    layer.add({
      driver: 'blkdebug',
      image: { driver: 'null-co', size: 1048576 },
      'node-name': 'dbg1',
      'inject-error': [{ event: 'read_aio', errno: 5, once: true, sector: 0, immediately: false }],
    } as BlockdevOptions);
    const node = layer.lookupNode('dbg1');
    expect(node.blkdebug?.rules()).toEqual([
      {
        event: 'read_aio',
        state: 0,
        iotypes: ['read', 'write', 'write-zeroes', 'discard', 'flush'],
        errno: 5,
        offset: 0,
        once: true,
        immediately: false,
      },
    ]);
    const info = layer.blockDeviceInfo(node);
    expect(info.file).toBe(
      'json:{"inject-error.0.immediately": false, "inject-error.0.once": true, "image": {"driver": "null-co", "size": 1048576}, "driver": "blkdebug", "inject-error.0.event": "read_aio", "inject-error.0.errno": 5, "inject-error.0.sector": 0}',
    );
    expect(info.backing_file_depth).toBe(1);
    expect(info.image).toMatchObject({ 'virtual-size': 1048576, format: 'blkdebug' });
    expect(info.image['actual-size']).toBeUndefined();
    layer.add({
      driver: 'qcow2',
      file: { driver: 'file', filename: 'base.qcow2' },
      'node-name': 'base',
    });
    layer.add({ driver: 'blkdebug', image: 'base', 'node-name': 'dbg0' });
    expect(layer.blockDeviceInfo(layer.lookupNode('dbg0')).file).toBe('blkdebug::base.qcow2');
    expect(
      failure(() =>
        layer.add({
          driver: 'blkdebug',
          image: { driver: 'null-co' },
          'node-name': 'd8',
          align: 3,
        }),
      ),
    ).toEqual(generic('Cannot meet constraints with align 3'));
  });

  test("job usage: blockers make del and new jobs fail with QEMU's busy text", () => {
    layer.add({ driver: 'null-co', 'node-name': 'n0' });
    const node = layer.lookupNode('n0');
    const release = layer.block(node, jobBlockerReason('stream'));
    expect(failure(() => layer.del('n0'))).toEqual(
      generic("Node 'n0' is busy: block device is in use by block job: stream"),
    );
    expect(failure(() => layer.assertNotBusy(node))).toEqual(
      generic("Node 'n0' is busy: block device is in use by block job: stream"),
    );
    release();
    const detach = layer.attachBackend(node);
    expect(failure(() => layer.del('n0'))).toEqual(generic('Node n0 is in use'));
    detach();
    layer.del('n0');
  });

  test('drivers QEMU has and qmpkit does not simulate are refused, never accepted', () => {
    expect(failure(() => layer.add({ driver: 'vmdk', file: 'x', 'node-name': 'v' }))).toEqual(
      generic("qmpkit does not simulate driver 'vmdk'"),
    );
  });

  test('blockdev-create: file and qcow2 images and their validation errors', () => {
    layer.create({ driver: 'file', filename: 'new.qcow2', size: 0 });
    layer.add({ driver: 'file', filename: 'new.qcow2', 'node-name': 'newf' });
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ size: 1000 }, 'Image size must be a multiple of 512 bytes'],
      [
        { size: 65536, 'cluster-size': 1000 },
        'Cluster size must be a power of two between 512 and 2048k',
      ],
      [
        { size: 65536, 'cluster-size': 256 },
        'Cluster size must be a power of two between 512 and 2048k',
      ],
      [
        { size: 65536, 'cluster-size': 4194304 },
        'Cluster size must be a power of two between 512 and 2048k',
      ],
      [
        { size: 65536, 'backing-fmt': 'qcow2' },
        'Backing format cannot be used without backing file',
      ],
      [
        { size: 65536, version: 'v2', 'lazy-refcounts': true },
        'Lazy refcounts only supported with compatibility level 1.1 and above (use version=v3 or greater)',
      ],
      [
        { size: 1048576, 'refcount-bits': 3 },
        'Refcount width must be a power of two and may not exceed 64 bits',
      ],
    ];
    for (const [extra, desc] of cases) {
      expect(
        failure(() => layer.create({ driver: 'qcow2', file: 'newf', ...extra } as never)),
      ).toEqual(generic(desc));
    }
    expect(failure(() => layer.create({ driver: 'qcow2', file: 'nonode', size: 65536 }))).toEqual(
      generic("Cannot find device='nonode' nor node-name='nonode'"),
    );
    expect(
      failure(() =>
        layer.create({ driver: 'file', filename: '/nonexistent/x.img', size: 1048576 }),
      ),
    ).toEqual(generic("Could not create '/nonexistent/x.img': No such file or directory"));
    layer.create({
      driver: 'qcow2',
      file: 'newf',
      size: 67108864,
      'backing-file': 'base.qcow2',
      'backing-fmt': 'qcow2',
    });
    layer.add({ driver: 'qcow2', file: 'newf', 'node-name': 'newq' });
    const info = layer.blockDeviceInfo(layer.lookupNode('newq'));
    expect(info.image).toMatchObject({
      'virtual-size': 67108864,
      'backing-filename': 'base.qcow2',
    });
    expect(layer.allocationMap(layer.lookupNode('newq'))?.allocatedBytes()).toBe(0);
    expect(failure(() => layer.create({ driver: 'qcow2', file: 'newf', size: 67108864 }))).toEqual(
      generic(
        "Permission conflict on node 'newf': permissions 'write, resize' are both required by an unnamed block device (uses node 'newf' as 'root' child) and unshared by node 'newq' (uses node 'newf' as 'file' child).",
      ),
    );
  });

  test('children opened with a node inherit its cache mode; backing chains are read-only', () => {
    layer.add({
      driver: 'qcow2',
      file: { driver: 'file', filename: 'top.qcow2' },
      cache: { 'no-flush': true },
      'node-name': 'top',
    });
    expect(layer.queryNamedBlockNodes().map((n) => [n.drv, n.ro, n.cache['no-flush']])).toEqual([
      ['qcow2', true, true],
      ['file', true, true],
      ['qcow2', false, true],
      ['file', false, true],
    ]);
  });

  test("raw offset and size are checked against the file, in QEMU's words", () => {
    layer.add({ driver: 'file', filename: 'raw.img', 'node-name': 'f0' });
    expect(
      failure(() => layer.add({ driver: 'raw', file: 'f0', offset: 2097152, 'node-name': 'w1' })),
    ).toEqual(
      generic('Offset (2097152) cannot be greater than size of the containing file (1048576)'),
    );
    expect(
      failure(() =>
        layer.add({ driver: 'raw', file: 'f0', offset: 4096, size: 1048576, 'node-name': 'w2' }),
      ),
    ).toEqual(
      generic(
        'The sum of offset (4096) and size (1048576) has to be smaller or equal to the  actual size of the containing file (1048576)',
      ),
    );
    expect(
      failure(() => layer.add({ driver: 'raw', file: 'f0', size: 1000, 'node-name': 'w3' })),
    ).toEqual(generic('Specified size is not multiple of 512'));
    layer.add({ driver: 'raw', file: 'f0', offset: 4096, size: 8192, 'node-name': 'win' });
    expect(layer.lookupNode('win').length).toBe(8192);
  });

  test('file lengths count whole 512-byte sectors', () => {
    store.put('odd.img', new Uint8Array(1000));
    layer.add({ driver: 'file', filename: 'odd.img', 'node-name': 'odd' });
    expect(layer.lookupNode('odd').length).toBe(1024);
  });

  test('base options are checked where QEMU checks them', () => {
    expect(
      failure(() =>
        layer.add({
          driver: 'qcow2',
          file: { driver: 'file', filename: 'nope' },
          'force-share': true,
          'node-name': 't',
        }),
      ),
    ).toEqual(generic('force-share=on can only be used with read-only images'));
    expect(
      failure(() =>
        layer.add({
          driver: 'qcow2',
          file: { driver: 'file', filename: 'nope' },
          'detect-zeroes': 'unmap',
          'node-name': 't',
        }),
      ),
    ).toEqual(generic("Could not open 'nope': No such file or directory"));
    expect(
      failure(() => layer.add({ driver: 'null-co', 'detect-zeroes': 'unmap', 'node-name': '1t' })),
    ).toEqual(
      generic(
        'setting detect-zeroes to unmap is not allowed without setting discard operation to unmap',
      ),
    );
    expect(
      failure(() => layer.add({ driver: 'null-co', 'latency-ns': -1, 'node-name': '1bad' })),
    ).toEqual(generic("Invalid node-name: '1bad'"));
    expect(
      failure(() => layer.add({ driver: 'null-co', 'latency-ns': -1, 'node-name': 'lat' })),
    ).toEqual(generic('latency-ns is invalid'));
    expect(
      failure(() =>
        layer.add({ driver: 'raw', file: { driver: 'null-co' }, offset: -1, 'node-name': 'j' }),
      ),
    ).toEqual(generic("Parameter 'offset' expects a non-negative number below 2^64"));
    layer.add({ driver: 'null-co', 'detect-zeroes': 'unmap', discard: 'unmap', 'node-name': 'dz' });
    expect(layer.blockDeviceInfo(layer.lookupNode('dz')).detect_zeroes).toBe('unmap');
  });

  test('writers on read-only nodes, and force-share', () => {
    layer.add({ driver: 'file', filename: 'top.qcow2', 'read-only': true, 'node-name': 'tf' });
    expect(failure(() => layer.add({ driver: 'qcow2', file: 'tf', 'node-name': 't2' }))).toEqual(
      generic('Block node is read-only'),
    );
    layer.add({ driver: 'raw', file: 'tf', 'node-name': 'r' });
    layer.add({
      driver: 'qcow2',
      file: { driver: 'file', filename: 'top.qcow2' },
      'read-only': true,
      'force-share': true,
      'node-name': 'fs',
    });
    layer.add({
      driver: 'qcow2',
      file: { driver: 'file', filename: 'top.qcow2' },
      'node-name': 'top',
    });
    expect(
      failure(() =>
        layer.add({
          driver: 'qcow2',
          file: { driver: 'file', filename: 'top.qcow2' },
          'read-only': true,
          'node-name': 'ro2',
        }),
      ),
    ).toEqual(generic('Failed to get shared "write" lock'));
  });
});
