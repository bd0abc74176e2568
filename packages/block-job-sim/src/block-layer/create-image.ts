// blockdev-create's work (the create jobs): the file and qcow2 drivers' option checks with QEMU's
// texts, then an empty image written through the ImageStore, all or nothing where it can be.

import type {
  BlockdevCreateOptions,
  BlockdevCreateOptionsFile,
  BlockdevCreateOptionsQcow2,
  BlockdevOptions,
} from '@qmpkit/qapi-types/7.2';
import { genericError, notSimulated, storeFailure } from '../errors.js';
import type { ImageStore } from '../image-store.js';
import { BLK_PERM, type Permissions } from '../permissions.js';
import { buildEmptyQcow2 } from '../qcow2.js';
import type { BlockNode } from './node.js';
import { checkLockBytes } from './node-graph.js';
import { fileNodePath, type MutableNode, roundUpToSector } from './node-state.js';

/** What image creation needs of the block layer. */
export interface ImageCreateContext {
  readonly store: ImageStore;
  readonly nodes: readonly MutableNode[];
  /** The node named `name`, or QEMU's lookup error. */
  lookupNode(name: string): BlockNode;
  /** Attaches a BlockBackend with these permissions; returns the detach function. */
  attachBackend(node: BlockNode, permissions: Permissions): () => void;
  /** A change of the block graph under its write lock (bdrv_graph_wrlock). */
  graphChanged(): void;
}

/**
 * The changes of the block graph qcow2_co_create() makes formatting an image, each under the
 * graph's write lock: a BlockBackend on the file writes the first clusters (attached, dropped:
 * 2); then the new image is opened over the file through a BlockBackend and closed again twice,
 * to write its full header and then to flush it (each: the format probe's BlockBackend attached
 * and dropped, the file child attached, the BlockBackend attached and dropped, the node closed:
 * 6). 18 with drive-backup's opening of the target, as counted on qemu-storage-daemon 10.0.2.
 */
const QCOW2_CREATE_GRAPH_CHANGES = 2 + 2 * 6;

/**
 * The work of a `create` job: validates the options as QEMU's driver does and writes an empty
 * image. Throws a CommandError whose desc is what QEMU reports as the job's `error`.
 */
export function createImage(context: ImageCreateContext, options: BlockdevCreateOptions): void {
  switch (options.driver) {
    case 'file':
      createFile(context, options as BlockdevCreateOptionsFile);
      return;
    case 'qcow2':
      createQcow2(context, options as BlockdevCreateOptionsQcow2);
      return;
    default:
      throw notSimulated(`image creation with driver '${options.driver}'`);
  }
}

function createFile(context: ImageCreateContext, options: BlockdevCreateOptionsFile): void {
  if ((options['extent-size-hint'] ?? 0) > 0xffffffff) {
    throw genericError('Extent size hint is too large');
  }
  if ((options.preallocation ?? 'off') !== 'off') {
    throw notSimulated(`preallocation '${options.preallocation}'`);
  }
  // raw_co_create() locks the file for WRITE and RESIZE, sharing all but RESIZE, before it
  // truncates it: an image another node holds is refused.
  checkLockBytes(context.nodes, context.store.identify?.(options.filename) ?? options.filename, {
    perm: BLK_PERM.WRITE | BLK_PERM.RESIZE,
    shared: BLK_PERM.ALL & ~BLK_PERM.RESIZE,
  });
  try {
    context.store.create(options.filename, options.size);
  } catch (error) {
    throw storeFailure(`Could not create '${options.filename}'`, error);
  }
}

function createQcow2(context: ImageCreateContext, options: BlockdevCreateOptionsQcow2): void {
  const file = context.lookupNode(
    typeof options.file === 'string' ? options.file : inlineCreateTarget(options.file),
  );
  if (options.size % 512 !== 0) throw genericError('Image size must be a multiple of 512 bytes');
  const version = options.version === 'v2' ? 2 : 3;
  const clusterSize = options['cluster-size'] ?? 65536;
  if (options['extended-l2']) {
    if (version < 3) {
      throw genericError(
        'Extended L2 entries are only supported with compatibility level 1.1 and above (use version=v3 or greater)',
      );
    }
    throw notSimulated('qcow2 images with extended L2 entries');
  }
  if (
    clusterSize < 512 ||
    clusterSize > 2 * 1024 * 1024 ||
    (clusterSize & (clusterSize - 1)) !== 0
  ) {
    throw genericError('Cluster size must be a power of two between 512 and 2048k');
  }
  const preallocation = options.preallocation ?? 'off';
  if (options['backing-file'] !== undefined && preallocation !== 'off') {
    throw genericError(
      'Backing file and preallocation can only be used at the same time if extended_l2 is on',
    );
  }
  if (options['backing-fmt'] !== undefined && options['backing-file'] === undefined) {
    throw genericError('Backing format cannot be used without backing file');
  }
  if (version < 3 && options['lazy-refcounts']) {
    throw genericError(
      'Lazy refcounts only supported with compatibility level 1.1 and above (use version=v3 or greater)',
    );
  }
  const refcountBits = options['refcount-bits'] ?? 16;
  if (refcountBits > 64 || refcountBits < 1 || (refcountBits & (refcountBits - 1)) !== 0) {
    throw genericError('Refcount width must be a power of two and may not exceed 64 bits');
  }
  if (version < 3 && refcountBits !== 16) {
    throw genericError(
      'Different refcount widths than 16 bits require compatibility level 1.1 or above (use version=v3 or greater)',
    );
  }
  if (options['data-file-raw'] && options['data-file'] === undefined) {
    throw genericError('data-file-raw requires data-file');
  }
  if (options['data-file'] !== undefined) throw notSimulated("qcow2's 'data-file' option");
  if (options['compression-type'] === 'zstd') {
    if (version < 3) {
      throw genericError(
        'Non-zlib compression type is only supported with compatibility level 1.1 and above (use version=v3 or greater)',
      );
    }
    throw notSimulated('zstd compression');
  }
  if (options.encrypt !== undefined) throw notSimulated('encrypted qcow2 images');
  if (preallocation !== 'off') throw notSimulated(`preallocation '${preallocation}'`);
  const path = fileNodePath(file);
  if (file.driver !== 'file' || path === undefined) {
    throw notSimulated(`creating qcow2 images on a '${file.driver}' node`);
  }
  const { writes, fileLength } = buildEmptyQcow2({
    size: options.size,
    clusterSize,
    version,
    refcountBits,
    lazyRefcounts: options['lazy-refcounts'] ?? false,
    ...(options['backing-file'] !== undefined ? { backingFile: options['backing-file'] } : {}),
    ...(options['backing-fmt'] !== undefined ? { backingFormat: options['backing-fmt'] } : {}),
  });
  // qcow2_co_create() writes through a BlockBackend that needs WRITE and RESIZE.
  const detach = context.attachBackend(file, {
    perm: BLK_PERM.WRITE | BLK_PERM.RESIZE,
    shared: BLK_PERM.ALL,
  });
  try {
    if (context.store.replace !== undefined) {
      // All or nothing: a crash while formatting leaves the old file, not half an image.
      context.store.replace(path, fileLength, writes);
    } else {
      context.store.truncate(path, 0);
      for (const write of writes) context.store.write(path, write.offset, write.data);
      context.store.truncate(path, fileLength);
    }
    const stat = context.store.stat(path);
    Object.assign(file, { length: roundUpToSector(stat.size), fileStat: stat });
  } catch (error) {
    throw storeFailure('Could not write qcow2 header', error);
  } finally {
    detach();
  }
  for (let i = 0; i < QCOW2_CREATE_GRAPH_CHANGES; i++) context.graphChanged();
}

function inlineCreateTarget(_ref: BlockdevOptions): string {
  throw notSimulated('inline node definitions as blockdev-create targets (name an existing node)');
}
