// How query-named-block-nodes shows the nodes the scenarios and the differential tester use:
// null-co nodes and their dirty bitmaps, qcow2 images made by `qemu-img create` and the file
// nodes under them (qemu-storage-daemon 7.2.22 and 10.0.2; `active` from 10.0 on).

import { type Pattern, since } from './scenario.js';

/** A dirty bitmap as query-named-block-nodes shows it (`name` absent: anonymous). */
export function bitmapInfo(
  name: string | undefined,
  options: { granularity?: number; recording?: boolean; busy?: boolean; count?: number } = {},
): { [key: string]: Pattern } {
  return {
    ...(name === undefined ? {} : { name }),
    recording: options.recording ?? true,
    persistent: false,
    busy: options.busy ?? false,
    granularity: options.granularity ?? 65536,
    count: options.count ?? 0,
  };
}

/**
 * The members of a node's BlockDeviceInfo that are the same for every node the scenarios open:
 * no I/O throttling, no zero detection, no write threshold, not encrypted, writeback cache.
 * `backing_file_depth` is 0 in query-named-block-nodes with `flat` even above a backing file.
 */
export const NODE_DEFAULTS: { readonly [key: string]: Pattern } = {
  iops_rd: 0,
  iops_wr: 0,
  iops: 0,
  bps: 0,
  bps_rd: 0,
  bps_wr: 0,
  detect_zeroes: 'off',
  backing_file_depth: 0,
  write_threshold: 0,
  encrypted: false,
  cache: { 'no-flush': false, direct: false, writeback: true },
  active: since('10.0', true),
};

/** A null-co node's BlockDeviceInfo in query-named-block-nodes, with its bitmaps if any. */
export function nullCoInfo(
  nodeName: string,
  size: number,
  bitmaps?: readonly Pattern[],
): { [key: string]: Pattern } {
  const filename = `json:{"driver": "null-co", "size": ${size}}`;
  // Members in the order QEMU prints them.
  return {
    iops_rd: 0,
    detect_zeroes: 'off',
    image: { 'virtual-size': size, filename, format: 'null-co', 'actual-size': 0 },
    iops_wr: 0,
    ro: false,
    'node-name': nodeName,
    backing_file_depth: 0,
    drv: 'null-co',
    iops: 0,
    bps_wr: 0,
    write_threshold: 0,
    active: since('10.0', true),
    ...(bitmaps === undefined ? {} : { 'dirty-bitmaps': bitmaps }),
    encrypted: false,
    bps: 0,
    bps_rd: 0,
    cache: { 'no-flush': false, direct: false, writeback: true },
    file: filename,
  };
}

/**
 * The `format-specific` block of a qcow2 image made by `qemu-img create -f qcow2` with default
 * options, with the persistent bitmaps its header lists (none: no `bitmaps` member).
 */
export function qcow2FormatSpecific(bitmapsInImage: readonly Pattern[] = []): Pattern {
  return {
    type: 'qcow2',
    data: {
      compat: '1.1',
      'compression-type': 'zlib',
      'lazy-refcounts': false,
      ...(bitmapsInImage.length === 0 ? {} : { bitmaps: bitmapsInImage }),
      'refcount-bits': 16,
      corrupt: false,
      'extended-l2': false,
    },
  };
}

/** A qcow2 node over its file (flat listing), as `qemu-img create -f qcow2` made the image. */
export function qcow2NodeInfo(node: {
  nodeName: string;
  filename: string;
  size: number;
  /** The image file's size: what the daemon allocated (guest data on QEMU). */
  actualSize: Pattern;
  readOnly?: boolean;
  /** The backing file (its format qcow2). */
  backing?: string;
  /** The node's dirty bitmaps (none: no `dirty-bitmaps` member). */
  bitmaps?: readonly Pattern[];
  /** The persistent bitmaps the image header lists. */
  bitmapsInImage?: readonly Pattern[];
}): Pattern {
  const { filename, backing, bitmaps } = node;
  return {
    ...NODE_DEFAULTS,
    'node-name': node.nodeName,
    drv: 'qcow2',
    ro: node.readOnly ?? false,
    file: filename,
    ...(backing === undefined ? {} : { backing_file: backing }),
    ...(bitmaps === undefined || bitmaps.length === 0 ? {} : { 'dirty-bitmaps': bitmaps }),
    image: {
      'virtual-size': node.size,
      filename,
      'cluster-size': 65536,
      format: 'qcow2',
      'actual-size': node.actualSize,
      'format-specific': qcow2FormatSpecific(node.bitmapsInImage),
      ...(backing === undefined
        ? {}
        : {
            'backing-filename': backing,
            'full-backing-filename': backing,
            'backing-filename-format': 'qcow2',
          }),
      'dirty-flag': false,
    },
  };
}

/** The file node under an image (flat listing); its size is the file's. */
export function fileNodeInfo(node: {
  nodeName: Pattern;
  filename: string;
  size: Pattern;
  readOnly?: boolean;
}): Pattern {
  const { filename, size } = node;
  return {
    ...NODE_DEFAULTS,
    'node-name': node.nodeName,
    drv: 'file',
    ro: node.readOnly ?? false,
    file: filename,
    image: {
      'virtual-size': size,
      filename,
      format: 'file',
      'actual-size': size,
      'format-specific': since('10.0', { type: 'file', data: {} }),
      'dirty-flag': false,
    },
  };
}

/** A job's filter node (`copy-before-write`, `mirror_top`) above a null-co node of `size`. */
export function filterNodeInfo(
  nodeName: string,
  driver: string,
  size: number,
  bitmaps: readonly Pattern[],
): { [key: string]: Pattern } {
  const info = nullCoInfo(nodeName, size, bitmaps.length === 0 ? undefined : bitmaps);
  return { ...info, drv: driver, image: { ...(info.image as object), format: driver } };
}
