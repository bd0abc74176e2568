// Guest requests as a job issues them, and what the nodes hold (block/io.c and the drivers'
// request paths): the block-layer events raised on the way down and the first error a blkdebug
// rule injects, block status down a backing chain, and the clusters a job's writes allocate.
// No guest data moves: the simulator tracks where data is, never what it is.

import type { BlkdebugIoType, InjectedError } from '../blkdebug.js';
import type { ImageStore } from '../image-store.js';
import type { Qcow2AllocationMap } from '../qcow2.js';
import type { BlockNode, BlockStatus, BlockStatusExtent } from './node.js';
import { type MutableNode, rawDataOffset } from './node-state.js';

/**
 * A guest request of `iotype` on [offset, offset + bytes) of `node`, as a job issues it: the
 * block-layer events QEMU's drivers raise on the way down are raised (raw: read_aio and
 * write_aio on its file; qcow2: read_aio, read_backing_aio, read_compressed and write_aio on
 * its file, per stretch of clusters), and the first error a blkdebug node below injects is
 * returned. No data moves. qcow2 writes to clusters the image does not hold yet are placed at
 * the end of the image file, where QEMU would allocate them.
 */
export function requestError(
  node: MutableNode,
  iotype: BlkdebugIoType,
  offset: number,
  bytes: number,
): InjectedError | undefined {
  return request(node, iotype, offset, bytes);
}

function event(child: BlockNode | undefined, event: string): void {
  child?.blkdebug?.event(event);
}

function request(
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
      return request(node.file as MutableNode, iotype, offset, bytes);
    }
    case 'raw': {
      if (iotype === 'read') event(node.file, 'read_aio');
      if (iotype === 'write') event(node.file, 'write_aio');
      const rawOffset = rawDataOffset(node);
      return request(node.file as MutableNode, iotype, offset + rawOffset, bytes);
    }
    case 'qcow2':
      return qcow2Request(node, iotype, offset, bytes);
  }
}

function qcow2Request(
  node: MutableNode,
  iotype: BlkdebugIoType,
  offset: number,
  bytes: number,
): InjectedError | undefined {
  const file = node.file as MutableNode;
  if (iotype === 'flush') return request(file, 'flush', 0, 0);
  // Discards and zero writes only change qcow2 metadata, which is not simulated.
  if (iotype !== 'read' && iotype !== 'write') return undefined;
  const map = node.allocation as Qcow2AllocationMap;
  const clusterSize = map.clusterSize;
  const end = Math.min(offset + bytes, node.length);
  let appendAt = qcow2AppendAt(node);
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
      event(file, 'write_aio');
      let host: number;
      if (kind === 'data') host = hostOf(first) + inCluster;
      else {
        host = appendAt + inCluster;
        appendAt += (last - first + 1) * clusterSize;
      }
      error = request(file, 'write', host, length);
    } else if (kind === 'data') {
      event(file, 'read_aio');
      error = request(file, 'read', hostOf(first) + inCluster, length);
    } else if (kind === 'compressed') {
      event(file, 'read_compressed');
      error = request(file, 'read', hostOf(first), length);
    } else if (kind === 'unallocated' && node.backing) {
      event(file, 'read_backing_aio');
      const backing = node.backing as MutableNode;
      if (at < backing.length) {
        error = request(backing, 'read', at, Math.min(length, backing.length - at));
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
export function blockStatus(
  store: ImageStore,
  node: MutableNode,
  offset: number,
  bytes: number,
): BlockStatusExtent[] {
  const out: BlockStatusExtent[] = [];
  const add = (at: number, length: number, status: BlockStatus) => {
    if (length <= 0) return;
    const last = out[out.length - 1];
    if (last !== undefined && last.status === status && last.offset + last.length === at) {
      out[out.length - 1] = { offset: last.offset, length: last.length + length, status };
    } else out.push({ offset: at, length, status });
  };
  status(store, node, offset, Math.min(offset + bytes, node.length), 0, add);
  return out;
}

function status(
  store: ImageStore,
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
      node.dataExtents ??= { extents: store.dataExtents?.(node.filename as string) };
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
      const rawOffset = rawDataOffset(node);
      const file = node.file as MutableNode;
      status(store, file, from + rawOffset, to + rawOffset, shift + rawOffset, add);
      return;
    }
    case 'blkdebug':
      status(store, node.file as MutableNode, from, to, shift, add);
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
          status(store, node.backing as MutableNode, at, backingEnd, shift, add);
          add(backingEnd - shift, end - backingEnd, 'zero');
        } else add(at - shift, end - at, 'zero');
        at = end;
      }
      return;
    }
  }
}

/** Where qcow2 places the next clusters it allocates: the end of its image file. */
function qcow2AppendAt(node: MutableNode): number {
  const clusterSize = (node.allocation as Qcow2AllocationMap).clusterSize;
  const opened = Math.ceil((node.file as BlockNode).length / clusterSize) * clusterSize;
  return Math.max(opened, node.appendedEnd);
}

/**
 * A job wrote [offset, offset + bytes) of `node` (a stream's copy-on-read into its top, a
 * commit into its base, a mirror or backup into its target): the nodes down its data path
 * now hold those bytes, so later block-status queries (a new job's allocation walk) see them.
 * qcow2 allocates the clusters it did not hold, at the end of its image file; null-co drops
 * the data; a file holds every byte already. No data moves (node-data.ts moves it).
 */
export function recordWrite(
  n: MutableNode,
  offset: number,
  bytes: number,
  reallocate = false,
): void {
  switch (n.driver) {
    case 'blkdebug':
      if (n.file !== undefined) recordWrite(n.file as MutableNode, offset, bytes, reallocate);
      return;
    case 'raw': {
      const rawOffset = rawDataOffset(n);
      if (n.file !== undefined) {
        recordWrite(n.file as MutableNode, offset + rawOffset, bytes, reallocate);
      }
      return;
    }
    case 'qcow2': {
      const map = n.allocation as Qcow2AllocationMap;
      const clusterSize = map.clusterSize;
      const end = Math.min(offset + bytes, n.length);
      let host = qcow2AppendAt(n);
      for (let c = Math.floor(offset / clusterSize); c * clusterSize < end; c++) {
        if (map.isClusterAllocated(c)) {
          // A guest write into a zero or compressed cluster gets a new data cluster
          // (`reallocate`); a job's allocation walk keeps what the image held.
          const kind = map.mapping(c)?.kind ?? 'data';
          if (!reallocate || kind === 'data') continue;
        }
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
