// What a node of the simulated block graph is, as jobs and commands see it. The block layer's
// own state of a node (users, locks, options as QEMU holds them) is node-state.ts.

import type { BlkdebugState } from '../blkdebug.js';
import type { SimulatedDriver } from '../qapi.js';
import type { Qcow2Header } from '../qcow2.js';

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
  /** For null-co nodes: latency-ns, the nanoseconds each request takes (0 for other drivers). */
  readonly latencyNs: number;
  /** cache.direct and cache.no-flush, as given or inherited from the parent that opened it. */
  readonly cache: CacheMode;
  /** force-share: every user of the node shares everything (read-only nodes only). */
  readonly forceShare: boolean;
}

export interface CacheMode {
  readonly direct: boolean;
  readonly noFlush: boolean;
}

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
  /**
   * A job's filter node (bdrv_insert_node): the node's users at that moment moved above the
   * filter, so what the filter does not share holds only for users attached after it.
   */
  readonly filter?: boolean;
}

/** What block status says of a stretch: data, reads as zeroes, or neither (nothing there). */
export type BlockStatus = 'data' | 'zero' | 'none';

export interface BlockStatusExtent {
  readonly offset: number;
  readonly length: number;
  readonly status: BlockStatus;
}
