import { beforeEach, describe, expect, test } from 'vitest';
import { BlockLayer } from './block-layer.js';
import { MemoryImageStore } from './image-store.js';
import {
  BLK_PERM,
  defaultChildPermissions,
  NO_PERMISSIONS,
  permissionNames,
} from './permissions.js';
import { buildEmptyQcow2 } from './qcow2.js';
import { qemuSchema } from './qemu-schema.test-helper.js';

// Rules from QEMU 7.2 (block.c bdrv_default_perms, raw-format.c, file-posix.c); the error texts
// were recorded from qemu-storage-daemon 7.2.22, and the conformance test replays these cases.

function qcow2(size: number, backingFile?: string): Uint8Array {
  const { writes, fileLength } = buildEmptyQcow2({
    size,
    ...(backingFile ? { backingFile, backingFormat: 'qcow2' } : {}),
  });
  const image = new Uint8Array(fileLength);
  for (const w of writes) image.set(w.data, w.offset);
  return image;
}

const message = (run: () => void) => {
  try {
    run();
  } catch (error) {
    return (error as Error).message;
  }
  return 'no error';
};

describe('permission rules', () => {
  test("names follow QEMU's order", () => {
    expect(permissionNames(BLK_PERM.RESIZE | BLK_PERM.WRITE)).toBe('write, resize');
    expect(permissionNames(BLK_PERM.ALL)).toBe('consistent read, write, write unchanged, resize');
  });

  test('a writable format node takes write and resize on its file and shares neither', () => {
    expect(defaultChildPermissions('metadata+data', NO_PERMISSIONS, true)).toEqual({
      perm: BLK_PERM.CONSISTENT_READ | BLK_PERM.WRITE | BLK_PERM.RESIZE,
      shared: BLK_PERM.CONSISTENT_READ | BLK_PERM.WRITE_UNCHANGED,
    });
    expect(defaultChildPermissions('cow', NO_PERMISSIONS, true)).toEqual({
      perm: 0,
      shared: BLK_PERM.ALL,
    });
  });
});

describe('permission conflicts and image locks in BlockLayer', () => {
  let layer: BlockLayer;
  beforeEach(() => {
    const store = new MemoryImageStore();
    store.put('base.qcow2', qcow2(1048576));
    store.put('top.qcow2', qcow2(1048576, 'base.qcow2'));
    layer = new BlockLayer({ store, schema: qemuSchema });
    layer.add({
      driver: 'qcow2',
      file: { driver: 'file', filename: 'top.qcow2', 'node-name': 'topf' },
      'node-name': 'top',
    });
  });

  test('a read-only backing file refuses a writer on the same file', () => {
    expect(
      message(() =>
        layer.add({
          driver: 'qcow2',
          file: { driver: 'file', filename: 'base.qcow2' },
          'node-name': 'b',
        }),
      ),
    ).toBe('Failed to get "write" lock');
    layer.add({
      driver: 'qcow2',
      'read-only': true,
      file: { driver: 'file', filename: 'base.qcow2' },
      'node-name': 'b',
    });
  });

  test('two format nodes over one file node conflict', () => {
    expect(message(() => layer.add({ driver: 'qcow2', file: 'topf', 'node-name': 'top2' }))).toBe(
      "Permission conflict on node 'topf': permissions 'write, resize' are both required by node 'top' (uses node 'topf' as 'file' child) and unshared by node 'top2' (uses node 'topf' as 'file' child).",
    );
    // A failed add leaves no trace: the file node has one user again.
    expect(layer.parentsOf(layer.lookupNode('topf')).map((n) => n.nodeName)).toEqual(['top']);
    layer.add({ driver: 'raw', file: 'topf', 'node-name': 'rawtop' });
  });

  test('two file nodes of one image: locks, and locking=off', () => {
    layer.add({ driver: 'file', filename: 'top.qcow2', 'node-name': 'topf2' });
    expect(message(() => layer.add({ driver: 'qcow2', file: 'topf2', 'node-name': 'top4' }))).toBe(
      'Failed to get "write" lock',
    );
    expect(
      message(() =>
        layer.add({ driver: 'qcow2', 'read-only': true, file: 'topf2', 'node-name': 'top5' }),
      ),
    ).toBe('Failed to get shared "write" lock');
    layer.del('top');
    layer.add({ driver: 'qcow2', file: 'topf2', 'node-name': 'top4' });
  });

  // The job's name in the message follows blockjob.c child_job_get_parent_desc() (source only;
  // jobs arrive with the job layer, which will check it against QEMU).
  test('external users: a job that needs write on a node a format node does not share it with', () => {
    const topf = layer.lookupNode('topf');
    expect(
      message(() =>
        layer.attachUser(topf, {
          desc: "mirror job 'j0'",
          childName: 'target',
          perm: BLK_PERM.WRITE,
          shared: BLK_PERM.ALL,
          backend: false,
        }),
      ),
    ).toBe(
      "Permission conflict on node 'topf': permissions 'write' are both required by mirror job 'j0' (uses node 'topf' as 'target' child) and unshared by node 'top' (uses node 'topf' as 'file' child).",
    );
    const detach = layer.attachUser(layer.lookupNode('top'), {
      desc: "stream job 's0'",
      childName: 'main node',
      perm: BLK_PERM.CONSISTENT_READ,
      shared: BLK_PERM.ALL,
      backend: false,
    });
    expect(layer.permissions(layer.lookupNode('top')).perm).toBe(BLK_PERM.CONSISTENT_READ);
    detach();
    expect(layer.permissions(layer.lookupNode('top'))).toEqual(NO_PERMISSIONS);
  });
});
