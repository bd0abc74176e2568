// What query-named-block-nodes shows of a node: bdrv_refresh_filename() (the exact filename, or
// a `json:{…}` one built from the strong options in QDict order), the ImageInfo chain and the
// BlockDeviceInfo around it.

import { encodeJson, qemuMemberOrder } from '@qmpkit/protocol';
import type { BlockDeviceInfo, ImageInfo, Qcow2BitmapInfo } from '@qmpkit/qapi-types/7.2';
import type { DirtyBitmap, DirtyBitmaps } from '../bitmaps/dirty-bitmap.js';
import { combinePath } from '../image-store.js';
import type { SimulatedDriver } from '../qapi.js';
import type { BlockNode } from './node.js';
import { fileNodePath, type MutableNode } from './node-state.js';
import type { QDictLike, QValue } from './qdict-options.js';

/** How QEMU prints a QDict into a `json:{…}` filename (qobject_to_json, members in QDict order). */
const QEMU_JSON = { style: 'qemu', memberOrder: 'qemu' } as const;

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

export interface RefreshedName {
  readonly exact: string;
  readonly full: QDictLike;
  readonly filename: string;
}

function isBackingOverridden(node: MutableNode): boolean {
  if (node.driver !== 'qcow2') return false;
  const backing = node.backing;
  if (backing) return node.autoBackingFile !== refreshFilename(backing).filename;
  return node.autoBackingFile !== '';
}

/** bdrv_refresh_filename(): the node's exact filename, full options and displayed filename. */
export function refreshFilename(node: BlockNode): RefreshedName {
  const mutable = node as MutableNode;
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
  const backingOverridden = isBackingOverridden(mutable);
  // Children are listed newest first, as QEMU's bs->children.
  for (const child of [...node.children].reverse()) {
    if (child.name === 'backing' && !backingOverridden) continue;
    full[child.name] = refreshFilename(child.node).full;
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
      const image = refreshFilename(node.file as BlockNode);
      const onlyPlain = Object.keys(full).every((k) => ['config', 'image', 'driver'].includes(k));
      if (image.exact && onlyPlain) exact = `blkdebug::${image.exact}`;
      break;
    }
    default: {
      const file = refreshFilename(node.file as BlockNode);
      if (file.exact && !generateJson) exact = file.exact;
    }
  }
  return { exact, full, filename: exact || `json:${encodeJson(full, QEMU_JSON)}` };
}

function actualSize(node: BlockNode): number | undefined {
  switch (node.driver) {
    case 'file':
      return (node as MutableNode).fileStat?.allocatedBytes;
    case 'null-co':
      return 0;
    case 'blkdebug':
      return undefined;
    default:
      return actualSize(node.file as BlockNode);
  }
}

/** bdrv_get_info(): cluster size and dirty flag, or undefined where the driver has none. */
function driverInfoOf(node: BlockNode): { clusterSize: number; dirty: boolean } | undefined {
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
      return driverInfoOf(node.file as BlockNode);
  }
}

/** A node's dirty bitmaps: in memory (BlockDirtyInfo) and stored in its qcow2 image. */
export interface NodeBitmaps {
  readonly inMemory: DirtyBitmaps;
  inImage(node: BlockNode): Qcow2BitmapInfo[] | undefined;
}

function imageInfo(node: BlockNode, bitmaps: NodeBitmaps): ImageInfo {
  const name = refreshFilename(node);
  const info: ImageInfo = {
    filename: name.filename,
    format: node.driver,
    'virtual-size': node.length,
  };
  const actual = actualSize(node);
  if (actual !== undefined) info['actual-size'] = actual;
  const driverInfo = driverInfoOf(node);
  if (driverInfo) {
    if (driverInfo.clusterSize !== 0) info['cluster-size'] = driverInfo.clusterSize;
    info['dirty-flag'] = driverInfo.dirty;
  }
  const header = node.qcow2;
  if (header) {
    const stored = bitmaps.inImage(node);
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
              ...(stored === undefined ? {} : { bitmaps: stored }),
            }
          : { compat: '0.10', 'compression-type': 'zlib', 'refcount-bits': 16 },
    };
    if (header.backingFile !== undefined && header.backingFile !== '') {
      info['backing-filename'] = header.backingFile;
      const base = fileNodePath(node);
      info['full-backing-filename'] = combinePath(base ?? '', header.backingFile);
      if (header.backingFormat) info['backing-filename-format'] = header.backingFormat;
    }
  }
  return info;
}

/** The node below `node` that query output descends into (bdrv_filter_or_cow_child). */
function filterOrCowChild(node: BlockNode): BlockNode | undefined {
  if (node.driver === 'blkdebug') return node.file;
  if (node.driver === 'qcow2') return node.backing;
  return undefined;
}

/** BlockDeviceInfo's I/O throttling limits: none (the simulator has no throttle groups). */
const NO_IO_THROTTLING = { bps: 0, bps_rd: 0, bps_wr: 0, iops: 0, iops_rd: 0, iops_wr: 0 } as const;

/**
 * A job's filter node above `node`, if one sits there: it took the node's parents (bdrv_insert_node),
 * so a chain that led to the node now passes through it.
 */
export type FilterAbove = (node: BlockNode) => JobFilterNode | undefined;

/** One node's BlockDeviceInfo, as query-named-block-nodes shows it. */
export function blockDeviceInfo(
  node: BlockNode,
  flat: boolean,
  bitmaps: NodeBitmaps,
  filterAbove: FilterAbove = () => undefined,
): BlockDeviceInfo {
  const image = imageInfo(node, bitmaps);
  let depth = 0;
  if (!flat) {
    let info = image;
    let current = filterOrCowChild(node);
    while (current) {
      const filter = filterAbove(current);
      if (filter !== undefined) {
        depth++;
        const filterImage = filterImageInfo(filter, bitmaps);
        info['backing-image'] = filterImage;
        info = filterImage;
      }
      depth++;
      const below = imageInfo(current, bitmaps);
      info['backing-image'] = below;
      info = below;
      current = filterOrCowChild(current);
    }
  }
  const result: BlockDeviceInfo = {
    file: refreshFilename(node).filename,
    'node-name': node.nodeName,
    ro: node.readOnly,
    drv: node.driver,
    backing_file_depth: depth,
    encrypted: false,
    detect_zeroes: (node as MutableNode).options['detect-zeroes'] ?? 'off',
    ...NO_IO_THROTTLING,
    image,
    cache: {
      writeback: true,
      direct: node.cache.direct,
      'no-flush': node.cache.noFlush,
    },
    write_threshold: 0,
  };
  const inMemory = bitmaps.inMemory.info(node);
  if (inMemory !== undefined) result['dirty-bitmaps'] = inMemory;
  if (node.backing) result.backing_file = refreshFilename(node.backing).filename;
  return result;
}

/** A filter node a job put above its source (not a node of the graph; see bitmaps/job-bitmaps.ts). */
export interface JobFilterNode {
  readonly nodeName: string;
  /**
   * backup: copy-before-write; mirror and active commit: mirror_top; commit: commit_top; stream:
   * copy-on-read.
   */
  readonly driver: 'copy-before-write' | 'mirror_top' | 'commit_top' | 'copy-on-read';
  /** The node below it (its `file`). */
  readonly child: BlockNode;
  /** Its bitmaps, newest first. */
  readonly bitmaps: readonly DirtyBitmap[];
  /** commit_top is opened read-only. */
  readonly readOnly?: boolean;
}

/**
 * A job filter's filename: its child's (bdrv_refresh_filename of a filter), except that the
 * copy-on-read filter is shown by its options, `json:{"driver": "copy-on-read", "file": …}`.
 */
function filterFilename(filter: JobFilterNode): string {
  if (filter.driver !== 'copy-on-read') return refreshFilename(filter.child).filename;
  const full = { driver: filter.driver, file: refreshFilename(filter.child).full };
  return `json:${encodeJson(full, QEMU_JSON)}`;
}

/** A job filter's own ImageInfo: its child's size and cluster size, under its own format. */
function filterImageInfo(filter: JobFilterNode, bitmaps: NodeBitmaps): ImageInfo {
  const own = imageInfo(filter.child, bitmaps);
  const image: ImageInfo = {
    filename: filterFilename(filter),
    format: filter.driver,
    'virtual-size': own['virtual-size'],
  };
  if (own['actual-size'] !== undefined) image['actual-size'] = own['actual-size'];
  if (own['cluster-size'] !== undefined) image['cluster-size'] = own['cluster-size'];
  if (own['dirty-flag'] !== undefined) image['dirty-flag'] = own['dirty-flag'];
  return image;
}

/**
 * A job filter's BlockDeviceInfo: a filter passes its child's filename, size and cluster size
 * through, and query output descends from it into the child (which then counts in
 * backing_file_depth) unless `flat`.
 */
export function filterDeviceInfo(
  filter: JobFilterNode,
  flat: boolean,
  bitmaps: NodeBitmaps,
  filterAbove: FilterAbove = () => undefined,
): BlockDeviceInfo {
  const child = blockDeviceInfo(filter.child, flat, bitmaps, filterAbove);
  const image = filterImageInfo(filter, bitmaps);
  if (!flat) image['backing-image'] = child.image;
  const result: BlockDeviceInfo = {
    file: image.filename,
    'node-name': filter.nodeName,
    ro: filter.readOnly ?? false,
    drv: filter.driver,
    backing_file_depth: flat ? 0 : child.backing_file_depth + 1,
    encrypted: false,
    detect_zeroes: 'off',
    ...NO_IO_THROTTLING,
    image,
    cache: child.cache,
    write_threshold: 0,
  };
  if (filter.bitmaps.length > 0) result['dirty-bitmaps'] = filter.bitmaps.map((b) => b.info());
  return result;
}
