// The simulated block layer: a graph of nodes built by blockdev-add, taken apart by
// blockdev-del, described by query-named-block-nodes, and images made by blockdev-create.
// Node metadata (lengths, qcow2 headers, allocation) comes from the real image files through an
// ImageStore; guest data is never read or copied. Errors use QEMU 7.2's classes and texts
// (recorded from qemu-storage-daemon 7.2.22; see block-layer.test.ts and the conformance test).
//
// This class owns the node list and is the one entry jobs and commands use; the work is in
// block-layer/: opening nodes (open-node.ts), edges and permissions (node-graph.ts), guest
// requests and block status (guest-io.ts), filenames and query output (node-info.ts), image
// creation (create-image.ts), over the node records of node.ts.

import type {
  BlkdebugInjectErrorOptions,
  BlockDeviceInfo,
  BlockdevCreateOptions,
  BlockdevOptions,
} from '@qmpkit/qapi-types/7.2';
import { DirtyBitmaps } from './bitmaps/dirty-bitmap.js';
import { PersistentBitmaps } from './bitmaps/persistence.js';
import { type BlkdebugIoType, BlkdebugState, type InjectedError } from './blkdebug.js';
import { createImage } from './block-layer/create-image.js';
import { blockStatus, recordWrite, requestError } from './block-layer/guest-io.js';
import type { BlockChild, BlockNode, BlockStatusExtent, ExternalUser } from './block-layer/node.js';
import { NodeData } from './block-layer/node-data.js';
import {
  attach,
  commitLocks,
  cumulativePermissions,
  detachFromChild,
  refreshPermissions,
  releaseBackingBlocker,
} from './block-layer/node-graph.js';
import {
  blockDeviceInfo,
  filterDeviceInfo,
  type JobFilterNode,
  type NodeBitmaps,
} from './block-layer/node-info.js';
import { fileNodePath, type MutableNode, type NodeUser } from './block-layer/node-state.js';
import { checkNewNodeName, NodeOpener, probeImageFormat } from './block-layer/open-node.js';
import { canonicalBlockdevOptions } from './blockdev-options.js';
import { genericError } from './errors.js';
import type { ImageStore } from './image-store.js';
import { BLK_PERM, NO_PERMISSIONS, type Permissions } from './permissions.js';
import { changeQcow2BackingFile, type Qcow2AllocationMap } from './qcow2.js';
import { BlockSchema, type RuntimeSchema } from './schema.js';

export type {
  BlockChild,
  BlockNode,
  BlockStatus,
  BlockStatusExtent,
  CacheMode,
  ChildName,
  ExternalUser,
} from './block-layer/node.js';

export interface BlockLayerOptions {
  readonly store: ImageStore;
  /**
   * QEMU's runtime schema, as `@qmpkit/server` takes it (`schema` and `schemaExtras`; for QEMU
   * 7.2, `qmpSchema` and `qmpSchemaExtras` of @qmpkit/qapi-types): blockdev options are read,
   * converted and ordered by it. Handed in, so this MIT package never loads the GPL schema.
   */
  readonly schema: RuntimeSchema;
  /**
   * The two digits QEMU appends to generated node names (`#block` + counter + two random
   * digits). Defaults to a fixed pseudo-random sequence so runs are reproducible.
   */
  readonly autoNameDigits?: (counter: number) => number;
}

function defaultDigits(counter: number): number {
  return (counter * 37 + 11) % 100;
}

export class BlockLayer {
  readonly #store: ImageStore;
  readonly #digits: (counter: number) => number;
  /** All nodes in creation order (QEMU's graph_bdrv_states). */
  readonly #nodes: MutableNode[] = [];
  readonly #opener: NodeOpener;
  #autoCounter = 0;
  /** Job filters in creation order, each with the nodes older than it. */
  readonly #filters: Array<{
    filter: JobFilterNode;
    older: readonly BlockNode[];
    /** When it went in (mark()). */
    at: number;
  }> = [];
  #marks = 0;

  /** The lookups in the runtime schema this block layer was built with. */
  readonly schema: BlockSchema;
  /**
   * Every node's dirty bitmaps (query-named-block-nodes shows them).
   * @internal Reached through the simulator's commands; not public API yet.
   */
  readonly dirtyBitmaps = new DirtyBitmaps();
  /**
   * What the nodes hold: guest writes and the chunks jobs copy land here, reads see them.
   * @internal Reached through exports and the job runtime; not public API yet.
   */
  readonly nodeData: NodeData;
  /** Persistent bitmaps in qcow2 images (loaded on open, stored on close). */
  readonly #persistentBitmaps: PersistentBitmaps;
  /** Where failures to store an image's metadata on close go (QEMU: stderr). */
  onCloseError: ((message: string) => void) | undefined;
  /**
   * Called once for each change of the block graph that QEMU makes under the graph's write lock
   * (bdrv_graph_wrlock) while the layer opens and closes nodes: a child attached, a format
   * probe's BlockBackend attached or dropped, a failed open undone, a node closed (see
   * block-layer/open-node.ts). From QEMU 8.2 on each one drains every node, so the simulator
   * pauses and resumes its jobs there. Called when the operation that made them has finished.
   */
  onGraphChange: (() => void) | undefined;
  /** Graph changes made by the operation under way, reported when it has finished. */
  #graphChanges = 0;

  constructor(options: BlockLayerOptions) {
    this.#store = options.store;
    this.nodeData = new NodeData(this.#store);
    this.#persistentBitmaps = new PersistentBitmaps(this.dirtyBitmaps, this.#store);
    this.schema = new BlockSchema(options.schema);
    this.#digits = options.autoNameDigits ?? defaultDigits;
    this.#opener = new NodeOpener({
      store: this.#store,
      schema: this.schema,
      nodes: this.#nodes,
      qcow2Opened: (node) => this.#persistentBitmaps.load(node),
      generatedNodeName: () => this.generatedNodeName(),
      isJobFilterName: (name) => this.hasJobFilter(name),
      graphChanged: () => {
        this.#graphChanges++;
      },
    });
  }

  /**
   * A name for a node opened without node-name: `#block` + counter + two digits.
   * @internal Also a job filter's (bitmaps/job-bitmaps.ts).
   */
  generatedNodeName(): string {
    const counter = this.#autoCounter++;
    return `#block${counter}${String(this.#digits(counter) % 100).padStart(2, '0')}`;
  }

  // ---- job filters --------------------------------------------------------------------------

  /**
   * A job's filter node above `filter.child` (listed by query-named-block-nodes, newer than
   * every node there now); returns what takes it out again. With `onChild`, the filter uses its
   * child with those permissions: users attached to the child later must respect what it does
   * not share (the child's users now are above the filter).
   * @internal The runtime's; the filters are not nodes of the graph.
   */
  addJobFilter(
    filter: JobFilterNode,
    onChild?: { readonly childName: string; readonly perm: number; readonly shared: number },
  ): () => void {
    const entry = { filter, older: [...this.#nodes], at: this.mark() };
    this.#filters.push(entry);
    const detach =
      onChild === undefined
        ? undefined
        : this.attachUser(filter.child, {
            desc: `node '${filter.nodeName}'`,
            ...onChild,
            backend: false,
            filter: true,
          });
    return () => {
      detach?.();
      const at = this.#filters.indexOf(entry);
      if (at >= 0) this.#filters.splice(at, 1);
    };
  }

  /**
   * The job filter sitting right above `node` (the newest, if several are stacked): it took the
   * node's parents when it went in (bdrv_insert_node), so they reach the node through it. With
   * `since` (a mark()), only a filter inserted after that moment.
   * @internal
   */
  jobFilterAbove(node: BlockNode, since = -1): JobFilterNode | undefined {
    for (let i = this.#filters.length - 1; i >= 0; i--) {
      const { filter, at } = this.#filters[i] as { filter: JobFilterNode; at: number };
      if (filter.child === node && at > since) return filter;
    }
    return undefined;
  }

  /**
   * A mark of this moment in the graph's life: a user of a node attached now is below the job
   * filters inserted over the node before it, and above those inserted after
   * (jobFilterAbove(node, mark)).
   * @internal
   */
  mark(): number {
    return this.#marks++;
  }

  /**
   * Whether a job's filter has this node-name.
   * @internal
   */
  hasJobFilter(nodeName: string): boolean {
    return this.#filters.some((e) => e.filter.nodeName === nodeName);
  }

  // ---- lookup -------------------------------------------------------------------------------

  /** The node with this node-name, if any. */
  findNode(nodeName: string): BlockNode | undefined {
    return this.#nodes.find((n) => n.nodeName === nodeName);
  }

  /**
   * Throws QEMU's error if a node could not be made with this name now (a job's filter node):
   * invalid, already taken, or too long.
   */
  checkNewNodeName(nodeName: string): void {
    checkNewNodeName(nodeName, this.#nodes);
    // A running job's filter node holds its name too.
    if (this.hasJobFilter(nodeName)) {
      throw genericError(`Duplicate nodes with node-name='${nodeName}'`);
    }
  }

  /**
   * A test hook beyond QEMU (qmpkit-server's io-error fault): blkdebug inject-error rules on a
   * node of any driver, as if a blkdebug node sat right on top of it — requests a job sends to
   * the node fail as blkdebug would fail them, and the job's error policy follows. Rules for
   * the `none` event are armed at once. Replaces rules injected earlier on the node; not for
   * blkdebug nodes (use their own options).
   */
  injectErrors(name: string, rules: readonly BlkdebugInjectErrorOptions[]): void {
    const node = this.#mutable(this.lookupNode(name));
    if (node.driver === 'blkdebug') {
      throw genericError(`Node '${name}' is a blkdebug node: give it inject-error rules`);
    }
    Object.assign(node, { blkdebug: new BlkdebugState(rules) });
  }

  /**
   * The node named `name`, or QEMU's lookup error for block job commands and references:
   * `Cannot find device='X' nor node-name='X'`.
   */
  lookupNode(name: string): BlockNode {
    const node = this.findNode(name);
    if (!node) throw genericError(`Cannot find device='${name}' nor node-name='${name}'`);
    return node;
  }

  /** Every node, newest first (the order of query-named-block-nodes). */
  nodes(): readonly BlockNode[] {
    return [...this.#nodes].reverse();
  }

  /** Parents of a node (nodes that have it as a child), newest first. */
  parentsOf(node: BlockNode): readonly BlockNode[] {
    return this.#parentNodes(this.#mutable(node));
  }

  #parentNodes(node: MutableNode): MutableNode[] {
    const parents: MutableNode[] = [];
    for (const user of node.users) if (user.kind === 'node') parents.push(user.parent);
    return parents;
  }

  /** Whether `name` is a node the user added with blockdev-add (and so can delete). */
  isMonitorOwned(node: BlockNode): boolean {
    return this.#mutable(node).monitorOwned;
  }

  /** For qcow2 nodes: which guest clusters the image itself holds (read at open time). */
  allocationMap(node: BlockNode): Qcow2AllocationMap | undefined {
    return this.#mutable(node).allocation;
  }

  // ---- job usage ----------------------------------------------------------------------------

  /**
   * Puts an op blocker on the node, as a block job does on every node it works on: blockdev-del
   * and further job creation then fail with `Node 'X' is busy: <reason>`. QEMU's reason for a
   * job is `block device is in use by block job: <type>` (see `jobBlockerReason`). Returns the
   * function that lifts the blocker.
   */
  block(node: BlockNode, reason: string): () => void {
    const blocker = { reason };
    const mutable = this.#mutable(node);
    mutable.blockers.unshift(blocker);
    return () => {
      const index = mutable.blockers.indexOf(blocker);
      if (index >= 0) mutable.blockers.splice(index, 1);
    };
  }

  /**
   * Attaches a user from outside the graph (a job's child, a BlockBackend) with the permissions
   * it needs, as QEMU does when a job or a BlockBackend takes a node: if another user of the node
   * (or of the same image file) does not share them, this throws QEMU's `Permission conflict …`
   * or `Failed to get "write" lock`. Returns the detach function.
   */
  attachUser(node: BlockNode, user: ExternalUser): () => void {
    const mutable = this.#mutable(node);
    const entry: NodeUser = {
      kind: 'external',
      desc: user.desc,
      childName: user.childName,
      permissions: { perm: user.perm & BLK_PERM.ALL, shared: user.shared & BLK_PERM.ALL },
      backend: user.backend,
      ...(user.filter === true ? { above: new Set(mutable.users) } : {}),
    };
    mutable.users.unshift(entry);
    try {
      refreshPermissions(this.#nodes, mutable);
    } catch (error) {
      mutable.users.splice(mutable.users.indexOf(entry), 1);
      commitLocks(this.#nodes);
      throw error;
    }
    let attached = true;
    return () => {
      if (!attached) return;
      attached = false;
      // A BlockBackend may have moved to another node since (replaceNode).
      for (const n of this.#nodes) {
        const at = n.users.indexOf(entry);
        if (at >= 0) n.users.splice(at, 1);
      }
      commitLocks(this.#nodes);
    };
  }

  /**
   * bdrv_replace_node(), as a mirror or an active commit that completes puts its target in its
   * source's place: the source's BlockBackends (an NBD export's) now use the target. Nodes have
   * no parent nodes there (a job's device is a root node). Calls `onNodeReplaced` listeners.
   * @internal
   */
  replaceNode(from: BlockNode, to: BlockNode): void {
    const source = this.#mutable(from);
    const target = this.#mutable(to);
    const moved = source.users.filter((u) => u.kind === 'external' && u.backend);
    if (moved.length === 0) return;
    source.users = source.users.filter((u) => !moved.includes(u));
    target.users.unshift(...moved);
    commitLocks(this.#nodes);
    for (const listener of this.onNodeReplaced) listener(from, to);
  }

  /**
   * Who follows a node replacement (the NBD exports, whose node changes).
   * @internal
   */
  readonly onNodeReplaced: Array<(from: BlockNode, to: BlockNode) => void> = [];

  /**
   * Attaches an unnamed BlockBackend (as a job or an export has): blockdev-del then fails with
   * `Node X is in use`. By default it needs nothing and shares everything.
   */
  attachBackend(node: BlockNode, permissions: Permissions = NO_PERMISSIONS): () => void {
    return this.attachUser(node, {
      desc: 'an unnamed block device',
      childName: 'root',
      perm: permissions.perm,
      shared: permissions.shared,
      backend: true,
    });
  }

  /** The permissions all users of the node need, and the ones all of them share. */
  permissions(node: BlockNode): Permissions {
    return cumulativePermissions(this.#mutable(node));
  }

  /** Throws QEMU's `Node 'X' is busy: <reason>` if the node carries an op blocker. */
  assertNotBusy(node: BlockNode): void {
    const blocker = this.#mutable(node).blockers[0];
    if (blocker) throw genericError(`Node '${node.nodeName}' is busy: ${blocker.reason}`);
  }

  // ---- blockdev-add -------------------------------------------------------------------------

  /**
   * blockdev-add: opens the node (and its inline children) or throws QEMU's error. Returns the
   * nodes it opened, children first.
   */
  add(options: BlockdevOptions): readonly BlockNode[] {
    const nodeName = options['node-name'];
    if (typeof nodeName !== 'string') {
      throw genericError("'node-name' must be specified for the root node");
    }
    const created: MutableNode[] = [];
    try {
      const canonical = canonicalBlockdevOptions(options, this.schema);
      this.#opener.open(canonical, created).monitorOwned = true;
    } catch (error) {
      this.#rollback(created);
      throw error;
    } finally {
      this.#reportGraphChanges();
    }
    return [...created];
  }

  /** The nodes a failed blockdev-add had opened are closed again (a graph change each). */
  #rollback(created: readonly MutableNode[]): void {
    for (const node of created) this.#closeImage(node);
    for (const node of created) {
      const index = this.#nodes.indexOf(node);
      if (index >= 0) this.#nodes.splice(index, 1);
      for (const child of node.children) detachFromChild(child, node);
      this.#graphChanges++;
    }
    commitLocks(this.#nodes);
  }

  #reportGraphChanges(): void {
    const changes = this.#graphChanges;
    this.#graphChanges = 0;
    for (let i = 0; i < changes; i++) this.onGraphChange?.();
  }

  #mutable(node: BlockNode): MutableNode {
    if (!this.#nodes.includes(node as MutableNode)) {
      throw new Error(`node '${node.nodeName}' is not part of this block layer`);
    }
    return node as MutableNode;
  }

  // ---- guest requests and injected errors ---------------------------------------------------

  /**
   * A guest request of `iotype` on [offset, offset + bytes) of `node`, as a job issues it: the
   * block-layer events QEMU's drivers raise on the way down are raised (raw: read_aio and
   * write_aio on its file; qcow2: read_aio, read_backing_aio, read_compressed and write_aio on
   * its file, per stretch of clusters), and the first error a blkdebug node below injects is
   * returned. No data moves. qcow2 writes to clusters the image does not hold yet are placed at
   * the end of the image file, where QEMU would allocate them.
   */
  requestError(
    node: BlockNode,
    iotype: BlkdebugIoType,
    offset: number,
    bytes: number,
  ): InjectedError | undefined {
    return requestError(this.#mutable(node), iotype, offset, bytes);
  }

  /**
   * bdrv_block_status_above() over [offset, offset + bytes) of `node`, down its whole chain:
   * stretches holding data, reading as zeroes (a file's hole, a qcow2 zero cluster or one
   * unallocated down to the end of the chain, null-co with read-zeroes), or neither (null-co
   * without read-zeroes). A mirror reads only data; block-copy (backup) all but zeroes.
   */
  blockStatus(node: BlockNode, offset: number, bytes: number): BlockStatusExtent[] {
    return blockStatus(this.#store, this.#mutable(node), offset, bytes);
  }

  /**
   * A job wrote [offset, offset + bytes) of `node` (a stream's copy-on-read into its top, a
   * commit into its base, a mirror or backup into its target): the nodes down its data path
   * now hold those bytes, so later block-status queries (a new job's allocation walk) see them.
   * qcow2 allocates the clusters it did not hold, at the end of its image file; null-co drops
   * the data; a file holds every byte already. No data moves.
   */
  recordWrite(node: BlockNode, offset: number, bytes: number): void {
    recordWrite(this.#mutable(node), offset, bytes);
  }

  // ---- graph changes jobs make ---------------------------------------------------------------

  /**
   * Keeps the node open without using it (bdrv_ref), as a job keeps the nodes it dropped from
   * the chain until it is freed. Returns the release (bdrv_unref): a node nothing else keeps is
   * closed then, with what only it kept below.
   */
  hold(node: BlockNode): () => void {
    const mutable = this.#mutable(node);
    mutable.holds++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      mutable.holds--;
      this.#unref(mutable);
      commitLocks(this.#nodes);
      this.#reportGraphChanges();
    };
  }

  /**
   * bdrv_set_backing_hd() and bdrv_change_backing_file(), as a finished stream or commit does
   * them: `node`'s backing child becomes `backing` (undefined: the chain ends at `node`), and
   * its image header names `backingFile` in `backingFormat` instead of the old backing file.
   * The old backing node loses this parent; unless something else keeps it (its user, the
   * monitor, a job's hold), it is closed with what only it kept below.
   */
  setBacking(
    node: BlockNode,
    backing: BlockNode | undefined,
    backingFile: string | undefined,
    backingFormat: string | undefined,
  ): void {
    const mutable = this.#mutable(node);
    const old = mutable.children.find((c) => c.name === 'backing');
    if (old?.node !== backing) {
      if (backing !== undefined) {
        attach(this.#nodes, mutable, 'backing', this.#mutable(backing));
        // The new edge takes the old one's place among the children.
        const edge = mutable.children.pop() as BlockChild;
        if (old !== undefined) mutable.children.splice(mutable.children.indexOf(old), 0, edge);
        else mutable.children.push(edge);
      }
      if (old !== undefined) {
        mutable.children.splice(mutable.children.indexOf(old), 1);
        const oldNode = old.node as MutableNode;
        const at = oldNode.users.findIndex(
          (u) => u.kind === 'node' && u.parent === mutable && u.childName === 'backing',
        );
        if (at >= 0) oldNode.users.splice(at, 1);
        releaseBackingBlocker(old, mutable);
        this.#unref(oldNode);
      }
    }
    if (mutable.qcow2 !== undefined) {
      mutable.qcow2 = { ...mutable.qcow2, backingFile, backingFormat };
      this.#writeBackingFile(mutable, backingFile, backingFormat);
    }
    mutable.autoBackingFile = backingFile ?? '';
    commitLocks(this.#nodes);
    this.#reportGraphChanges();
  }

  /**
   * qcow2_change_backing_file(): the image file's header names the new backing file at once, so
   * the image opens with it after the daemon has gone (qemu-img info shows it). QEMU fails the
   * job when the header cannot be written; a failure here goes where close failures go.
   */
  #writeBackingFile(
    node: MutableNode,
    backingFile: string | undefined,
    backingFormat: string | undefined,
  ): void {
    const path = fileNodePath(node);
    if (path === undefined) return;
    try {
      changeQcow2BackingFile(
        {
          read: (offset, length) => this.#store.read(path, offset, length),
          write: (offset, data) => this.#store.write(path, offset, data),
        },
        backingFile,
        backingFormat,
      );
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.onCloseError?.(`Could not update the backing file of '${node.nodeName}': ${reason}`);
    }
  }

  // ---- blockdev-del -------------------------------------------------------------------------

  /**
   * blockdev-del, with QEMU's checks in QEMU's order. Returns how many nodes it closed: the node
   * and the children nothing else keeps.
   */
  del(nodeName: string): number {
    const node = this.#nodes.find((n) => n.nodeName === nodeName);
    if (!node) throw genericError(`Failed to find node with node-name='${nodeName}'`);
    if (node.users.some((u) => u.kind === 'external' && u.backend)) {
      throw genericError(`Node ${nodeName} is in use`);
    }
    this.assertNotBusy(node);
    if (!node.monitorOwned) throw genericError(`Node ${nodeName} is not owned by the monitor`);
    if (node.users.length > 0) throw genericError(`Block device ${nodeName} is in use`);
    node.monitorOwned = false;
    const closed = this.#unref(node);
    commitLocks(this.#nodes);
    this.#reportGraphChanges();
    return closed;
  }

  /**
   * Closes the node unless something keeps it, then its children; how many it closed. Each
   * close is a graph change (bdrv_close detaches the node's children under the write lock).
   */
  #unref(node: MutableNode): number {
    if (node.monitorOwned || node.users.length > 0 || node.holds > 0) return 0;
    let closed = 1;
    this.#graphChanges++;
    this.#closeImage(node);
    const index = this.#nodes.indexOf(node);
    if (index >= 0) this.#nodes.splice(index, 1);
    for (const child of node.children) {
      detachFromChild(child, node);
      closed += this.#unref(child.node as MutableNode);
    }
    return closed;
  }

  /**
   * What closing a node does to its image (bdrv_close): a qcow2 node writes the data jobs left
   * in memory into its image file, then stores its persistent bitmaps. QEMU reports a failure on stderr and closes anyway; so does the layer, through
   * `onCloseError`.
   */
  #closeImage(node: BlockNode): void {
    try {
      this.nodeData.flush(node);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.onCloseError?.(`Failed to flush the data of '${node.nodeName}': ${message}`);
    }
    const failure = this.#persistentBitmaps.store(node);
    if (failure !== undefined) {
      this.onCloseError?.(`Failed to flush the bitmap data of '${node.nodeName}': ${failure}`);
    }
  }

  /**
   * Closes every node's image as QEMU does when it quits (bdrv_close_all): qcow2 nodes store
   * their persistent bitmaps. The layer is not used afterwards.
   */
  closeAll(): void {
    for (const node of this.nodes()) this.#closeImage(node);
  }

  /**
   * block-dirty-bitmap-remove of a persistent bitmap: it leaves the node's image at once.
   * @internal
   */
  removePersistentBitmap(node: BlockNode, name: string): void {
    this.#persistentBitmaps.remove(node, name);
  }

  // ---- query-named-block-nodes --------------------------------------------------------------

  /** query-named-block-nodes: every node, newest first; `flat` leaves out backing images. */
  queryNamedBlockNodes(flat = false): BlockDeviceInfo[] {
    // Creation order, each filter right after the newest node still here that is older than it.
    const entries: Array<{ node: BlockNode } | { filter: JobFilterNode }> = this.#nodes.map(
      (node) => ({ node }),
    );
    for (const { filter, older } of this.#filters) {
      let at = 0;
      for (let i = older.length - 1; i >= 0 && at === 0; i--) {
        at = entries.findIndex((e) => 'node' in e && e.node === older[i]) + 1;
      }
      // After the older filters placed there already: a filter is newer than those.
      while (at < entries.length && 'filter' in (entries[at] as object)) at++;
      entries.splice(at, 0, { filter });
    }
    const bitmaps = this.#nodeBitmaps();
    const above = (node: BlockNode) => this.jobFilterAbove(node);
    return entries
      .reverse()
      .map((e) =>
        'node' in e
          ? blockDeviceInfo(this.#mutable(e.node), flat, bitmaps, above)
          : filterDeviceInfo(e.filter, flat, bitmaps, above),
      );
  }

  /** One node's BlockDeviceInfo, as query-named-block-nodes shows it. */
  blockDeviceInfo(node: BlockNode, flat = false): BlockDeviceInfo {
    return blockDeviceInfo(this.#mutable(node), flat, this.#nodeBitmaps(), (n) =>
      this.jobFilterAbove(n),
    );
  }

  #nodeBitmaps(): NodeBitmaps {
    return {
      inMemory: this.dirtyBitmaps,
      inImage: (n) => this.#persistentBitmaps.describe(n),
    };
  }

  // ---- blockdev-create ----------------------------------------------------------------------

  /**
   * The work of a `create` job: validates the options as QEMU's driver does and writes an empty
   * image. Throws a CommandError whose desc is what QEMU reports as the job's `error`. With
   * `graphChanges` (bdrv_img_create of a drive-* command, a create job's run on 10.0), the graph
   * changes the driver makes formatting the image are reported (onGraphChange).
   */
  create(options: BlockdevCreateOptions, how: { readonly graphChanges?: boolean } = {}): void {
    try {
      createImage(
        {
          store: this.#store,
          nodes: this.#nodes,
          lookupNode: (name) => this.lookupNode(name),
          attachBackend: (node, permissions) => this.attachBackend(node, permissions),
          graphChanged: () => {
            this.#graphChanges++;
          },
        },
        options,
      );
    } finally {
      // Without `graphChanges` (a create job run inside the command on 7.2, whose graph lock
      // drains nothing) they are not reported.
      if (how.graphChanges !== true) this.#graphChanges = 0;
      this.#reportGraphChanges();
    }
  }

  /**
   * The format bdrv_open() finds for an image file given without one: qcow2 by its magic,
   * anything else raw.
   */
  probeFormat(path: string): 'qcow2' | 'raw' {
    return probeImageFormat(this.#store, path);
  }
}

/** QEMU's op-blocker reason for a node a block job works on. */
export function jobBlockerReason(jobType: string): string {
  return `block device is in use by block job: ${jobType}`;
}
