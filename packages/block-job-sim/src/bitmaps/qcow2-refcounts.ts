// Cluster allocation in a qcow2 image file, for the metadata the simulator writes (persistent
// bitmaps). A cluster is free when its refcount is 0; refcounts live in refcount blocks named by
// the refcount table (docs/interop/qcow2.txt, "Host cluster management"). Like QEMU's
// qcow2_alloc_clusters it takes the first run of free clusters from the start of the file, so
// clusters freed earlier are used again. Changed refcount blocks are written by flush(), which
// callers run before they write anything that points at the new clusters: a crash in between
// leaks clusters (qemu-img check repairs that) but never leaves a used cluster counted free.

import type { Qcow2Header } from '../qcow2.js';

/** The image file, as the allocator reads and writes it. */
export interface ImageFile {
  read(offset: number, length: number): Uint8Array;
  write(offset: number, data: Uint8Array): void;
}

/** Why the image's refcounts cannot take the change, in words for the log. */
export class Qcow2RefcountError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Qcow2RefcountError';
  }
}

/** Offset bits of a refcount table entry (bits 9-63; the low 9 are reserved). */
const REFTABLE_OFFSET_MASK = 0xfffffffffffffe00n;

export class Qcow2Refcounts {
  readonly #file: ImageFile;
  readonly #clusterSize: number;
  readonly #bits: number;
  /** Refcount entries per refcount block. */
  readonly #perBlock: number;
  readonly #tableOffset: number;
  readonly #table: bigint[];
  readonly #blocks = new Map<number, Uint8Array>();
  readonly #dirtyBlocks = new Set<number>();
  readonly #dirtyTableEntries = new Set<number>();

  constructor(file: ImageFile, header: Qcow2Header) {
    this.#file = file;
    this.#clusterSize = header.clusterSize;
    this.#bits = 2 ** header.refcountOrder;
    if (this.#bits > 32) {
      throw new Qcow2RefcountError(`${this.#bits}-bit refcounts are not simulated`);
    }
    this.#perBlock = (header.clusterSize * 8) / this.#bits;
    this.#tableOffset = header.refcountTableOffset;
    const entries = (header.refcountTableClusters * header.clusterSize) / 8;
    const raw = file.read(header.refcountTableOffset, entries * 8);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    this.#table = Array.from({ length: entries }, (_, i) => view.getBigUint64(i * 8));
  }

  get clusterSize(): number {
    return this.#clusterSize;
  }

  /** The refcount block covering cluster block `index`, or undefined when it has none. */
  #block(index: number): Uint8Array | undefined {
    const cached = this.#blocks.get(index);
    if (cached !== undefined) return cached;
    const entry = this.#table[index];
    if (entry === undefined) return undefined;
    const offset = Number(entry & REFTABLE_OFFSET_MASK);
    if (offset === 0) return undefined;
    const block = this.#file.read(offset, this.#clusterSize);
    this.#blocks.set(index, block);
    return block;
  }

  /** The refcount of host cluster `cluster`. */
  get(cluster: number): number {
    const block = this.#block(Math.floor(cluster / this.#perBlock));
    return block === undefined ? 0 : this.#read(block, cluster % this.#perBlock);
  }

  #read(block: Uint8Array, index: number): number {
    const bits = this.#bits;
    if (bits >= 8) {
      let value = 0;
      const bytes = bits / 8;
      for (let b = 0; b < bytes; b++) value = value * 256 + (block[index * bytes + b] as number);
      return value;
    }
    const perByte = 8 / bits;
    const byte = block[Math.floor(index / perByte)] as number;
    return (byte >> ((index % perByte) * bits)) & ((1 << bits) - 1);
  }

  #write(block: Uint8Array, index: number, value: number): void {
    const bits = this.#bits;
    if (bits >= 8) {
      const bytes = bits / 8;
      let rest = value;
      for (let b = bytes - 1; b >= 0; b--) {
        block[index * bytes + b] = rest % 256;
        rest = Math.floor(rest / 256);
      }
      return;
    }
    const perByte = 8 / bits;
    const at = Math.floor(index / perByte);
    const shift = (index % perByte) * bits;
    const mask = ((1 << bits) - 1) << shift;
    block[at] = ((block[at] as number) & ~mask) | (value << shift);
  }

  #set(cluster: number, value: number): void {
    const index = Math.floor(cluster / this.#perBlock);
    const block = this.#block(index) ?? this.#newBlock(index);
    this.#write(block, cluster % this.#perBlock, value);
    this.#dirtyBlocks.add(index);
  }

  /**
   * A refcount block for cluster block `index`, placed in the first cluster it covers (all of
   * its clusters are free, having no block), so it counts itself.
   */
  #newBlock(index: number): Uint8Array {
    if (index >= this.#table.length) {
      throw new Qcow2RefcountError('the refcount table is full (qmpkit does not grow it)');
    }
    const block = new Uint8Array(this.#clusterSize);
    const hostCluster = index * this.#perBlock;
    this.#table[index] = BigInt(hostCluster * this.#clusterSize);
    this.#blocks.set(index, block);
    this.#dirtyTableEntries.add(index);
    this.#write(block, 0, 1);
    this.#dirtyBlocks.add(index);
    return block;
  }

  /**
   * qcow2_alloc_clusters(): `bytes` rounded up to clusters, the first free run at or after host
   * cluster `from` (QEMU's free_cluster_index: below it every cluster is known to be used); its
   * host offset.
   */
  allocate(bytes: number, from = 0): number {
    const count = Math.max(1, Math.ceil(bytes / this.#clusterSize));
    let start = from;
    for (;;) {
      let run = 0;
      while (run < count && this.get(start + run) === 0) run++;
      if (run === count) break;
      start += run + 1;
    }
    // A new refcount block takes the first cluster it covers: if that lies in the run, the run
    // starts after it.
    for (let c = start; c < start + count; c++) {
      const index = Math.floor(c / this.#perBlock);
      if (this.#block(index) === undefined) {
        this.#newBlock(index);
        if (c === index * this.#perBlock) return this.allocate(bytes, from);
      }
    }
    for (let c = start; c < start + count; c++) this.#set(c, 1);
    return start * this.#clusterSize;
  }

  /** qcow2_free_clusters(): drops one reference to each cluster of [offset, offset + bytes). */
  free(offset: number, bytes: number): void {
    const first = Math.floor(offset / this.#clusterSize);
    const end = Math.ceil((offset + bytes) / this.#clusterSize);
    for (let c = first; c < end; c++) {
      const value = this.get(c);
      if (value > 0) this.#set(c, value - 1);
    }
  }

  /** Writes the changed refcount blocks, then the refcount table entries of new blocks. */
  flush(): void {
    for (const index of this.#dirtyBlocks) {
      const entry = this.#table[index] as bigint;
      this.#file.write(Number(entry & REFTABLE_OFFSET_MASK), this.#block(index) as Uint8Array);
    }
    this.#dirtyBlocks.clear();
    for (const index of this.#dirtyTableEntries) {
      const bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setBigUint64(0, this.#table[index] as bigint);
      this.#file.write(this.#tableOffset + index * 8, bytes);
    }
    this.#dirtyTableEntries.clear();
  }
}
