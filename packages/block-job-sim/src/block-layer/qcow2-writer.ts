// Guest data into a qcow2 image file, as block/qcow2-cluster.c puts it there: a cluster the image
// does not hold as its own data yet gets a new host cluster (first free one from the start of the
// file, after its L2 table when the L1 entry names none yet), its L2 entry then points at it; a
// cluster it holds (QCOW_OFLAG_COPIED) is written in place. Zeroes set the zero flag (v3), and
// free the old host cluster when the writer allows a hole (BDRV_REQ_MAY_UNMAP), keep it otherwise.
//
// Order on disk, so that a crash at any point leaves an image `qemu-img check` accepts (at worst
// with leaked clusters, as QEMU's own crash does): new refcounts, then the data, then the L2
// entries and L1 entries naming them; refcounts dropped for freed clusters only after the L2
// entries stopped naming them (QEMU's cache dependencies give the same order).

import { type ImageFile, Qcow2Refcounts } from '../bitmaps/qcow2-refcounts.js';
import { notSimulated } from '../errors.js';
import type { Qcow2Header } from '../qcow2.js';

const OFFSET_MASK = 0x00fffffffffffe00n;
const COPIED = 1n << 63n;
const COMPRESSED = 1n << 62n;
const ZERO = 1n;

/** One cluster of a request: its new contents (the whole cluster), or zeroes. */
export type ClusterWrite =
  | { readonly cluster: number; readonly data: Uint8Array }
  | { readonly cluster: number; readonly zero: true; readonly unmap: boolean };

/** Where a written cluster now is: data at a host offset, or a zero cluster. */
export type ClusterPlacement = { readonly hostOffset: number } | { readonly zero: true };

export class Qcow2Writer {
  readonly #file: ImageFile;
  readonly #header: Qcow2Header;
  readonly #l2Entries: number;
  readonly #l1: bigint[];
  readonly #l2Tables = new Map<number, Uint8Array>();
  /** QEMU's free_cluster_index: every host cluster below it is in use. */
  #freeHint = 0;

  constructor(file: ImageFile, header: Qcow2Header) {
    if (header.nbSnapshots > 0) throw notSimulated('writing into qcow2 images with snapshots');
    this.#file = file;
    this.#header = header;
    this.#l2Entries = header.clusterSize / 8;
    const raw = file.read(header.l1TableOffset, header.l1Size * 8);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    this.#l1 = Array.from({ length: header.l1Size }, (_, i) => view.getBigUint64(i * 8));
  }

  #l2Table(offset: number): Uint8Array {
    let table = this.#l2Tables.get(offset);
    if (table === undefined) {
      table = this.#file.read(offset, this.#header.clusterSize);
      this.#l2Tables.set(offset, table);
    }
    return table;
  }

  /** The L2 entry of guest cluster `cluster` (0 when its L1 entry names no table). */
  entry(cluster: number): bigint {
    const l1 = this.#l1[Math.floor(cluster / this.#l2Entries)] ?? 0n;
    const l2Offset = Number(l1 & OFFSET_MASK);
    if (l2Offset === 0) return 0n;
    const table = this.#l2Table(l2Offset);
    return new DataView(table.buffer, table.byteOffset).getBigUint64(
      (cluster % this.#l2Entries) * 8,
    );
  }

  /** Where the image holds `cluster`'s own data now, if it holds it as a plain data cluster. */
  dataOffset(cluster: number): number | undefined {
    const e = this.entry(cluster);
    if ((e & (COMPRESSED | ZERO)) !== 0n) return undefined;
    const host = Number(e & OFFSET_MASK);
    return host === 0 ? undefined : host;
  }

  /** One request's clusters, ascending as QEMU allocates them; where each one now is. */
  write(writes: readonly ClusterWrite[]): ClusterPlacement[] {
    const cs = this.#header.clusterSize;
    const refcounts = new Qcow2Refcounts(this.#file, this.#header);
    const allocate = () => {
      const host = refcounts.allocate(cs, this.#freeHint);
      this.#freeHint = host / cs + 1;
      return host;
    };
    const newTables = new Set<number>();
    const changedEntries = new Map<number, Set<number>>();
    const changedL1 = new Set<number>();
    const toFree: Array<{ offset: number; bytes: number }> = [];
    const data: Array<{ host: number; bytes: Uint8Array }> = [];
    const placements: ClusterPlacement[] = [];
    for (const w of writes) {
      const l1Index = Math.floor(w.cluster / this.#l2Entries);
      let l2Offset = Number((this.#l1[l1Index] ?? 0n) & OFFSET_MASK);
      if (l2Offset === 0) {
        l2Offset = allocate();
        this.#l2Tables.set(l2Offset, new Uint8Array(cs));
        this.#l1[l1Index] = BigInt(l2Offset) | COPIED;
        newTables.add(l2Offset);
        changedL1.add(l1Index);
      } else if (((this.#l1[l1Index] as bigint) & COPIED) === 0n) {
        throw notSimulated('writing through a shared qcow2 L2 table');
      }
      const table = this.#l2Table(l2Offset);
      const view = new DataView(table.buffer, table.byteOffset);
      const at = (w.cluster % this.#l2Entries) * 8;
      const old = view.getBigUint64(at);
      const oldHost = Number(old & OFFSET_MASK);
      const owned = (old & COMPRESSED) === 0n && (old & COPIED) !== 0n && oldHost !== 0;
      let entry: bigint;
      if ('data' in w) {
        const host = owned ? oldHost : allocate();
        if (!owned && oldHost !== 0) toFree.push(this.#hostRange(old));
        data.push({ host, bytes: w.data });
        entry = BigInt(host) | COPIED;
        placements.push({ hostOffset: host });
      } else if (this.#header.version === 2) {
        // Version 2 has no zero flag: QEMU writes the zeroes as data.
        const host = owned ? oldHost : allocate();
        if (!owned && oldHost !== 0) toFree.push(this.#hostRange(old));
        data.push({ host, bytes: new Uint8Array(cs) });
        entry = BigInt(host) | COPIED;
        placements.push({ hostOffset: host });
      } else {
        const unmap = (old & COMPRESSED) !== 0n || (w.unmap && oldHost !== 0);
        if (unmap && oldHost !== 0) toFree.push(this.#hostRange(old));
        entry = (unmap ? 0n : old) | ZERO;
        placements.push({ zero: true });
      }
      if (entry === old) continue;
      view.setBigUint64(at, entry);
      let changed = changedEntries.get(l2Offset);
      if (changed === undefined) {
        changed = new Set();
        changedEntries.set(l2Offset, changed);
      }
      changed.add(at);
    }
    refcounts.flush();
    for (const d of data) this.#file.write(d.host, d.bytes);
    for (const [l2Offset, entries] of changedEntries) {
      const table = this.#l2Table(l2Offset);
      if (newTables.has(l2Offset)) {
        this.#file.write(l2Offset, table);
        continue;
      }
      const sorted = [...entries].sort((a, b) => a - b);
      const first = sorted[0] as number;
      const last = (sorted[sorted.length - 1] as number) + 8;
      this.#file.write(l2Offset + first, table.slice(first, last));
    }
    for (const index of changedL1) {
      const bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setBigUint64(0, this.#l1[index] as bigint);
      this.#file.write(this.#header.l1TableOffset + index * 8, bytes);
    }
    for (const range of toFree) {
      refcounts.free(range.offset, range.bytes);
      this.#freeHint = Math.min(this.#freeHint, Math.floor(range.offset / cs));
    }
    if (toFree.length > 0) refcounts.flush();
    return placements;
  }

  /**
   * The host bytes an L2 entry holds: its cluster, or a compressed cluster's sectors
   * (qcow2_free_any_cluster: the descriptor's offset, rounded down to 512, and sector count).
   */
  #hostRange(entry: bigint): { offset: number; bytes: number } {
    if ((entry & COMPRESSED) === 0n) {
      return { offset: Number(entry & OFFSET_MASK), bytes: this.#header.clusterSize };
    }
    const shift = BigInt(62 - (this.#header.clusterBits - 8));
    const host = Number(entry & ((1n << shift) - 1n));
    const sectors =
      Number((entry >> shift) & ((1n << BigInt(this.#header.clusterBits - 8)) - 1n)) + 1;
    const offset = host - (host % 512);
    return { offset, bytes: sectors * 512 };
  }
}
