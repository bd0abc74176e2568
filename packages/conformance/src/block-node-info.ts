// How query-named-block-nodes shows the nodes the scenarios and the differential tester use:
// null-co nodes and their dirty bitmaps (qemu-storage-daemon 7.2.22; `active` from 10.0 on).

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

/** A null-co node's BlockDeviceInfo in query-named-block-nodes, with its bitmaps if any. */
export function nullCoInfo(
  nodeName: string,
  size: number,
  bitmaps?: readonly Pattern[],
): { [key: string]: Pattern } {
  const filename = `json:{"driver": "null-co", "size": ${size}}`;
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
