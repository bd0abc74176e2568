// The QAPI types this package reads and returns (qapi/block-core.json, QEMU 7.2), limited to the
// drivers the simulator runs. Local until @qmpkit/qapi-types exists; this is the one file to switch.
// Also the member table the `--blockdev` key=value form needs: keyval values are strings, and QEMU's
// keyval input visitor converts each one by the schema type of the member it lands on.

/** BlockdevDriver (7.2, qemu-storage-daemon build). */
export const BLOCKDEV_DRIVERS = [
  'blkdebug',
  'blklogwrites',
  'blkreplay',
  'blkverify',
  'bochs',
  'cloop',
  'compress',
  'copy-before-write',
  'copy-on-read',
  'dmg',
  'file',
  'snapshot-access',
  'ftp',
  'ftps',
  'gluster',
  'host_cdrom',
  'host_device',
  'http',
  'https',
  'io_uring',
  'iscsi',
  'luks',
  'nbd',
  'nfs',
  'null-aio',
  'null-co',
  'nvme',
  'nvme-io_uring',
  'parallels',
  'preallocate',
  'qcow',
  'qcow2',
  'qed',
  'quorum',
  'raw',
  'rbd',
  'replication',
  'ssh',
  'throttle',
  'vdi',
  'vhdx',
  'virtio-blk-vfio-pci',
  'virtio-blk-vhost-user',
  'virtio-blk-vhost-vdpa',
  'vmdk',
  'vpc',
  'vvfat',
] as const;
export type BlockdevDriver = (typeof BLOCKDEV_DRIVERS)[number];

/** The drivers whose nodes this package simulates. */
export const SIMULATED_DRIVERS = ['null-co', 'file', 'raw', 'qcow2', 'blkdebug'] as const;
export type SimulatedDriver = (typeof SIMULATED_DRIVERS)[number];

export interface BlockdevCacheOptions {
  direct?: boolean;
  'no-flush'?: boolean;
}

/** BlockdevOptions' base members. */
export interface BlockdevOptionsBase {
  'node-name'?: string;
  discard?: 'ignore' | 'unmap';
  cache?: BlockdevCacheOptions;
  'read-only'?: boolean;
  'auto-read-only'?: boolean;
  'force-share'?: boolean;
  'detect-zeroes'?: 'off' | 'on' | 'unmap';
}

export interface BlockdevOptionsNull extends BlockdevOptionsBase {
  driver: 'null-co';
  size?: number;
  'latency-ns'?: number;
  'read-zeroes'?: boolean;
}

export interface BlockdevOptionsFile extends BlockdevOptionsBase {
  driver: 'file';
  filename: string;
  'pr-manager'?: string;
  locking?: 'on' | 'off' | 'auto';
  aio?: 'threads' | 'native' | 'io_uring';
  'aio-max-batch'?: number;
  'drop-cache'?: boolean;
  'x-check-cache-dropped'?: boolean;
}

export interface BlockdevOptionsRaw extends BlockdevOptionsBase {
  driver: 'raw';
  file: BlockdevRef;
  offset?: number;
  size?: number;
}

export interface BlockdevOptionsQcow2 extends BlockdevOptionsBase {
  driver: 'qcow2';
  file: BlockdevRef;
  backing?: BlockdevRef | null;
  'lazy-refcounts'?: boolean;
  'pass-discard-request'?: boolean;
  'pass-discard-snapshot'?: boolean;
  'pass-discard-other'?: boolean;
  'overlap-check'?: unknown;
  'cache-size'?: number;
  'l2-cache-size'?: number;
  'l2-cache-entry-size'?: number;
  'refcount-cache-size'?: number;
  'cache-clean-interval'?: number;
  encrypt?: unknown;
  'data-file'?: BlockdevRef;
}

export interface BlkdebugInjectErrorOptions {
  event: string;
  state?: number;
  iotype?: 'read' | 'write' | 'write-zeroes' | 'discard' | 'flush' | 'block-status';
  errno?: number;
  sector?: number;
  once?: boolean;
  immediately?: boolean;
}

export interface BlkdebugSetStateOptions {
  event: string;
  state?: number;
  new_state: number;
}

export interface BlockdevOptionsBlkdebug extends BlockdevOptionsBase {
  driver: 'blkdebug';
  image: BlockdevRef;
  config?: string;
  align?: number;
  'max-transfer'?: number;
  'opt-write-zero'?: number;
  'max-write-zero'?: number;
  'opt-discard'?: number;
  'max-discard'?: number;
  'inject-error'?: BlkdebugInjectErrorOptions[];
  'set-state'?: BlkdebugSetStateOptions[];
  'take-child-perms'?: string[];
  'unshare-child-perms'?: string[];
}

/** Options for a driver QEMU has but this package does not simulate (refused by `add`). */
export interface BlockdevOptionsOther extends BlockdevOptionsBase {
  driver: Exclude<BlockdevDriver, SimulatedDriver>;
  [member: string]: unknown;
}

export type BlockdevOptions =
  | BlockdevOptionsNull
  | BlockdevOptionsFile
  | BlockdevOptionsRaw
  | BlockdevOptionsQcow2
  | BlockdevOptionsBlkdebug
  | BlockdevOptionsOther;

/** An inline node definition or the name of an existing node. */
export type BlockdevRef = BlockdevOptions | string;

export interface BlockdevCreateOptionsFile {
  driver: 'file';
  filename: string;
  size: number;
  preallocation?: 'off' | 'metadata' | 'falloc' | 'full';
  nocow?: boolean;
  'extent-size-hint'?: number;
}

export interface BlockdevCreateOptionsQcow2 {
  driver: 'qcow2';
  file: BlockdevRef;
  'data-file'?: BlockdevRef;
  'data-file-raw'?: boolean;
  'extended-l2'?: boolean;
  size: number;
  version?: 'v2' | 'v3';
  'backing-file'?: string;
  'backing-fmt'?: BlockdevDriver;
  encrypt?: unknown;
  'cluster-size'?: number;
  preallocation?: 'off' | 'metadata' | 'falloc' | 'full';
  'lazy-refcounts'?: boolean;
  'refcount-bits'?: number;
  'compression-type'?: 'zlib' | 'zstd';
}

export interface BlockdevCreateOptionsOther {
  driver: Exclude<BlockdevDriver, 'file' | 'qcow2'>;
  [member: string]: unknown;
}

export type BlockdevCreateOptions =
  | BlockdevCreateOptionsFile
  | BlockdevCreateOptionsQcow2
  | BlockdevCreateOptionsOther;

export interface ImageInfoSpecificQCow2 {
  compat: string;
  'lazy-refcounts'?: boolean;
  corrupt?: boolean;
  'refcount-bits': number;
  'compression-type': 'zlib' | 'zstd';
  'extended-l2'?: boolean;
}

export interface ImageInfo {
  filename: string;
  format: string;
  'dirty-flag'?: boolean;
  'actual-size'?: number;
  'virtual-size': number;
  'cluster-size'?: number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'backing-filename-format'?: string;
  'format-specific'?: { type: 'qcow2'; data: ImageInfoSpecificQCow2 };
  'backing-image'?: ImageInfo;
}

export interface BlockdevCacheInfo {
  writeback: boolean;
  direct: boolean;
  'no-flush': boolean;
}

/** One entry of query-named-block-nodes (the members QEMU 7.2 returns for these drivers). */
export interface BlockDeviceInfo {
  file: string;
  'node-name'?: string;
  ro: boolean;
  drv: string;
  backing_file?: string;
  backing_file_depth: number;
  encrypted: boolean;
  detect_zeroes: 'off' | 'on' | 'unmap';
  bps: number;
  bps_rd: number;
  bps_wr: number;
  iops: number;
  iops_rd: number;
  iops_wr: number;
  image: ImageInfo;
  cache: BlockdevCacheInfo;
  write_threshold: number;
}

/**
 * Schema member types, as the keyval visitor sees them: scalars by QAPI built-in type, objects
 * and lists by table entry, `ref` for BlockdevRef/BlockdevRefOrNull (a string names a node,
 * an object is an inline node), enums with their values.
 */
export type MemberType =
  | 'str'
  | 'int'
  | 'int32'
  | 'uint64'
  | 'size'
  | 'bool'
  | { readonly enum: readonly string[] }
  | 'ref'
  | 'any'
  | { readonly object: Readonly<Record<string, MemberType>>; readonly required: readonly string[] }
  | { readonly list: MemberType };

const BLKDEBUG_EVENTS = [
  'l1_update',
  'l1_grow_alloc_table',
  'l1_grow_write_table',
  'l1_grow_activate_table',
  'l2_load',
  'l2_update',
  'l2_update_compressed',
  'l2_alloc_cow_read',
  'l2_alloc_write',
  'read_aio',
  'read_backing_aio',
  'read_compressed',
  'write_aio',
  'write_compressed',
  'vmstate_load',
  'vmstate_save',
  'cow_read',
  'cow_write',
  'reftable_load',
  'reftable_grow',
  'reftable_update',
  'refblock_load',
  'refblock_update',
  'refblock_update_part',
  'refblock_alloc',
  'refblock_alloc_hookup',
  'refblock_alloc_write',
  'refblock_alloc_write_blocks',
  'refblock_alloc_write_table',
  'refblock_alloc_switch_table',
  'cluster_alloc',
  'cluster_alloc_bytes',
  'cluster_free',
  'flush_to_os',
  'flush_to_disk',
  'pwritev_rmw_head',
  'pwritev_rmw_after_head',
  'pwritev_rmw_tail',
  'pwritev_rmw_after_tail',
  'pwritev',
  'pwritev_zero',
  'pwritev_done',
  'empty_image_prepare',
  'l1_shrink_write_table',
  'l1_shrink_free_l2_clusters',
  'cor_write',
  'cluster_alloc_space',
  'none',
] as const;

const BLOCK_PERMISSIONS = ['consistent-read', 'write', 'write-unchanged', 'resize', 'graph-mod'];

const BASE_MEMBERS: Readonly<Record<string, MemberType>> = {
  driver: { enum: BLOCKDEV_DRIVERS },
  'node-name': 'str',
  discard: { enum: ['ignore', 'unmap'] },
  cache: { object: { direct: 'bool', 'no-flush': 'bool' }, required: [] },
  'read-only': 'bool',
  'auto-read-only': 'bool',
  'force-share': 'bool',
  'detect-zeroes': { enum: ['off', 'on', 'unmap'] },
};

const INJECT_ERROR: MemberType = {
  required: ['event'],
  object: {
    event: { enum: BLKDEBUG_EVENTS },
    state: 'int',
    iotype: { enum: ['read', 'write', 'write-zeroes', 'discard', 'flush', 'block-status'] },
    errno: 'int',
    sector: 'int',
    once: 'bool',
    immediately: 'bool',
  },
};

const SET_STATE: MemberType = {
  required: ['event', 'new_state'],
  object: { event: { enum: BLKDEBUG_EVENTS }, state: 'int', new_state: 'int' },
};

/** The members of BlockdevOptions for each simulated driver (base members included). */
export const BLOCKDEV_MEMBERS: Readonly<
  Record<SimulatedDriver, Readonly<Record<string, MemberType>>>
> = {
  'null-co': { ...BASE_MEMBERS, size: 'int', 'latency-ns': 'uint64', 'read-zeroes': 'bool' },
  file: {
    ...BASE_MEMBERS,
    filename: 'str',
    'pr-manager': 'str',
    locking: { enum: ['on', 'off', 'auto'] },
    aio: { enum: ['threads', 'native', 'io_uring'] },
    'aio-max-batch': 'int',
    'drop-cache': 'bool',
    'x-check-cache-dropped': 'bool',
  },
  raw: { ...BASE_MEMBERS, file: 'ref', offset: 'int', size: 'int' },
  qcow2: {
    ...BASE_MEMBERS,
    file: 'ref',
    backing: 'ref',
    'lazy-refcounts': 'bool',
    'pass-discard-request': 'bool',
    'pass-discard-snapshot': 'bool',
    'pass-discard-other': 'bool',
    'overlap-check': 'any',
    'cache-size': 'int',
    'l2-cache-size': 'int',
    'l2-cache-entry-size': 'int',
    'refcount-cache-size': 'int',
    'cache-clean-interval': 'int',
    encrypt: 'any',
    'data-file': 'ref',
  },
  blkdebug: {
    ...BASE_MEMBERS,
    image: 'ref',
    config: 'str',
    align: 'int',
    'max-transfer': 'int32',
    'opt-write-zero': 'int32',
    'max-write-zero': 'int32',
    'opt-discard': 'int32',
    'max-discard': 'int32',
    'inject-error': { list: INJECT_ERROR },
    'set-state': { list: SET_STATE },
    'take-child-perms': { list: { enum: BLOCK_PERMISSIONS } },
    'unshare-child-perms': { list: { enum: BLOCK_PERMISSIONS } },
  },
};

/** The required members of BlockdevOptions for each simulated driver. */
export const BLOCKDEV_REQUIRED: Readonly<Record<SimulatedDriver, readonly string[]>> = {
  'null-co': ['driver'],
  file: ['driver', 'filename'],
  raw: ['driver', 'file'],
  qcow2: ['driver', 'file'],
  blkdebug: ['driver', 'image'],
};

export function isBlockdevDriver(name: string): name is BlockdevDriver {
  return (BLOCKDEV_DRIVERS as readonly string[]).includes(name);
}

export function isSimulatedDriver(name: string): name is SimulatedDriver {
  return (SIMULATED_DRIVERS as readonly string[]).includes(name);
}
