// What the nodes hold: guest data, where QEMU keeps it. A write through an export and a job's
// copy of a chunk both come here, and reads see what earlier writes left, down a node's chain.
//
// - file: the image file itself (through the ImageStore), so `qemu-img compare` of a raw image
//   the simulator wrote agrees with QEMU's. Which 4 KiB blocks hold data is kept beside it (from
//   the file's holes when first needed, then from the writes), as ext4 reports it through QEMU:
//   written blocks are data, blocks a write-zeroes covers whole read as holes.
// - raw / blkdebug: their file child (raw at its `offset`, within its `size`).
// - qcow2: guest writes (through an export) go into the image file as QEMU writes them
//   (./qcow2-writer.ts: new clusters, L2 tables and refcounts), so `qemu-img map`, `compare` and
//   `check` see them. A job's copies are kept in memory (sparse, up to GUEST_DATA_LIMIT per
//   node; a job may copy gigabytes of zeroes) until the node is flushed or closed, and then go
//   into the file the same way, in cluster order; the allocation map records them meanwhile.
//   Unallocated clusters read from the backing node; a write into one copies the rest of the
//   cluster from there first (QEMU's copy-on-write). Compressed clusters are inflated (zlib).
// - null-co keeps nothing; other drivers (job filters) keep nothing either.

import { SparseMemoryBackend } from '@qmpkit/nbd';
import { inflateSync } from 'fflate';
import { GranuleSet } from '../bitmaps/granule-set.js';
import { notSimulated } from '../errors.js';
import type { ImageStore } from '../image-store.js';
import type { Qcow2AllocationMap } from '../qcow2.js';
import { blockStatus, recordWrite } from './guest-io.js';
import type { BlockNode } from './node.js';
import { type MutableNode, rawDataOffset, roundUpToSector } from './node-state.js';
import { type ClusterWrite, Qcow2Writer } from './qcow2-writer.js';

/** Most bytes of data the simulator keeps in memory per node. */
export const GUEST_DATA_LIMIT = 1024 * 1024 * 1024;

/** Most bytes a copy reads at once. */
const COPY_PIECE = 4 * 1024 * 1024;

/** The file system block: the granularity of a file's holes. */
const FILE_BLOCK = 4096;

/** Who writes: a guest (through an export) or a job copying a chunk. */
export interface WriteOrigin {
  /** A guest write allocates as QEMU does; a job's copy is recorded by the job runtime. */
  readonly guest: boolean;
  /**
   * When the writer was attached (an export: see NodeData.nextEpoch): a writer older than a
   * job's filter writes through the filter, a younger one below it.
   */
  readonly epoch: number;
}

/** Told of every write into a node, before the data lands and after. */
export interface WriteWatcher {
  before?(offset: number, length: number, origin: WriteOrigin): void;
  after?(offset: number, length: number, origin: WriteOrigin): void;
}

function isZero(data: Uint8Array): boolean {
  for (let i = 0; i < data.length; i++) if (data[i] !== 0) return false;
  return true;
}

export class NodeData {
  readonly #store: ImageStore;
  readonly #limit: number;
  /** qcow2 nodes: the clusters written since the node opened, and which clusters those are. */
  readonly #memory = new WeakMap<BlockNode, { data: SparseMemoryBackend; held: GranuleSet }>();
  /** file nodes: which blocks hold data (undefined: all of them). */
  readonly #fileBlocks = new WeakMap<BlockNode, { blocks: GranuleSet | undefined }>();
  readonly #watchers = new Map<BlockNode, Set<WriteWatcher>>();
  /**
   * A zero write allowing a hole frees qcow2 clusters only on a node opened with
   * `discard: 'unmap'` (the profile's zeroWriteUnmapNeedsDiscardUnmap; 7.2 frees them anyway).
   */
  unmapNeedsDiscardUnmap = false;
  /** qcow2 nodes written since they opened: their image file's writer. */
  readonly #writers = new WeakMap<BlockNode, Qcow2Writer>();
  #epoch = 0;

  constructor(store: ImageStore, limit = GUEST_DATA_LIMIT) {
    this.#store = store;
    this.#limit = limit;
  }

  /** A new point in the order of attachments (exports and job filters compare theirs). */
  nextEpoch(): number {
    return ++this.#epoch;
  }

  /** Watches the writes into `node` (at its own offsets); returns the unwatch. */
  watch(node: BlockNode, watcher: WriteWatcher): () => void {
    let set = this.#watchers.get(node);
    if (set === undefined) {
      set = new Set();
      this.#watchers.set(node, set);
    }
    set.add(watcher);
    return () => {
      const s = this.#watchers.get(node);
      s?.delete(watcher);
      if (s?.size === 0) this.#watchers.delete(node);
    };
  }

  /** What a reader of `node` sees at [offset, offset + length) (zeroes past its end). */
  read(node: BlockNode, offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.#readInto(node as MutableNode, offset, out);
    return out;
  }

  /** Writes `data` into `node` at `offset` (clipped to the node's length). */
  write(node: BlockNode, offset: number, data: Uint8Array, origin: WriteOrigin): void {
    const length = Math.min(data.length, node.length - offset);
    if (length <= 0) return;
    this.#write(node as MutableNode, offset, data.subarray(0, length), origin);
  }

  /**
   * Zeroes [offset, offset + length) of `node` (whole file blocks become holes). `mayUnmap`: the
   * writer allows a hole (BDRV_REQ_MAY_UNMAP), so qcow2 frees the data clusters it zeroes.
   */
  writeZeroes(
    node: BlockNode,
    offset: number,
    length: number,
    origin: WriteOrigin,
    mayUnmap = false,
  ): void {
    const n = Math.min(length, node.length - offset);
    if (n <= 0) return;
    this.#write(node as MutableNode, offset, { zeroes: n, mayUnmap }, origin);
  }

  /**
   * bdrv_flush() / bdrv_close() of a qcow2 node: the clusters jobs wrote, kept in memory, go into
   * its image file (ascending; clusters of zeroes as zero clusters). Other nodes hold nothing
   * back. Throws what the image refuses (a full refcount table, a shared L2 table).
   */
  flush(node: BlockNode): void {
    const n = node as MutableNode;
    const m = this.#memory.get(n);
    if (n.driver !== 'qcow2' || m === undefined || m.held.runs().length === 0) return;
    const writer = this.#writer(n);
    if (writer === undefined) return;
    const map = n.allocation as Qcow2AllocationMap;
    const cs = map.clusterSize;
    const writes: ClusterWrite[] = [];
    for (const r of m.held.runs()) {
      for (let c = r.start; c < r.end; c++) {
        const data = m.data.read(c * cs, Math.min(n.length, (c + 1) * cs) - c * cs);
        writes.push(isZero(data) ? { cluster: c, zero: true, unmap: false } : { cluster: c, data });
      }
    }
    // A piece at a time, so that what is on disk already leaves memory.
    for (let i = 0; i < writes.length; i += 256) {
      this.#toImage(n, writer, writes.slice(i, i + 256));
    }
  }

  /**
   * Copies [offset, offset + length) of `from` into `to` at the same offsets (a job's chunk),
   * as block-copy and mirror do: stretches the source's block status calls data are read and
   * written, the rest is written as zeroes (which leaves a file's holes holes).
   */
  copy(from: BlockNode, to: BlockNode, offset: number, length: number): void {
    const origin: WriteOrigin = { guest: false, epoch: 0 };
    for (const e of blockStatus(this.#store, from as MutableNode, offset, length)) {
      if (e.status !== 'data') {
        this.writeZeroes(to, e.offset, e.length, origin);
        continue;
      }
      // A piece at a time: a job may get past gigabytes at once.
      for (let at = e.offset; at < e.offset + e.length; at += COPY_PIECE) {
        const n = Math.min(COPY_PIECE, e.offset + e.length - at);
        this.write(to, at, this.read(from, at, n), origin);
      }
    }
  }

  /**
   * Copy-on-read into `node` (a stream): the clusters of [offset, offset + length) a qcow2 node
   * does not hold take what it reads there now (from its backing); held ones stay as written.
   */
  populate(node: BlockNode, offset: number, length: number): void {
    const n = node as MutableNode;
    if (n.driver !== 'qcow2') return;
    const map = n.allocation as Qcow2AllocationMap;
    const cs = map.clusterSize;
    const m = this.#qcow2Memory(n);
    const end = Math.min(n.length, offset + length);
    for (let c = Math.floor(offset / cs); c * cs < end; c++) {
      if (map.isClusterAllocated(c) || isHeld(m.held, c)) continue;
      const cStart = c * cs;
      const base = this.read(n, cStart, Math.min(n.length, cStart + cs) - cStart);
      if (!isZero(base)) m.data.write(cStart, base);
      m.held.add(c, c + 1);
    }
  }

  /** A data write (Uint8Array) or a write of that many zeroes. */
  #write(n: MutableNode, offset: number, what: Uint8Array | Zeroes, origin: WriteOrigin): void {
    const length = what instanceof Uint8Array ? what.length : what.zeroes;
    const watchers = this.#watchers.get(n);
    if (watchers !== undefined) for (const w of [...watchers]) w.before?.(offset, length, origin);
    switch (n.driver) {
      case 'file':
        this.#writeFile(n, offset, what);
        break;
      case 'raw': {
        const file = n.file as MutableNode | undefined;
        if (file !== undefined) this.#write(file, offset + rawDataOffset(n), what, origin);
        break;
      }
      case 'blkdebug':
        if (n.file !== undefined) this.#write(n.file as MutableNode, offset, what, origin);
        break;
      case 'qcow2':
        this.#writeQcow2(n, offset, what, origin);
        break;
      default:
        break;
    }
    if (watchers !== undefined) for (const w of [...watchers]) w.after?.(offset, length, origin);
  }

  #readInto(n: MutableNode, offset: number, out: Uint8Array): void {
    const length = Math.min(out.length, n.length - offset);
    if (length <= 0) return;
    switch (n.driver) {
      case 'file': {
        const path = n.filename as string;
        out.set(this.#store.read(path, offset, length));
        return;
      }
      case 'raw': {
        const file = n.file as MutableNode | undefined;
        if (file !== undefined) {
          this.#readInto(file, offset + rawDataOffset(n), out.subarray(0, length));
        }
        return;
      }
      case 'blkdebug':
        if (n.file !== undefined) {
          this.#readInto(n.file as MutableNode, offset, out.subarray(0, length));
        }
        return;
      case 'qcow2':
        this.#readQcow2(n, offset, out.subarray(0, length));
        return;
      default:
        return;
    }
  }

  // ---- file ---------------------------------------------------------------------------------

  #writeFile(n: MutableNode, offset: number, what: Uint8Array | Zeroes): void {
    const path = n.filename as string;
    const map = this.#fileMap(n);
    if (what instanceof Uint8Array) {
      this.#store.write(path, offset, what);
      // A file grows under a qcow2 image that allocates clusters (bdrv_getlength: its size).
      const end = offset + what.length;
      if (end > n.length) Object.assign(n, { length: roundUpToSector(end) });
      map.blocks?.add(
        Math.floor(offset / FILE_BLOCK),
        Math.ceil((offset + what.length) / FILE_BLOCK),
      );
    } else {
      // Zeroes: only blocks holding data need them (a hole reads zeroes already); whole blocks
      // become holes, as fallocate() leaves them on ext4.
      const end = offset + what.zeroes;
      const first = Math.ceil(offset / FILE_BLOCK);
      const last = Math.floor(end / FILE_BLOCK);
      const runs =
        map.blocks === undefined
          ? [{ start: Math.floor(offset / FILE_BLOCK), end: Math.ceil(end / FILE_BLOCK) }]
          : map.blocks.runs();
      const zeroes: Array<[number, number]> = [];
      for (const r of runs) {
        const s = Math.max(offset, r.start * FILE_BLOCK);
        const e = Math.min(end, r.end * FILE_BLOCK);
        if (e > s) zeroes.push([s, e]);
      }
      for (const [s, e] of zeroes) this.#store.write(path, s, new Uint8Array(e - s));
      if (first < last) map.blocks?.remove(first, last);
    }
    this.#publish(n, map);
  }

  #fileMap(n: MutableNode): { blocks: GranuleSet | undefined } {
    let map = this.#fileBlocks.get(n);
    if (map === undefined) {
      n.dataExtents ??= { extents: this.#store.dataExtents?.(n.filename as string) };
      const extents = n.dataExtents.extents;
      let blocks: GranuleSet | undefined;
      if (extents !== undefined) {
        blocks = new GranuleSet();
        for (const e of extents) {
          blocks.add(
            Math.floor(e.offset / FILE_BLOCK),
            Math.ceil((e.offset + e.length) / FILE_BLOCK),
          );
        }
      }
      map = { blocks };
      this.#fileBlocks.set(n, map);
    }
    return map;
  }

  /** The block-status walk (guest-io.ts) reads a file's data extents from the node. */
  #publish(n: MutableNode, map: { blocks: GranuleSet | undefined }): void {
    const blocks = map.blocks;
    if (blocks === undefined) return;
    const size = n.length;
    n.dataExtents = {
      extents: blocks.runs().map((r) => {
        const start = r.start * FILE_BLOCK;
        return { offset: start, length: Math.min(size, r.end * FILE_BLOCK) - start };
      }),
    };
  }

  // ---- qcow2 --------------------------------------------------------------------------------

  #qcow2Memory(n: MutableNode): { data: SparseMemoryBackend; held: GranuleSet } {
    let m = this.#memory.get(n);
    if (m === undefined) {
      m = {
        data: new SparseMemoryBackend({ size: n.length, writable: true, maxBytes: this.#limit }),
        held: new GranuleSet(),
      };
      this.#memory.set(n, m);
    }
    return m;
  }

  /**
   * The writer of a qcow2 node's image file: a writable node over a file (blkdebug passes
   * through). Undefined otherwise: such a node keeps what is written in memory.
   */
  #writer(n: MutableNode): Qcow2Writer | undefined {
    const existing = this.#writers.get(n);
    if (existing !== undefined) return existing;
    let file = n.file as MutableNode | undefined;
    while (file?.driver === 'blkdebug') file = file.file as MutableNode | undefined;
    if (n.readOnly || n.qcow2 === undefined || file?.driver !== 'file') return undefined;
    const fileNode = file;
    const path = fileNode.filename as string;
    const writer = new Qcow2Writer(
      {
        read: (offset, length) => this.#store.read(path, offset, length),
        write: (offset, data) => this.#writeFile(fileNode, offset, data),
      },
      n.qcow2,
    );
    this.#writers.set(n, writer);
    return writer;
  }

  /** Clusters into the image file; the allocation map and memory follow. */
  #toImage(n: MutableNode, writer: Qcow2Writer, writes: readonly ClusterWrite[]): void {
    if (writes.length === 0) return;
    const map = n.allocation as Qcow2AllocationMap;
    const cs = map.clusterSize;
    const placements = writer.write(writes);
    const m = this.#memory.get(n);
    writes.forEach((w, i) => {
      const p = placements[i];
      if (p === undefined) return;
      map.setCluster(
        w.cluster,
        'zero' in p ? { kind: 'zero' } : { kind: 'data', hostOffset: p.hostOffset },
      );
      if (m !== undefined && isHeld(m.held, w.cluster)) {
        m.held.remove(w.cluster, w.cluster + 1);
        m.data.writeZeroes(
          w.cluster * cs,
          Math.min(n.length, (w.cluster + 1) * cs) - w.cluster * cs,
        );
      }
    });
  }

  #readQcow2(n: MutableNode, offset: number, out: Uint8Array): void {
    const map = n.allocation as Qcow2AllocationMap;
    const cs = map.clusterSize;
    const m = this.#memory.get(n);
    const writer = this.#writers.get(n);
    let at = offset;
    const end = offset + out.length;
    while (at < end) {
      const c = Math.floor(at / cs);
      const stop = Math.min(end, (c + 1) * cs);
      const into = out.subarray(at - offset, stop - offset);
      if (m !== undefined && isHeld(m.held, c)) into.set(m.data.read(at, stop - at));
      else if (map.isClusterAllocated(c)) {
        // The image's own L2 entry once this node wrote into it (the map also has clusters a
        // job's allocation walk placed without data).
        const mapping = map.mapping(c);
        const host =
          writer !== undefined
            ? writer.dataOffset(c)
            : mapping?.kind === 'data'
              ? mapping.hostOffset
              : undefined;
        if (host !== undefined && n.file !== undefined) {
          this.#readInto(n.file as MutableNode, host + (at - c * cs), into);
        } else if (mapping?.kind === 'compressed' && writer?.dataOffset(c) === undefined) {
          const cluster = this.#decompress(n, mapping.hostOffset, mapping.compressedBytes, cs);
          into.set(cluster.subarray(at - c * cs, stop - c * cs));
        }
      } else if (n.backing !== undefined && at < n.backing.length) {
        this.#readInto(n.backing as MutableNode, at, into);
      }
      at = stop;
    }
  }

  /**
   * qcow2_co_preadv_compressed(): a compressed cluster's bytes, raw deflate (zlib, a 4 KiB
   * window). Data that does not inflate reads as zeroes here (QEMU fails the read with EIO).
   */
  #decompress(n: MutableNode, host: number, bytes: number, clusterSize: number): Uint8Array {
    const out = new Uint8Array(clusterSize);
    if (n.qcow2?.compressionType !== 'zlib') {
      throw notSimulated(`reading ${n.qcow2?.compressionType} compressed clusters`);
    }
    const data = new Uint8Array(bytes);
    this.#readInto(n.file as MutableNode, host, data);
    try {
      inflateSync(data, { out });
    } catch {
      out.fill(0);
    }
    return out;
  }

  #writeQcow2(
    n: MutableNode,
    offset: number,
    what: Uint8Array | Zeroes,
    origin: WriteOrigin,
  ): void {
    const writer = origin.guest ? this.#writer(n) : undefined;
    if (writer !== undefined) {
      this.#guestWriteQcow2(n, writer, offset, what);
      return;
    }
    const map = n.allocation as Qcow2AllocationMap;
    const cs = map.clusterSize;
    const m = this.#qcow2Memory(n);
    const length = what instanceof Uint8Array ? what.length : what.zeroes;
    const end = offset + length;
    for (let c = Math.floor(offset / cs); c * cs < end; c++) {
      const cStart = c * cs;
      const cEnd = Math.min(n.length, cStart + cs);
      const s = Math.max(offset, cStart);
      const e = Math.min(end, cEnd);
      const whole = s === cStart && e === cEnd;
      if (!(what instanceof Uint8Array)) {
        // qcow2 zeroes whole clusters (or a cluster that reads zeroes already) with the zero
        // flag: allocated, no data; a part of a cluster is written as zeroes.
        const zeroCluster = whole || isZero(this.read(n, cStart, cEnd - cStart));
        if (!isHeld(m.held, c)) {
          if (!zeroCluster) m.data.write(cStart, this.read(n, cStart, cEnd - cStart));
          m.held.add(c, c + 1);
        }
        m.data.writeZeroes(s, e - s);
        if (origin.guest) {
          if (zeroCluster) map.setCluster(c, { kind: 'zero' });
          else recordWrite(n, cStart, cEnd - cStart, true);
        }
        continue;
      }
      if (!isHeld(m.held, c)) {
        // Copy-on-write: the rest of the cluster as it reads now (its old data or the backing's).
        if (!whole) {
          const base = this.read(n, cStart, cEnd - cStart);
          if (!isZero(base)) m.data.write(cStart, base);
        }
        m.held.add(c, c + 1);
      }
      const part = what.subarray(s - offset, e - offset);
      if (isZero(part)) m.data.writeZeroes(s, e - s);
      else m.data.write(s, part);
      if (origin.guest) recordWrite(n, cStart, cEnd - cStart, true);
    }
  }

  /**
   * A guest write into a qcow2 image file, cluster by cluster as qcow2_co_pwritev_part and
   * qcow2_co_pwrite_zeroes treat them: data clusters get the whole cluster (the rest copied from
   * what the cluster reads now: its own data or the backing's); zeroes over a whole cluster make
   * a zero cluster, over part of one too when the cluster holds no data and the rest of it reads
   * as zeroes (block status), else they are written as data.
   */
  #guestWriteQcow2(
    n: MutableNode,
    writer: Qcow2Writer,
    offset: number,
    what: Uint8Array | Zeroes,
  ): void {
    const map = n.allocation as Qcow2AllocationMap;
    const cs = map.clusterSize;
    const m = this.#memory.get(n);
    const length = what instanceof Uint8Array ? what.length : what.zeroes;
    const end = offset + length;
    const zeroStatus = (from: number, to: number) =>
      to <= from || blockStatus(this.#store, n, from, to - from).every((x) => x.status === 'zero');
    const unmap =
      !(what instanceof Uint8Array) &&
      what.mayUnmap &&
      (!this.unmapNeedsDiscardUnmap || n.options.discard === 'unmap');
    const writes: ClusterWrite[] = [];
    for (let c = Math.floor(offset / cs); c * cs < end; c++) {
      const cStart = c * cs;
      const cEnd = Math.min(n.length, cStart + cs);
      const s = Math.max(offset, cStart);
      const e = Math.min(end, cEnd);
      const whole = s === cStart && e === cEnd;
      if (!(what instanceof Uint8Array)) {
        const held = m !== undefined && isHeld(m.held, c);
        const kind = map.isClusterAllocated(c) ? (map.mapping(c)?.kind ?? 'data') : 'none';
        const zeroCluster =
          whole ||
          (!held &&
            kind !== 'data' &&
            kind !== 'compressed' &&
            zeroStatus(cStart, s) &&
            zeroStatus(e, cEnd));
        if (zeroCluster) {
          writes.push({ cluster: c, zero: true, unmap });
          continue;
        }
        const data = this.read(n, cStart, cEnd - cStart);
        data.fill(0, s - cStart, e - cStart);
        writes.push({ cluster: c, data });
        continue;
      }
      const part = what.subarray(s - offset, e - offset);
      const data = whole ? part.slice() : this.read(n, cStart, cEnd - cStart);
      if (!whole) data.set(part, s - cStart);
      writes.push({ cluster: c, data });
    }
    this.#toImage(n, writer, writes);
  }
}

/** A write of `zeroes` zero bytes; `mayUnmap`: BDRV_REQ_MAY_UNMAP. */
interface Zeroes {
  readonly zeroes: number;
  readonly mayUnmap: boolean;
}

function isHeld(held: GranuleSet, cluster: number): boolean {
  for (const r of held.runs()) {
    if (r.start > cluster) return false;
    if (cluster < r.end) return true;
  }
  return false;
}
