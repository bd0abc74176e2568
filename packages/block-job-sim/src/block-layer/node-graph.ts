// The node graph's edges and permissions (block.c): attaching a child, what each user of a node
// needs and shares (bdrv_child_perm, bdrv_get_cumulative_perm), the conflict checks and error
// texts of bdrv_refresh_perms, and the image-file locks of file nodes (raw_check_lock_bytes).
// `nodes` is always the block layer's whole node list: locks are held across nodes of one file.

import { genericError } from '../errors.js';
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
} from '../permissions.js';
import type { BlockChild, ChildName } from './node.js';
import type { MutableNode, NodeUser } from './node-state.js';

/** Attaches `child` under `parent` as its `name` child, or throws QEMU's permission error. */
export function attach(
  nodes: readonly MutableNode[],
  parent: MutableNode,
  name: ChildName,
  child: MutableNode,
): void {
  const edge: BlockChild = { name, node: child };
  const user: NodeUser = { kind: 'node', parent, childName: name };
  parent.children.push(edge);
  child.users.unshift(user);
  try {
    refreshPermissions(nodes, child);
  } catch (error) {
    parent.children.splice(parent.children.indexOf(edge), 1);
    child.users.splice(child.users.indexOf(user), 1);
    commitLocks(nodes);
    throw error;
  }
  if (name === 'backing') {
    child.blockers.unshift({ reason: `node is used as backing hd of '${parent.nodeName}'` });
  }
}

/** The role of a parent's child, which decides the permissions the parent takes on it. */
function childRole(parent: MutableNode, childName: ChildName): ChildRole {
  if (childName === 'backing') return 'cow';
  if (parent.driver === 'qcow2') return 'metadata+data';
  const options = parent.options;
  if (options.driver === 'raw') {
    return options.offset !== undefined || options.size !== undefined ? 'data' : 'filtered';
  }
  return 'filtered';
}

/** bdrv_child_perm(): what a user takes on `child`; a force-share child shares everything. */
function userPermissions(user: NodeUser, child?: MutableNode): Permissions {
  const own = ownUserPermissions(user);
  return child?.forceShare ? { perm: own.perm, shared: BLK_PERM.ALL } : own;
}

function ownUserPermissions(user: NodeUser): Permissions {
  if (user.kind === 'external') return user.permissions;
  const parent = user.parent;
  const role = childRole(parent, user.childName);
  const cumulative = cumulativePermissions(parent);
  if (parent.driver === 'raw') return rawChildPermissions(role, cumulative, !parent.readOnly);
  const base = defaultChildPermissions(role, cumulative, !parent.readOnly);
  const options = parent.options;
  if (options.driver === 'blkdebug') {
    // blkdebug_child_perm(): the take-child-perms / unshare-child-perms options.
    return {
      perm: base.perm | permissionBitsOf(options['take-child-perms'] ?? []),
      shared: base.shared & ~permissionBitsOf(options['unshare-child-perms'] ?? []),
    };
  }
  return base;
}

/** bdrv_get_cumulative_perm(): what all users need, and what all of them share. */
export function cumulativePermissions(node: MutableNode): Permissions {
  let perm = 0;
  let shared = BLK_PERM.ALL;
  for (const user of node.users) {
    const p = userPermissions(user, node);
    perm |= p.perm;
    shared &= p.shared;
  }
  return { perm, shared };
}

function userDesc(user: NodeUser): string {
  return user.kind === 'node' ? `node '${user.parent.nodeName}'` : user.desc;
}

/**
 * bdrv_refresh_perms() after `start` got a new user: every node from `start` down is checked
 * for conflicting users, then file nodes for image locks held by other file nodes; on success
 * the file nodes' locks follow their new permissions.
 */
export function refreshPermissions(nodes: readonly MutableNode[], start: MutableNode): void {
  const order: MutableNode[] = [];
  const visit = (node: MutableNode) => {
    if (order.includes(node)) return;
    order.push(node);
    for (const child of node.children) visit(child.node as MutableNode);
  };
  visit(start);
  for (const node of order) {
    checkUsers(node);
    const wanted = cumulativePermissions(node);
    // Write permissions never work with read-only nodes.
    if ((wanted.perm & (BLK_PERM.WRITE | BLK_PERM.WRITE_UNCHANGED)) !== 0 && node.readOnly) {
      throw genericError('Block node is read-only');
    }
    if (node.driver === 'file') checkLocks(nodes, node, wanted);
  }
  commitLocks(nodes);
}

/** bdrv_parent_perms_conflict(): the first pair of users (newest first) that do not agree. */
function checkUsers(node: MutableNode): void {
  for (const a of node.users) {
    const allowed = userPermissions(a, node).shared;
    for (const b of node.users) {
      // A user above a job's filter reaches the node through it: the filter passes its requests.
      if (a === b || (a.kind === 'external' && a.above?.has(b) === true)) continue;
      const conflict = userPermissions(b, node).perm & ~allowed;
      if (conflict === 0) continue;
      throw genericError(
        `Permission conflict on node '${node.nodeName}': permissions '${permissionNames(conflict)}' are both required by ${userDesc(b)} (uses node '${node.nodeName}' as '${b.childName}' child) and unshared by ${userDesc(a)} (uses node '${node.nodeName}' as '${a.childName}' child).`,
      );
    }
  }
}

/** raw_check_lock_bytes() against the locks other file nodes hold on the same file. */
function checkLocks(nodes: readonly MutableNode[], node: MutableNode, wanted: Permissions): void {
  if (!node.locking) return;
  const grows =
    (node.locked.perm | wanted.perm) !== node.locked.perm ||
    (node.locked.shared & wanted.shared) !== node.locked.shared;
  if (!grows) return;
  checkLockBytes(nodes, node.lockIdentity, wanted, node);
}

export function checkLockBytes(
  nodes: readonly MutableNode[],
  identity: string | undefined,
  wanted: Permissions,
  self?: MutableNode,
): void {
  const others = nodes.filter(
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
export function commitLocks(nodes: readonly MutableNode[]): void {
  for (const node of nodes) {
    if (node.driver === 'file')
      node.locked = node.locking ? cumulativePermissions(node) : NO_PERMISSIONS;
  }
}

/**
 * Takes `parent` off its child's users (the edge itself stays in `parent.children` for the
 * caller to drop), with the op blocker a backing edge put on the child.
 */
export function detachFromChild(child: BlockChild, parent: MutableNode): void {
  const users = (child.node as MutableNode).users;
  const at = users.findIndex((u) => u.kind === 'node' && u.parent === parent);
  if (at >= 0) users.splice(at, 1);
  releaseBackingBlocker(child, parent);
}

export function releaseBackingBlocker(child: BlockChild, parent: MutableNode): void {
  if (child.name !== 'backing') return;
  const blockers = (child.node as MutableNode).blockers;
  const at = blockers.findIndex(
    (b) => b.reason === `node is used as backing hd of '${parent.nodeName}'`,
  );
  if (at >= 0) blockers.splice(at, 1);
}
