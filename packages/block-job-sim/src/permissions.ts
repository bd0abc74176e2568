// QEMU's block permission system (block.c bdrv_default_perms and friends, 7.2), reduced to the
// drivers the simulator runs. Every edge of the node graph carries the permissions its parent
// needs on the child and the ones it lets others have; a node whose parents want something
// another parent does not share is a "Permission conflict", and file nodes turn their
// permissions into byte-range locks on the image file, which other file nodes of the same file
// must respect ("Failed to get "write" lock").

/** BLK_PERM_* bits of QEMU 7.2 (GRAPH_MOD is gone), in QEMU's order, which its messages follow. */
export const BLK_PERM = {
  CONSISTENT_READ: 0x01,
  WRITE: 0x02,
  WRITE_UNCHANGED: 0x04,
  RESIZE: 0x08,
  ALL: 0x0f,
} as const;

const PERM_NAMES: ReadonlyArray<readonly [number, string]> = [
  [BLK_PERM.CONSISTENT_READ, 'consistent read'],
  [BLK_PERM.WRITE, 'write'],
  [BLK_PERM.WRITE_UNCHANGED, 'write unchanged'],
  [BLK_PERM.RESIZE, 'resize'],
];

/** bdrv_perm_names(): the permissions in `bits`, comma-separated. */
export function permissionNames(bits: number): string {
  return PERM_NAMES.filter(([bit]) => (bits & bit) !== 0)
    .map(([, name]) => name)
    .join(', ');
}

/** The single permissions in `bits`, in QEMU's order. */
export function permissionBits(bits: number): number[] {
  return PERM_NAMES.filter(([bit]) => (bits & bit) !== 0).map(([bit]) => bit);
}

const QAPI_PERMISSIONS: Readonly<Record<string, number>> = {
  'consistent-read': BLK_PERM.CONSISTENT_READ,
  write: BLK_PERM.WRITE,
  'write-unchanged': BLK_PERM.WRITE_UNCHANGED,
  resize: BLK_PERM.RESIZE,
};

/** bdrv_qapi_perm_to_blk_perm() over a list of BlockPermission names. */
export function permissionBitsOf(names: readonly string[]): number {
  let bits = 0;
  for (const name of names) bits |= QAPI_PERMISSIONS[name] ?? 0;
  return bits;
}

export interface Permissions {
  readonly perm: number;
  readonly shared: number;
}

/** What a node with no parents needs: nothing, and it shares everything. */
export const NO_PERMISSIONS: Permissions = { perm: 0, shared: BLK_PERM.ALL };

/** How a child serves its parent (BdrvChildRole, the parts the permission rules look at). */
export type ChildRole = 'filtered' | 'data' | 'metadata+data' | 'cow';

const PASSTHROUGH =
  BLK_PERM.CONSISTENT_READ | BLK_PERM.WRITE | BLK_PERM.WRITE_UNCHANGED | BLK_PERM.RESIZE;
const UNCHANGED = BLK_PERM.ALL & ~PASSTHROUGH;

function filterPerms(parent: Permissions): Permissions {
  return { perm: parent.perm & PASSTHROUGH, shared: (parent.shared & PASSTHROUGH) | UNCHANGED };
}

/**
 * bdrv_default_perms(): what a parent with cumulative permissions `parent` needs on a child
 * in `role`. `writable` is whether the parent node is read-write.
 */
export function defaultChildPermissions(
  role: ChildRole,
  parent: Permissions,
  writable: boolean,
): Permissions {
  if (role === 'filtered') return filterPerms(parent);
  if (role === 'cow') {
    let { perm, shared } = filterPerms(parent);
    perm &= BLK_PERM.CONSISTENT_READ;
    shared = (shared & BLK_PERM.WRITE) !== 0 ? BLK_PERM.WRITE | BLK_PERM.RESIZE : 0;
    shared |= BLK_PERM.CONSISTENT_READ | BLK_PERM.WRITE_UNCHANGED;
    return { perm, shared };
  }
  let { perm, shared } = filterPerms(parent);
  if (role === 'metadata+data') {
    // Format drivers may touch metadata even if the guest doesn't write.
    if (writable) perm |= BLK_PERM.WRITE | BLK_PERM.RESIZE;
    perm |= BLK_PERM.CONSISTENT_READ;
    shared &= ~(BLK_PERM.WRITE | BLK_PERM.RESIZE);
  }
  shared &= ~BLK_PERM.RESIZE;
  if ((perm & BLK_PERM.WRITE_UNCHANGED) !== 0) perm |= BLK_PERM.WRITE;
  if ((perm & BLK_PERM.WRITE) !== 0) perm |= BLK_PERM.RESIZE;
  return { perm, shared };
}

/** raw_child_perm(): the default, but WRITE and RESIZE only when the parent itself needs them. */
export function rawChildPermissions(
  role: ChildRole,
  parent: Permissions,
  writable: boolean,
): Permissions {
  const base = defaultChildPermissions(role, parent, writable);
  const keep = BLK_PERM.WRITE | BLK_PERM.RESIZE;
  return { perm: (base.perm & ~keep) | (parent.perm & keep), shared: base.shared };
}
