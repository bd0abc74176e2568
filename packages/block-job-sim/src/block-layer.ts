// The simulated block layer: a graph of nodes built by blockdev-add, taken apart by
// blockdev-del, described by query-named-block-nodes, and images made by blockdev-create.
// Node metadata (lengths, qcow2 headers, allocation) comes from the real image files through an
// ImageStore; guest data is never read or copied. Errors use QEMU 7.2's classes and texts
// (recorded from qemu-storage-daemon 7.2.22; see block-layer.test.ts and the conformance test).

import { CommandError, encodeJson, qemuMemberOrder, strerror } from '@qmpkit/protocol';
import type {
  BlkdebugInjectErrorOptions,
  BlockDeviceInfo,
  BlockdevCreateOptions,
  BlockdevCreateOptionsFile,
  BlockdevCreateOptionsQcow2,
  BlockdevOptions,
  BlockdevRef,
  BlockPermission,
  ImageInfo,
} from '@qmpkit/qapi-types/7.2';
import { DirtyBitmaps } from './bitmaps/dirty-bitmap.js';
import { type BlkdebugIoType, BlkdebugState, type InjectedError } from './blkdebug.js';
import { canonicalOrder } from './blockdev-options.js';
import { genericError } from './errors.js';
import { combinePath, type FileExtent, type ImageStore, ImageStoreError } from './image-store.js';
import {
  BLK_PERM,
  type ChildRole,
  defaultChildPermissions,
  NO_PERMISSIONS,
  type Permissions,
  permissionBits,
  permissionBitsOf,
  permissionNames,
  rawChildPermissions,
} from './permissions.js';
import { isSimulatedDriver, type SimulatedDriver } from './qapi.js';
import {
  buildEmptyQcow2,
  type Qcow2AllocationMap,
  Qcow2FormatError,
  type Qcow2Header,
  readQcow2AllocationMap,
  readQcow2Header,
} from './qcow2.js';
import { BlockSchema, type RuntimeSchema } from './schema.js';

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
interface Inherited extends CacheMode {
  readonly forceShare: boolean;
}

const DEFAULT_CACHE: Inherited = { direct: false, noFlush: false, forceShare: false };

/** Who uses a node: a parent node through one of its children, or something outside the graph. */
type NodeUser =
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

interface MutableNode extends BlockNode {
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

const DEFAULT_NULL_SIZE = 1 << 30;
const MAX_NODE_NAME = 31;
const NODE_NAME = /^[A-Za-z][A-Za-z0-9_.-]*$/;
/** Bound on nesting of inline node definitions (QEMU has none short of its JSON depth limit). */
const MAX_DEPTH = 64;

function roundUpToSector(bytes: number): number {
  return Math.ceil(bytes / 512) * 512;
}

function defaultDigits(counter: number): number {
  return (counter * 37 + 11) % 100;
}

const UNSUPPORTED_NODE_OPTIONS: Readonly<Record<string, readonly string[]>> = {
  qcow2: ['data-file', 'encrypt'],
  blkdebug: ['config'],
};

function notSimulated(what: string): CommandError {
  return genericError(`qmpkit does not simulate ${what}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A JSON value as QEMU's QObject model holds it. */
type QValue = null | boolean | number | string | readonly QValue[] | QDictLike;
interface QDictLike {
  readonly [key: string]: QValue;
}

/** How QEMU prints a QDict into a `json:{…}` filename (qobject_to_json, members in QDict order). */
const QEMU_JSON = { style: 'qemu', memberOrder: 'qemu' } as const;

/** One node's options as QEMU holds them (bs->options): flattened keys in insertion order. */
type FlatOptions = ReadonlyArray<readonly [string, QValue]>;

/**
 * qdict_flatten() of a whole blockdev-add argument: scalars stay where they are, nested
 * objects and lists are appended as `a.b` / `a.0` keys, walked in QDict order.
 */
function flattenOptions(options: Record<string, unknown>): FlatOptions {
  const out: Array<readonly [string, QValue]> = [];
  const keys = Object.keys(options);
  for (const key of keys) {
    const value = options[key];
    if (!isRecord(value) && !Array.isArray(value)) out.push([key, value as QValue]);
  }
  const walk = (value: unknown, prefix: string) => {
    if (isRecord(value)) {
      for (const key of qemuMemberOrder(Object.keys(value))) walk(value[key], `${prefix}.${key}`);
    } else if (Array.isArray(value)) {
      for (const [i, item] of value.entries()) walk(item, `${prefix}.${i}`);
    } else out.push([prefix, value as QValue]);
  };
  for (const key of qemuMemberOrder(keys)) {
    const value = options[key];
    if (isRecord(value) || Array.isArray(value)) walk(value, key);
  }
  return out;
}

/** qdict_extract_subqdict(): a child's options, taken from its parent's in QDict order. */
function extractChildOptions(parent: FlatOptions, child: string): FlatOptions {
  const byKey = new Map(parent);
  const prefix = `${child}.`;
  return qemuMemberOrder(parent.map(([key]) => key))
    .filter((key) => key.startsWith(prefix))
    .map((key) => [key.slice(prefix.length), byKey.get(key) as QValue] as const);
}

/** Strong runtime options per driver (QEMU's *_strong_runtime_opts; a trailing '.' is a prefix). */
const STRONG_OPTIONS: Readonly<Record<SimulatedDriver, readonly string[]>> = {
  'null-co': ['size', 'read-zeroes'],
  file: ['filename'],
  raw: ['offset', 'size'],
  qcow2: [],
  blkdebug: [
    'config',
    'inject-error.',
    'set-state.',
    'align',
    'max-transfer',
    'opt-write-zero',
    'max-write-zero',
    'opt-discard',
    'max-discard',
  ],
};

interface RefreshedName {
  readonly exact: string;
  readonly full: QDictLike;
  readonly filename: string;
}

export class BlockLayer {
  readonly #store: ImageStore;
  readonly #digits: (counter: number) => number;
  /** All nodes in creation order (QEMU's graph_bdrv_states). */
  readonly #nodes: MutableNode[] = [];
  #autoCounter = 0;

  /** The lookups in the runtime schema this block layer was built with. */
  readonly schema: BlockSchema;
  /**
   * Every node's dirty bitmaps (query-named-block-nodes shows them).
   * @internal Reached through the simulator's commands; not public API yet.
   */
  readonly dirtyBitmaps = new DirtyBitmaps();

  constructor(options: BlockLayerOptions) {
    this.#store = options.store;
    this.schema = new BlockSchema(options.schema);
    this.#digits = options.autoNameDigits ?? defaultDigits;
  }

  // ---- lookup -------------------------------------------------------------------------------

  /** The node with this node-name, if any. */
  findNode(nodeName: string): BlockNode | undefined {
    return this.#nodes.find((n) => n.nodeName === nodeName);
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
    };
    mutable.users.unshift(entry);
    try {
      this.#refreshPermissions(mutable);
    } catch (error) {
      mutable.users.splice(mutable.users.indexOf(entry), 1);
      this.#commitLocks();
      throw error;
    }
    let attached = true;
    return () => {
      if (!attached) return;
      attached = false;
      const at = mutable.users.indexOf(entry);
      if (at >= 0) mutable.users.splice(at, 1);
      this.#commitLocks();
    };
  }

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
    return this.#cumulative(this.#mutable(node));
  }

  /** Throws QEMU's `Node 'X' is busy: <reason>` if the node carries an op blocker. */
  assertNotBusy(node: BlockNode): void {
    const blocker = this.#mutable(node).blockers[0];
    if (blocker) throw genericError(`Node '${node.nodeName}' is busy: ${blocker.reason}`);
  }

  // ---- blockdev-add -------------------------------------------------------------------------

  /** blockdev-add: opens the node (and its inline children) or throws QEMU's error. */
  add(options: BlockdevOptions): void {
    const nodeName = options['node-name'];
    if (typeof nodeName !== 'string') {
      throw genericError("'node-name' must be specified for the root node");
    }
    const created: MutableNode[] = [];
    try {
      const canonical = canonicalOrder(options, this.schema) as BlockdevOptions;
      const node = this.#open(
        canonical,
        false,
        created,
        0,
        flattenOptions(canonical as unknown as Record<string, unknown>),
        DEFAULT_CACHE,
      );
      node.monitorOwned = true;
    } catch (error) {
      this.#rollback(created);
      throw error;
    }
  }

  #rollback(created: readonly MutableNode[]): void {
    for (const node of created) {
      const index = this.#nodes.indexOf(node);
      if (index >= 0) this.#nodes.splice(index, 1);
      for (const child of node.children) {
        const users = (child.node as MutableNode).users;
        const at = users.findIndex((u) => u.kind === 'node' && u.parent === node);
        if (at >= 0) users.splice(at, 1);
        this.#releaseBackingBlocker(child, node);
      }
    }
    this.#commitLocks();
  }

  #resolveRef(
    ref: BlockdevRef,
    readOnly: boolean,
    created: MutableNode[],
    depth: number,
    parentFlat: FlatOptions,
    childName: ChildName,
    cache: Inherited,
  ): MutableNode {
    if (typeof ref === 'string') {
      const node = this.#nodes.find((n) => n.nodeName === ref);
      if (!node) throw genericError(`Cannot find device='${ref}' nor node-name='${ref}'`);
      return node;
    }
    return this.#open(
      ref,
      readOnly,
      created,
      depth + 1,
      extractChildOptions(parentFlat, childName),
      cache,
    );
  }

  #checkNodeName(name: string): void {
    if (!NODE_NAME.test(name)) throw genericError(`Invalid node-name: '${name}'`);
    if (this.findNode(name)) throw genericError(`Duplicate nodes with node-name='${name}'`);
    if (name.length > MAX_NODE_NAME) throw genericError('Node name too long');
  }

  #register(node: MutableNode, created: MutableNode[]): void {
    this.#nodes.push(node);
    created.push(node);
  }

  #newNode(
    options: BlockdevOptions,
    driver: SimulatedDriver,
    readOnly: boolean,
    flat: FlatOptions,
    cache: Inherited,
  ): MutableNode {
    if (options['detect-zeroes'] === 'unmap' && options.discard !== 'unmap') {
      throw genericError(
        'setting detect-zeroes to unmap is not allowed without setting discard operation to unmap',
      );
    }
    const given = options['node-name'];
    let nodeName: string;
    if (given !== undefined) {
      this.#checkNodeName(given);
      nodeName = given;
    } else {
      const counter = this.#autoCounter++;
      nodeName = `#block${counter}${String(this.#digits(counter) % 100).padStart(2, '0')}`;
    }
    return {
      nodeName,
      driver,
      userNamed: given !== undefined,
      readOnly,
      length: 0,
      children: [],
      get file() {
        return this.children.find((c) => c.name === 'file' || c.name === 'image')?.node;
      },
      get backing() {
        return this.children.find((c) => c.name === 'backing')?.node;
      },
      filename: undefined,
      qcow2: undefined,
      blkdebug: undefined,
      readZeroes: false,
      cache: { direct: cache.direct, noFlush: cache.noFlush },
      forceShare: cache.forceShare,
      users: [],
      monitorOwned: false,
      blockers: [],
      locking: false,
      lockIdentity: undefined,
      locked: NO_PERMISSIONS,
      options: options as unknown as Record<string, unknown>,
      flat: flat.filter(([key]) => !/^(file|image|backing)(\.|$)/.test(key)),
      fileStat: undefined,
      allocation: undefined,
      appendedEnd: 0,
      dataExtents: undefined,
      autoBackingFile: '',
    };
  }

  #attach(parent: MutableNode, name: ChildName, child: MutableNode): void {
    const edge: BlockChild = { name, node: child };
    const user: NodeUser = { kind: 'node', parent, childName: name };
    parent.children.push(edge);
    child.users.unshift(user);
    try {
      this.#refreshPermissions(child);
    } catch (error) {
      parent.children.splice(parent.children.indexOf(edge), 1);
      child.users.splice(child.users.indexOf(user), 1);
      this.#commitLocks();
      throw error;
    }
    if (name === 'backing') {
      child.blockers.unshift({ reason: `node is used as backing hd of '${parent.nodeName}'` });
    }
  }

  // ---- permissions --------------------------------------------------------------------------

  /** The role of a parent's child, which decides the permissions the parent takes on it. */
  #childRole(parent: MutableNode, childName: ChildName): ChildRole {
    if (childName === 'backing') return 'cow';
    if (parent.driver === 'qcow2') return 'metadata+data';
    if (parent.driver === 'raw') {
      const { offset, size } = parent.options as { offset?: number; size?: number };
      return offset !== undefined || size !== undefined ? 'data' : 'filtered';
    }
    return 'filtered';
  }

  /** bdrv_child_perm(): what a user takes on `child`; a force-share child shares everything. */
  #userPermissions(user: NodeUser, child?: MutableNode): Permissions {
    const own = this.#ownUserPermissions(user);
    return child?.forceShare ? { perm: own.perm, shared: BLK_PERM.ALL } : own;
  }

  #ownUserPermissions(user: NodeUser): Permissions {
    if (user.kind === 'external') return user.permissions;
    const parent = user.parent;
    const role = this.#childRole(parent, user.childName);
    const cumulative = this.#cumulative(parent);
    if (parent.driver === 'raw') return rawChildPermissions(role, cumulative, !parent.readOnly);
    const base = defaultChildPermissions(role, cumulative, !parent.readOnly);
    if (parent.driver === 'blkdebug') {
      // blkdebug_child_perm(): the take-child-perms / unshare-child-perms options.
      const options = parent.options as {
        'take-child-perms'?: readonly BlockPermission[];
        'unshare-child-perms'?: readonly BlockPermission[];
      };
      return {
        perm: base.perm | permissionBitsOf(options['take-child-perms'] ?? []),
        shared: base.shared & ~permissionBitsOf(options['unshare-child-perms'] ?? []),
      };
    }
    return base;
  }

  /** bdrv_get_cumulative_perm(): what all users need, and what all of them share. */
  #cumulative(node: MutableNode): Permissions {
    let perm = 0;
    let shared = BLK_PERM.ALL;
    for (const user of node.users) {
      const p = this.#userPermissions(user, node);
      perm |= p.perm;
      shared &= p.shared;
    }
    return { perm, shared };
  }

  #userDesc(user: NodeUser): string {
    return user.kind === 'node' ? `node '${user.parent.nodeName}'` : user.desc;
  }

  /**
   * bdrv_refresh_perms() after `start` got a new user: every node from `start` down is checked
   * for conflicting users, then file nodes for image locks held by other file nodes; on success
   * the file nodes' locks follow their new permissions.
   */
  #refreshPermissions(start: MutableNode): void {
    const order: MutableNode[] = [];
    const visit = (node: MutableNode) => {
      if (order.includes(node)) return;
      order.push(node);
      for (const child of node.children) visit(child.node as MutableNode);
    };
    visit(start);
    for (const node of order) {
      this.#checkUsers(node);
      const wanted = this.#cumulative(node);
      // Write permissions never work with read-only nodes.
      if ((wanted.perm & (BLK_PERM.WRITE | BLK_PERM.WRITE_UNCHANGED)) !== 0 && node.readOnly) {
        throw genericError('Block node is read-only');
      }
      if (node.driver === 'file') this.#checkLocks(node, wanted);
    }
    this.#commitLocks();
  }

  /** bdrv_parent_perms_conflict(): the first pair of users (newest first) that do not agree. */
  #checkUsers(node: MutableNode): void {
    for (const a of node.users) {
      const allowed = this.#userPermissions(a, node).shared;
      for (const b of node.users) {
        if (a === b) continue;
        const conflict = this.#userPermissions(b, node).perm & ~allowed;
        if (conflict === 0) continue;
        throw genericError(
          `Permission conflict on node '${node.nodeName}': permissions '${permissionNames(conflict)}' are both required by ${this.#userDesc(b)} (uses node '${node.nodeName}' as '${b.childName}' child) and unshared by ${this.#userDesc(a)} (uses node '${node.nodeName}' as '${a.childName}' child).`,
        );
      }
    }
  }

  /** raw_check_lock_bytes() against the locks other file nodes hold on the same file. */
  #checkLocks(node: MutableNode, wanted: Permissions): void {
    if (!node.locking) return;
    const grows =
      (node.locked.perm | wanted.perm) !== node.locked.perm ||
      (node.locked.shared & wanted.shared) !== node.locked.shared;
    if (!grows) return;
    this.#checkLockBytes(node.lockIdentity, wanted, node);
  }

  #checkLockBytes(identity: string | undefined, wanted: Permissions, self?: MutableNode): void {
    const others = this.#nodes.filter(
      (n) => n !== self && n.driver === 'file' && n.locking && n.lockIdentity === identity,
    );
    for (const bit of permissionBits(wanted.perm)) {
      if (others.some((o) => (o.locked.shared & bit) === 0)) {
        throw genericError(`Failed to get "${permissionNames(bit)}" lock`);
      }
    }
    for (const bit of permissionBits(BLK_PERM.ALL & ~wanted.shared)) {
      if (others.some((o) => (o.locked.perm & bit) !== 0)) {
        throw genericError(`Failed to get shared "${permissionNames(bit)}" lock`);
      }
    }
  }

  /** Every file node's locks follow its current permissions. */
  #commitLocks(): void {
    for (const node of this.#nodes) {
      if (node.driver === 'file')
        node.locked = node.locking ? this.#cumulative(node) : NO_PERMISSIONS;
    }
  }

  #releaseBackingBlocker(child: BlockChild, parent: MutableNode): void {
    if (child.name !== 'backing') return;
    const blockers = (child.node as MutableNode).blockers;
    const at = blockers.findIndex(
      (b) => b.reason === `node is used as backing hd of '${parent.nodeName}'`,
    );
    if (at >= 0) blockers.splice(at, 1);
  }

  #open(
    options: BlockdevOptions,
    inheritedReadOnly: boolean,
    created: MutableNode[],
    depth: number,
    flat: FlatOptions,
    inheritedCache: Inherited,
  ): MutableNode {
    if (depth > MAX_DEPTH) throw genericError('Block node definitions nested too deeply');
    const driver = options.driver;
    if (!isSimulatedDriver(driver)) {
      if (this.schema.isBlockdevDriver(driver)) throw notSimulated(`driver '${driver}'`);
      throw genericError(`Parameter 'driver' does not accept value '${driver}'`);
    }
    for (const option of UNSUPPORTED_NODE_OPTIONS[driver] ?? []) {
      if ((options as unknown as Record<string, unknown>)[option] !== undefined) {
        throw notSimulated(`the '${option}' option of driver '${driver}'`);
      }
    }
    const readOnly = options['read-only'] ?? inheritedReadOnly;
    // Children opened with their parent inherit its cache mode (bdrv_inherited_options).
    const cache: Inherited = {
      direct: options.cache?.direct ?? inheritedCache.direct,
      noFlush: options.cache?.['no-flush'] ?? inheritedCache.noFlush,
      forceShare: options['force-share'] ?? inheritedCache.forceShare,
    };
    if (cache.forceShare && !readOnly) {
      throw genericError('force-share=on can only be used with read-only images');
    }
    switch (options.driver) {
      case 'null-co': {
        const node = this.#newNode(options, driver, readOnly, flat, cache);
        const size = options.size ?? DEFAULT_NULL_SIZE;
        if (size < 0) {
          // QEMU 7.2 prints this and then aborts (error_abort in null_file_open); we only refuse.
          throw genericError("Parameter 'size' expects a non-negative number below 2^64");
        }
        const latency = options['latency-ns'] ?? 0;
        if (latency < 0 || latency >= 2 ** 63) {
          throw genericError('latency-ns is invalid');
        }
        Object.assign(node, { length: size, readZeroes: options['read-zeroes'] ?? false });
        this.#register(node, created);
        return node;
      }
      case 'file': {
        const filename = options.filename;
        let stat: { size: number; allocatedBytes: number };
        try {
          stat = this.#store.stat(filename);
        } catch (error) {
          throw this.#storeFailure(`Could not open '${filename}'`, error);
        }
        const node = this.#newNode(options, driver, readOnly, flat, cache);
        // Lengths are counted in 512-byte sectors, rounded up (bdrv_getlength).
        Object.assign(node, {
          length: roundUpToSector(stat.size),
          filename,
          fileStat: stat,
          locking: options.locking !== 'off',
          lockIdentity: this.#store.identify?.(filename) ?? filename,
        });
        this.#register(node, created);
        return node;
      }
      case 'raw': {
        // Format drivers open their file child before the node itself gets its name.
        const file = this.#resolveRef(options.file, readOnly, created, depth, flat, 'file', cache);
        const node = this.#newNode(options, driver, readOnly, flat, cache);
        // raw reads offset and size as sizes (QemuOpts), which refuse negative numbers.
        for (const option of ['offset', 'size'] as const) {
          if ((options[option] ?? 0) < 0) {
            throw genericError(`Parameter '${option}' expects a non-negative number below 2^64`);
          }
        }
        const offset = options.offset ?? 0;
        const available = file.length - offset;
        if (offset > file.length) {
          throw genericError(
            `Offset (${offset}) cannot be greater than size of the containing file (${file.length})`,
          );
        }
        if (options.size !== undefined && available < options.size) {
          throw genericError(
            `The sum of offset (${offset}) and size (${options.size}) has to be smaller or equal to the  actual size of the containing file (${file.length})`,
          );
        }
        if (options.size !== undefined && options.size % 512 !== 0) {
          throw genericError('Specified size is not multiple of 512');
        }
        Object.assign(node, { length: options.size ?? available });
        this.#register(node, created);
        this.#attach(node, 'file', file);
        return node;
      }
      case 'qcow2': {
        const file = this.#resolveRef(options.file, readOnly, created, depth, flat, 'file', cache);
        const read = (offset: number, length: number) => this.#readNode(file, offset, length);
        let header: Qcow2Header;
        let allocation: Qcow2AllocationMap;
        try {
          header = readQcow2Header(read);
          if (header.cryptMethod !== 0) throw notSimulated('encrypted qcow2 images');
          allocation = readQcow2AllocationMap(read, header, file.length);
        } catch (error) {
          if (error instanceof Qcow2FormatError) throw genericError(error.message);
          throw error;
        }
        const node = this.#newNode(options, driver, readOnly, flat, cache);
        Object.assign(node, {
          length: header.size,
          qcow2: header,
          allocation,
          autoBackingFile: header.backingFile ?? '',
        });
        this.#register(node, created);
        this.#attach(node, 'file', file);
        if (options.backing !== undefined) {
          if (options.backing !== null) {
            const backing = this.#resolveRef(
              options.backing,
              true,
              created,
              depth,
              flat,
              'backing',
              cache,
            );
            this.#attach(node, 'backing', backing);
          }
        } else if (header.backingFile !== undefined) {
          const backing = this.#openBackingFile(file, header, created, depth, cache);
          this.#attach(node, 'backing', backing);
          node.autoBackingFile = this.#refresh(backing).filename;
        }
        return node;
      }
      case 'blkdebug': {
        const node = this.#newNode(options, driver, readOnly, flat, cache);
        const state = new BlkdebugState(options['inject-error'] ?? [], options['set-state'] ?? []);
        const align = options.align ?? 0;
        if (options.align !== undefined && (align < 1 || (align & (align - 1)) !== 0)) {
          throw genericError(`Cannot meet constraints with align ${align}`);
        }
        // Protocol-level drivers get their name before opening their child.
        this.#register(node, created);
        const image = this.#resolveRef(
          options.image,
          readOnly,
          created,
          depth,
          flat,
          'image',
          cache,
        );
        Object.assign(node, { length: image.length, blkdebug: state });
        this.#attach(node, 'image', image);
        return node;
      }
    }
    throw notSimulated(`driver '${driver}'`);
  }

  #openBackingFile(
    file: MutableNode,
    header: Qcow2Header,
    created: MutableNode[],
    depth: number,
    cache: Inherited,
  ): MutableNode {
    const base = this.#fileNodePath(file);
    const path = combinePath(base ?? '', header.backingFile as string);
    let format = header.backingFormat;
    try {
      if (format === undefined) {
        const magic = (() => {
          try {
            return this.#store.read(path, 0, 4);
          } catch {
            return new Uint8Array(4);
          }
        })();
        format =
          magic[0] === 0x51 && magic[1] === 0x46 && magic[2] === 0x49 && magic[3] === 0xfb
            ? 'qcow2'
            : 'raw';
      }
      if (format !== 'qcow2' && format !== 'raw') {
        throw notSimulated(`backing files of format '${format}'`);
      }
      const backingOptions = { driver: format, file: { driver: 'file', filename: path } };
      return this.#open(
        backingOptions as BlockdevOptions,
        true,
        created,
        depth + 1,
        flattenOptions(backingOptions),
        cache,
      );
    } catch (error) {
      if (CommandError.isInstance(error)) {
        throw genericError(`Could not open backing file: ${error.desc}`);
      }
      throw error;
    }
  }

  /** The path of the `file` node at the bottom of a node's file/image chain. */
  #fileNodePath(node: BlockNode): string | undefined {
    let current: BlockNode | undefined = node;
    while (current && current.driver !== 'file') current = current.file;
    return current?.filename;
  }

  #readNode(node: BlockNode, offset: number, length: number): Uint8Array {
    switch (node.driver) {
      case 'file':
        return this.#store.read(node.filename as string, offset, length);
      case 'null-co':
        return new Uint8Array(length);
      case 'raw':
        return this.#readNode(
          node.file as BlockNode,
          offset + ((this.#mutable(node).options.offset as number | undefined) ?? 0),
          length,
        );
      case 'blkdebug':
        return this.#readNode(node.file as BlockNode, offset, length);
      case 'qcow2':
        throw notSimulated(`reading guest data of qcow2 node '${node.nodeName}'`);
    }
  }

  #storeFailure(prefix: string, error: unknown): CommandError {
    if (error instanceof ImageStoreError) return genericError(`${prefix}: ${strerror(error.code)}`);
    throw error;
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
    return this.#request(this.#mutable(node), iotype, offset, bytes);
  }

  #event(child: BlockNode | undefined, event: string): void {
    child?.blkdebug?.event(event);
  }

  #request(
    node: MutableNode,
    iotype: BlkdebugIoType,
    offset: number,
    bytes: number,
  ): InjectedError | undefined {
    // Rules injected on a node of another driver (injectErrors) act as a blkdebug node on top.
    if (node.driver !== 'blkdebug' && node.blkdebug !== undefined) {
      const error = node.blkdebug.check(iotype, offset, bytes);
      if (error) return error;
    }
    switch (node.driver) {
      case 'file':
      case 'null-co':
        return undefined;
      case 'blkdebug': {
        const error = node.blkdebug?.check(iotype, offset, bytes);
        if (error) return error;
        return this.#request(node.file as MutableNode, iotype, offset, bytes);
      }
      case 'raw': {
        if (iotype === 'read') this.#event(node.file, 'read_aio');
        if (iotype === 'write') this.#event(node.file, 'write_aio');
        const rawOffset = (node.options as { offset?: number }).offset ?? 0;
        return this.#request(node.file as MutableNode, iotype, offset + rawOffset, bytes);
      }
      case 'qcow2':
        return this.#qcow2Request(node, iotype, offset, bytes);
    }
  }

  #qcow2Request(
    node: MutableNode,
    iotype: BlkdebugIoType,
    offset: number,
    bytes: number,
  ): InjectedError | undefined {
    const file = node.file as MutableNode;
    if (iotype === 'flush') return this.#request(file, 'flush', 0, 0);
    // Discards and zero writes only change qcow2 metadata, which is not simulated.
    if (iotype !== 'read' && iotype !== 'write') return undefined;
    const map = node.allocation as Qcow2AllocationMap;
    const clusterSize = map.clusterSize;
    const end = Math.min(offset + bytes, node.length);
    let appendAt = this.#qcow2AppendAt(node);
    let at = offset;
    while (at < end) {
      // One stretch: clusters of one kind whose data is contiguous in the image file.
      const first = Math.floor(at / clusterSize);
      const kindOf = (cluster: number) =>
        map.isClusterAllocated(cluster) ? (map.mapping(cluster)?.kind ?? 'data') : 'unallocated';
      const kind = kindOf(first);
      const hostOf = (cluster: number) => {
        const mapping = map.mapping(cluster);
        return mapping && mapping.kind !== 'zero' ? mapping.hostOffset : -1;
      };
      let last = first;
      while ((last + 1) * clusterSize < end && kindOf(last + 1) === kind) {
        if (kind === 'data' && hostOf(last + 1) !== hostOf(last) + clusterSize) break;
        if (kind === 'compressed') break;
        last++;
      }
      const stretchEnd = Math.min(end, (last + 1) * clusterSize);
      const length = stretchEnd - at;
      const inCluster = at - first * clusterSize;
      let error: InjectedError | undefined;
      if (iotype === 'write') {
        this.#event(file, 'write_aio');
        let host: number;
        if (kind === 'data') host = hostOf(first) + inCluster;
        else {
          host = appendAt + inCluster;
          appendAt += (last - first + 1) * clusterSize;
        }
        error = this.#request(file, 'write', host, length);
      } else if (kind === 'data') {
        this.#event(file, 'read_aio');
        error = this.#request(file, 'read', hostOf(first) + inCluster, length);
      } else if (kind === 'compressed') {
        this.#event(file, 'read_compressed');
        error = this.#request(file, 'read', hostOf(first), length);
      } else if (kind === 'unallocated' && node.backing) {
        this.#event(file, 'read_backing_aio');
        const backing = node.backing as MutableNode;
        if (at < backing.length) {
          error = this.#request(backing, 'read', at, Math.min(length, backing.length - at));
        }
      }
      if (error) return error;
      at = stretchEnd;
    }
    return undefined;
  }

  /**
   * bdrv_block_status_above() over [offset, offset + bytes) of `node`, down its whole chain:
   * stretches holding data, reading as zeroes (a file's hole, a qcow2 zero cluster or one
   * unallocated down to the end of the chain, null-co with read-zeroes), or neither (null-co
   * without read-zeroes). A mirror reads only data; block-copy (backup) all but zeroes.
   */
  blockStatus(node: BlockNode, offset: number, bytes: number): BlockStatusExtent[] {
    const out: BlockStatusExtent[] = [];
    const add = (at: number, length: number, status: BlockStatus) => {
      if (length <= 0) return;
      const last = out[out.length - 1];
      if (last !== undefined && last.status === status && last.offset + last.length === at) {
        out[out.length - 1] = { offset: last.offset, length: last.length + length, status };
      } else out.push({ offset: at, length, status });
    };
    this.#status(this.#mutable(node), offset, Math.min(offset + bytes, node.length), 0, add);
    return out;
  }

  #status(
    node: MutableNode,
    from: number,
    to: number,
    shift: number,
    add: (at: number, length: number, status: BlockStatus) => void,
  ): void {
    if (to <= from) return;
    switch (node.driver) {
      case 'null-co':
        add(from - shift, to - from, node.readZeroes ? 'zero' : 'none');
        return;
      case 'file': {
        node.dataExtents ??= { extents: this.#store.dataExtents?.(node.filename as string) };
        const extents = node.dataExtents.extents;
        if (extents === undefined) {
          add(from - shift, to - from, 'data');
          return;
        }
        let at = from;
        for (const e of extents) {
          const start = Math.max(at, e.offset);
          const end = Math.min(to, e.offset + e.length);
          if (end <= start) continue;
          add(at - shift, start - at, 'zero');
          add(start - shift, end - start, 'data');
          at = end;
        }
        add(at - shift, to - at, 'zero');
        return;
      }
      case 'raw': {
        const rawOffset = (node.options as { offset?: number }).offset ?? 0;
        const file = node.file as MutableNode;
        this.#status(file, from + rawOffset, to + rawOffset, shift + rawOffset, add);
        return;
      }
      case 'blkdebug':
        this.#status(node.file as MutableNode, from, to, shift, add);
        return;
      case 'qcow2': {
        const map = node.allocation as Qcow2AllocationMap;
        const clusterSize = map.clusterSize;
        let at = from;
        while (at < to) {
          const cluster = Math.floor(at / clusterSize);
          const end = Math.min(to, (cluster + 1) * clusterSize);
          if (map.isClusterAllocated(cluster)) {
            add(at - shift, end - at, map.mapping(cluster)?.kind === 'zero' ? 'zero' : 'data');
          } else if (node.backing !== undefined && at < node.backing.length) {
            const backingEnd = Math.min(end, node.backing.length);
            this.#status(node.backing as MutableNode, at, backingEnd, shift, add);
            add(backingEnd - shift, end - backingEnd, 'zero');
          } else add(at - shift, end - at, 'zero');
          at = end;
        }
        return;
      }
    }
  }

  /** Where qcow2 places the next clusters it allocates: the end of its image file. */
  #qcow2AppendAt(node: MutableNode): number {
    const clusterSize = (node.allocation as Qcow2AllocationMap).clusterSize;
    const opened = Math.ceil((node.file as BlockNode).length / clusterSize) * clusterSize;
    return Math.max(opened, node.appendedEnd);
  }

  /**
   * A job wrote [offset, offset + bytes) of `node` (a stream's copy-on-read into its top, a
   * commit into its base, a mirror or backup into its target): the nodes down its data path
   * now hold those bytes, so later block-status queries (a new job's allocation walk) see them.
   * qcow2 allocates the clusters it did not hold, at the end of its image file; null-co drops
   * the data; a file holds every byte already. No data moves.
   */
  recordWrite(node: BlockNode, offset: number, bytes: number): void {
    const n = this.#mutable(node);
    switch (n.driver) {
      case 'blkdebug':
        if (n.file !== undefined) this.recordWrite(n.file, offset, bytes);
        return;
      case 'raw': {
        const rawOffset = (n.options as { offset?: number }).offset ?? 0;
        if (n.file !== undefined) this.recordWrite(n.file, offset + rawOffset, bytes);
        return;
      }
      case 'qcow2': {
        const map = n.allocation as Qcow2AllocationMap;
        const clusterSize = map.clusterSize;
        const end = Math.min(offset + bytes, n.length);
        let host = this.#qcow2AppendAt(n);
        for (let c = Math.floor(offset / clusterSize); c * clusterSize < end; c++) {
          if (map.isClusterAllocated(c)) continue;
          map.setCluster(c, { kind: 'data', hostOffset: host });
          host += clusterSize;
        }
        n.appendedEnd = host;
        return;
      }
      default:
        return;
    }
  }

  // ---- blockdev-del -------------------------------------------------------------------------

  /** blockdev-del, with QEMU's checks in QEMU's order. */
  del(nodeName: string): void {
    const node = this.#nodes.find((n) => n.nodeName === nodeName);
    if (!node) throw genericError(`Failed to find node with node-name='${nodeName}'`);
    if (node.users.some((u) => u.kind === 'external' && u.backend)) {
      throw genericError(`Node ${nodeName} is in use`);
    }
    this.assertNotBusy(node);
    if (!node.monitorOwned) throw genericError(`Node ${nodeName} is not owned by the monitor`);
    if (node.users.length > 0) throw genericError(`Block device ${nodeName} is in use`);
    node.monitorOwned = false;
    this.#unref(node);
    this.#commitLocks();
  }

  #unref(node: MutableNode): void {
    if (node.monitorOwned || node.users.length > 0) return;
    const index = this.#nodes.indexOf(node);
    if (index >= 0) this.#nodes.splice(index, 1);
    for (const child of node.children) {
      const childNode = child.node as MutableNode;
      const at = childNode.users.findIndex((u) => u.kind === 'node' && u.parent === node);
      if (at >= 0) childNode.users.splice(at, 1);
      this.#releaseBackingBlocker(child, node);
      this.#unref(childNode);
    }
  }

  // ---- filenames and query-named-block-nodes -----------------------------------------------

  #backingOverridden(node: MutableNode): boolean {
    if (node.driver !== 'qcow2') return false;
    const backing = node.backing;
    if (backing) return node.autoBackingFile !== this.#refresh(backing).filename;
    return node.autoBackingFile !== '';
  }

  /** bdrv_refresh_filename(): the node's exact filename, full options and displayed filename. */
  #refresh(node: BlockNode): RefreshedName {
    const mutable = this.#mutable(node);
    const flat = new Map(mutable.flat);
    const full: Record<string, QValue> = Object.create(null);
    full.driver = node.driver;
    let strongFound = false;
    for (const option of STRONG_OPTIONS[node.driver]) {
      if (option.endsWith('.')) {
        for (const key of qemuMemberOrder([...flat.keys()])) {
          if (key.startsWith(option)) {
            full[key] = flat.get(key) as QValue;
            strongFound = true;
          }
        }
      } else if (flat.has(option)) {
        full[option] = flat.get(option) as QValue;
        if (option !== 'filename') strongFound = true;
      }
    }
    const backingOverridden = this.#backingOverridden(mutable);
    // Children are listed newest first, as QEMU's bs->children.
    for (const child of [...node.children].reverse()) {
      if (child.name === 'backing' && !backingOverridden) continue;
      full[child.name] = this.#refresh(child.node).full;
    }
    if (backingOverridden && !node.backing) full.backing = null;
    const generateJson = strongFound || backingOverridden;
    let exact = '';
    switch (node.driver) {
      case 'file':
        exact = node.filename as string;
        break;
      case 'null-co':
        if (!Object.keys(full).some((k) => k !== 'driver' && k !== 'latency-ns'))
          exact = 'null-co://';
        break;
      case 'blkdebug': {
        const image = this.#refresh(node.file as BlockNode);
        const onlyPlain = Object.keys(full).every((k) => ['config', 'image', 'driver'].includes(k));
        if (image.exact && onlyPlain) exact = `blkdebug::${image.exact}`;
        break;
      }
      default: {
        const file = this.#refresh(node.file as BlockNode);
        if (file.exact && !generateJson) exact = file.exact;
      }
    }
    return { exact, full, filename: exact || `json:${encodeJson(full, QEMU_JSON)}` };
  }

  #actualSize(node: BlockNode): number | undefined {
    switch (node.driver) {
      case 'file':
        return this.#mutable(node).fileStat?.allocatedBytes;
      case 'null-co':
        return 0;
      case 'blkdebug':
        return undefined;
      default:
        return this.#actualSize(node.file as BlockNode);
    }
  }

  /** bdrv_get_info(): cluster size and dirty flag, or undefined where the driver has none. */
  #driverInfo(node: BlockNode): { clusterSize: number; dirty: boolean } | undefined {
    switch (node.driver) {
      case 'file':
        return { clusterSize: 0, dirty: false };
      case 'null-co':
        return undefined;
      case 'qcow2':
        return {
          clusterSize: node.qcow2?.clusterSize ?? 0,
          dirty: ((node.qcow2?.incompatibleFeatures ?? 0n) & 1n) !== 0n,
        };
      default:
        return this.#driverInfo(node.file as BlockNode);
    }
  }

  #imageInfo(node: BlockNode): ImageInfo {
    const name = this.#refresh(node);
    const info: ImageInfo = {
      filename: name.filename,
      format: node.driver,
      'virtual-size': node.length,
    };
    const actual = this.#actualSize(node);
    if (actual !== undefined) info['actual-size'] = actual;
    const driverInfo = this.#driverInfo(node);
    if (driverInfo) {
      if (driverInfo.clusterSize !== 0) info['cluster-size'] = driverInfo.clusterSize;
      info['dirty-flag'] = driverInfo.dirty;
    }
    const header = node.qcow2;
    if (header) {
      info['format-specific'] = {
        type: 'qcow2',
        data:
          header.version === 3
            ? {
                compat: '1.1',
                'compression-type': header.compressionType,
                'lazy-refcounts': (header.compatibleFeatures & 1n) !== 0n,
                'refcount-bits': 2 ** header.refcountOrder,
                corrupt: (header.incompatibleFeatures & 2n) !== 0n,
                'extended-l2': (header.incompatibleFeatures & 16n) !== 0n,
              }
            : { compat: '0.10', 'compression-type': 'zlib', 'refcount-bits': 16 },
      };
      if (header.backingFile !== undefined && header.backingFile !== '') {
        info['backing-filename'] = header.backingFile;
        const base = this.#fileNodePath(node);
        info['full-backing-filename'] = combinePath(base ?? '', header.backingFile);
        if (header.backingFormat) info['backing-filename-format'] = header.backingFormat;
      }
    }
    return info;
  }

  /** The node below `node` that query output descends into (bdrv_filter_or_cow_child). */
  #filterOrCowChild(node: BlockNode): BlockNode | undefined {
    if (node.driver === 'blkdebug') return node.file;
    if (node.driver === 'qcow2') return node.backing;
    return undefined;
  }

  /** query-named-block-nodes: every node, newest first; `flat` leaves out backing images. */
  queryNamedBlockNodes(flat = false): BlockDeviceInfo[] {
    return this.nodes().map((node) => this.blockDeviceInfo(node, flat));
  }

  /** One node's BlockDeviceInfo, as query-named-block-nodes shows it. */
  blockDeviceInfo(node: BlockNode, flat = false): BlockDeviceInfo {
    const image = this.#imageInfo(node);
    let depth = 0;
    if (!flat) {
      let info = image;
      let current = this.#filterOrCowChild(node);
      while (current) {
        depth++;
        const below = this.#imageInfo(current);
        info['backing-image'] = below;
        info = below;
        current = this.#filterOrCowChild(current);
      }
    }
    const result: BlockDeviceInfo = {
      file: this.#refresh(node).filename,
      'node-name': node.nodeName,
      ro: node.readOnly,
      drv: node.driver,
      backing_file_depth: depth,
      encrypted: false,
      detect_zeroes:
        (this.#mutable(node).options['detect-zeroes'] as BlockDeviceInfo['detect_zeroes']) ?? 'off',
      bps: 0,
      bps_rd: 0,
      bps_wr: 0,
      iops: 0,
      iops_rd: 0,
      iops_wr: 0,
      image,
      cache: {
        writeback: true,
        direct: node.cache.direct,
        'no-flush': node.cache.noFlush,
      },
      write_threshold: 0,
    };
    const bitmaps = this.dirtyBitmaps.info(node);
    if (bitmaps !== undefined) result['dirty-bitmaps'] = bitmaps;
    if (node.backing) result.backing_file = this.#refresh(node.backing).filename;
    return result;
  }

  // ---- blockdev-create ----------------------------------------------------------------------

  /**
   * The work of a `create` job: validates the options as QEMU's driver does and writes an empty
   * image. Throws a CommandError whose desc is what QEMU reports as the job's `error`.
   */
  create(options: BlockdevCreateOptions): void {
    switch (options.driver) {
      case 'file':
        this.#createFile(options as BlockdevCreateOptionsFile);
        return;
      case 'qcow2':
        this.#createQcow2(options as BlockdevCreateOptionsQcow2);
        return;
      default:
        throw notSimulated(`image creation with driver '${options.driver}'`);
    }
  }

  #createFile(options: BlockdevCreateOptionsFile): void {
    if ((options['extent-size-hint'] ?? 0) > 0xffffffff) {
      throw genericError('Extent size hint is too large');
    }
    if ((options.preallocation ?? 'off') !== 'off') {
      throw notSimulated(`preallocation '${options.preallocation}'`);
    }
    // raw_co_create() locks the file for WRITE and RESIZE, sharing all but RESIZE, before it
    // truncates it: an image another node holds is refused.
    this.#checkLockBytes(this.#store.identify?.(options.filename) ?? options.filename, {
      perm: BLK_PERM.WRITE | BLK_PERM.RESIZE,
      shared: BLK_PERM.ALL & ~BLK_PERM.RESIZE,
    });
    try {
      this.#store.create(options.filename, options.size);
    } catch (error) {
      throw this.#storeFailure(`Could not create '${options.filename}'`, error);
    }
  }

  #createQcow2(options: BlockdevCreateOptionsQcow2): void {
    const file = this.lookupNode(
      typeof options.file === 'string' ? options.file : this.#inlineCreateTarget(options.file),
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
    const path = this.#fileNodePath(file);
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
    const detach = this.attachBackend(file, {
      perm: BLK_PERM.WRITE | BLK_PERM.RESIZE,
      shared: BLK_PERM.ALL,
    });
    try {
      if (this.#store.replace !== undefined) {
        // All or nothing: a crash while formatting leaves the old file, not half an image.
        this.#store.replace(path, fileLength, writes);
      } else {
        this.#store.truncate(path, 0);
        for (const write of writes) this.#store.write(path, write.offset, write.data);
        this.#store.truncate(path, fileLength);
      }
      const stat = this.#store.stat(path);
      Object.assign(file, { length: roundUpToSector(stat.size), fileStat: stat });
    } catch (error) {
      throw this.#storeFailure('Could not write qcow2 header', error);
    } finally {
      detach();
    }
  }

  #inlineCreateTarget(_ref: BlockdevOptions): string {
    throw notSimulated(
      'inline node definitions as blockdev-create targets (name an existing node)',
    );
  }
}

/** QEMU's op-blocker reason for a node a block job works on. */
export function jobBlockerReason(jobType: string): string {
  return `block device is in use by block job: ${jobType}`;
}
