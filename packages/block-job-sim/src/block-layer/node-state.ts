// The block layer's own record of a node (QEMU's BlockDriverState beyond what jobs see): its
// users, op blockers, image locks and options as QEMU holds them, and the cache mode children
// inherit. The block layer's parts (opening, permissions, guest requests, filenames, image
// creation) all work on these records; nothing outside src/block-layer* sees them.

import type { BlockdevOptions } from '@qmpkit/qapi-types/7.2';
import type { FileExtent } from '../image-store.js';
import type { Permissions } from '../permissions.js';
import type { Qcow2AllocationMap } from '../qcow2.js';
import type { BlockChild, BlockNode, CacheMode, ChildName } from './node.js';
import type { FlatOptions } from './qdict-options.js';

/** What a child opened with its parent inherits from it (bdrv_inherited_options). */
export interface Inherited extends CacheMode {
  readonly forceShare: boolean;
}

export const DEFAULT_CACHE: Inherited = { direct: false, noFlush: false, forceShare: false };

/** Who uses a node: a parent node through one of its children, or something outside the graph. */
export type NodeUser =
  | { readonly kind: 'node'; readonly parent: MutableNode; readonly childName: ChildName }
  | {
      readonly kind: 'external';
      /** How QEMU's messages name it: `an unnamed block device`, `stream job 'j0'`. */
      readonly desc: string;
      readonly childName: string;
      readonly permissions: Permissions;
      /** A BlockBackend (blockdev-del then says `Node X is in use`). */
      readonly backend: boolean;
      /** A job's filter node: the users it went in under (they use the node through it). */
      readonly above?: ReadonlySet<NodeUser>;
    };

export interface MutableNode extends BlockNode {
  children: BlockChild[];
  /** Users of this node, newest first (QEMU's bs->parents). */
  users: NodeUser[];
  monitorOwned: boolean;
  /** Op blockers (newest first): reasons why del and new jobs must refuse the node. */
  blockers: Array<{ readonly reason: string }>;
  /** For file nodes: whether image locking is on, the file's identity, and the locked permissions. */
  locking: boolean;
  lockIdentity: string | undefined;
  locked: Permissions;
  /** The node's own options, in schema order, children inline or named. */
  options: BlockdevOptions;
  /** bs->options: the node's flattened options in QEMU's insertion order. */
  flat: FlatOptions;
  fileStat: { size: number; allocatedBytes: number } | undefined;
  allocation: Qcow2AllocationMap | undefined;
  /** file: where the file holds data (undefined: all of it), once a job asked. */
  dataExtents: { readonly extents: readonly FileExtent[] | undefined } | undefined;
  /** qcow2: end of the clusters jobs wrote past the image file's opened length (not on disk). */
  appendedEnd: number;
  /** The backing string QEMU compares with the backing node's filename (auto_backing_file). */
  autoBackingFile: string;
  /** For qcow2 nodes: the header, as opened and as jobs changed it since (its backing file). */
  qcow2: BlockNode['qcow2'];
  /**
   * References that keep the node open without using it: a job keeps the nodes it dropped from
   * the graph until it is freed (block_job_add_bdrv's bdrv_ref).
   */
  holds: number;
}

/** Lengths are counted in 512-byte sectors, rounded up (bdrv_getlength). */
export function roundUpToSector(bytes: number): number {
  return Math.ceil(bytes / 512) * 512;
}

/** The path of the `file` node at the bottom of a node's file/image chain. */
export function fileNodePath(node: BlockNode): string | undefined {
  let current: BlockNode | undefined = node;
  while (current && current.driver !== 'file') current = current.file;
  return current?.filename;
}

/** A raw node's `offset` option: where its data starts in its file (0 for other drivers). */
export function rawDataOffset(node: MutableNode): number {
  const options = node.options;
  return options.driver === 'raw' ? (options.offset ?? 0) : 0;
}
