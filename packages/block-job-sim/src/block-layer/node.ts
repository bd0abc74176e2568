// The node graph's data: what a node is (BlockNode, as jobs see it; MutableNode, as the block
// layer keeps it), who uses it, and the cache mode children inherit. The block layer's parts
// (opening, permissions, guest requests, filenames, image creation) all work on these records.

import type { BlkdebugState } from '../blkdebug.js';
import type { FileExtent } from '../image-store.js';
import type { Permissions } from '../permissions.js';
import type { SimulatedDriver } from '../qapi.js';
import type { Qcow2AllocationMap, Qcow2Header } from '../qcow2.js';
import type { FlatOptions } from './qdict-options.js';

/** A node's role under its parent, named as QEMU names the child. */
export type ChildName = 'file' | 'image' | 'backing';

export interface BlockChild {
  readonly name: ChildName;
  readonly node: BlockNode;
}

/** One node of the graph, as jobs see it. */
export interface BlockNode {
  readonly nodeName: string;
  readonly driver: SimulatedDriver;
  /** Named by the user (node-name), not `#blockNNN`. */
  readonly userNamed: boolean;
  readonly readOnly: boolean;
  /** Virtual size in bytes. */
  readonly length: number;
  /** The node's children, oldest first. */
  readonly children: readonly BlockChild[];
  /** The `file` or `image` child. */
  readonly file: BlockNode | undefined;
  /** The `backing` child (qcow2). */
  readonly backing: BlockNode | undefined;
  /** For `file` nodes: the path as given. */
  readonly filename: string | undefined;
  /** For qcow2 nodes: the header as read when the node was opened. */
  readonly qcow2: Qcow2Header | undefined;
  /** For blkdebug nodes: the inject-error and set-state rules and the driver's state. */
  readonly blkdebug: BlkdebugState | undefined;
  /** For null-co nodes: read-zeroes. */
  readonly readZeroes: boolean;
  /** cache.direct and cache.no-flush, as given or inherited from the parent that opened it. */
  readonly cache: CacheMode;
  /** force-share: every user of the node shares everything (read-only nodes only). */
  readonly forceShare: boolean;
}

export interface CacheMode {
  readonly direct: boolean;
  readonly noFlush: boolean;
}

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
    };

/** Something outside the node graph that uses a node: a job, an export, a BlockBackend. */
export interface ExternalUser {
  /** How QEMU names it in permission errors, e.g. `stream job 'j0'` or `an unnamed block device`. */
  readonly desc: string;
  /** The name of the edge, e.g. `main node`, `target`, `root`. */
  readonly childName: string;
  /** BLK_PERM bits it needs and lets others have. */
  readonly perm: number;
  readonly shared: number;
  /** Whether it is a BlockBackend (which makes blockdev-del say `Node X is in use`). */
  readonly backend: boolean;
}

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
  options: Readonly<Record<string, unknown>>;
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
}

/** What block status says of a stretch: data, reads as zeroes, or neither (nothing there). */
export type BlockStatus = 'data' | 'zero' | 'none';

export interface BlockStatusExtent {
  readonly offset: number;
  readonly length: number;
  readonly status: BlockStatus;
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
