// What an NBD export of a simulated node serves. A write through a writable export is a guest
// write: it dirties every recording bitmap of the node, and its data is kept (sparse, in
// memory, with a limit) so that reading back returns it.
//
// - null-co keeps nothing, as QEMU's null-co: reads are zeroes, block status says hole (and
//   zero with read-zeroes).
// - Other nodes keep what was written in a sparse store per node (the one @qmpkit/nbd's
//   SparseMemoryBackend has: 4 KiB blocks in 1 MiB pages, zero writes punch holes, trim ignored
//   as QEMU's default discard=ignore; up to GUEST_DATA_LIMIT of data, at most twice that in
//   memory). The simulator never reads guest data from image files: what an
//   image held before is read as zeroes.

import {
  type BlockExtent,
  type MetaContext,
  NBD_STATE_DIRTY,
  NBD_STATE_HOLE,
  NBD_STATE_ZERO,
  type NbdBackend,
  NbdError,
  SparseMemoryBackend,
  type WriteOptions,
  type WriteZeroesOptions,
} from '@qmpkit/nbd';
import type { BlockLayer, BlockNode } from '../block-layer.js';

/** Most bytes of written data the simulator keeps per node. */
export const GUEST_DATA_LIMIT = 1024 * 1024 * 1024;

/** The data guests wrote into nodes, per node. */
export class GuestData {
  readonly #stores = new WeakMap<BlockNode, SparseMemoryBackend>();
  readonly #limit: number;

  constructor(limit = GUEST_DATA_LIMIT) {
    this.#limit = limit;
  }

  /** The node's store (undefined for null-co, which keeps nothing). */
  store(node: BlockNode): SparseMemoryBackend | undefined {
    if (node.driver === 'null-co') return undefined;
    let store = this.#stores.get(node);
    if (store === undefined) {
      store = new SparseMemoryBackend({ size: node.length, writable: true, maxBytes: this.#limit });
      this.#stores.set(node, store);
    }
    return store;
  }
}

export interface NodeBackendOptions {
  readonly writable: boolean;
  readonly bitmaps: readonly string[];
  readonly allocationDepth: boolean;
}

/** An export's backend over one node. */
export class NodeNbdBackend implements NbdBackend {
  readonly size: number;
  readonly writable: boolean;
  readonly bitmaps: readonly string[];
  readonly allocationDepth: boolean;
  readonly #layer: BlockLayer;
  readonly #node: BlockNode;
  readonly #store: SparseMemoryBackend | undefined;

  constructor(layer: BlockLayer, node: BlockNode, data: GuestData, options: NodeBackendOptions) {
    this.#layer = layer;
    this.#node = node;
    this.#store = data.store(node);
    this.size = node.length;
    this.writable = options.writable;
    this.bitmaps = options.bitmaps;
    this.allocationDepth = options.allocationDepth;
  }

  read(offset: number, length: number): Uint8Array {
    return this.#store?.read(offset, length) ?? new Uint8Array(length);
  }

  write(offset: number, data: Uint8Array, options: WriteOptions): void {
    this.#checkWritable();
    this.#store?.write(offset, data, options);
    this.#written(offset, data.length);
  }

  writeZeroes(offset: number, length: number, options: WriteZeroesOptions): void {
    this.#checkWritable();
    this.#store?.writeZeroes(offset, length, options);
    this.#written(offset, length);
  }

  trim(offset: number, length: number): void {
    // discard=ignore (QEMU's default): nothing changes, nothing is dirtied.
    this.#checkWritable();
    this.#store?.trim(offset, length);
  }

  flush(): void {}

  blockStatus(context: MetaContext, offset: number, length: number): readonly BlockExtent[] {
    switch (context.kind) {
      case 'base:allocation':
        if (this.#store !== undefined) return this.#store.blockStatus(context, offset, length);
        return [{ length, flags: NBD_STATE_HOLE | (this.#node.readZeroes ? NBD_STATE_ZERO : 0) }];
      case 'qemu:allocation-depth':
        return [{ length, flags: 1 }];
      case 'qemu:dirty-bitmap':
        return this.#dirty(context.bitmap, offset, length);
    }
  }

  #dirty(name: string, offset: number, length: number): BlockExtent[] {
    const bitmap = this.#layer.dirtyBitmaps.find(this.#node, name);
    if (bitmap === undefined) throw new NbdError('EINVAL', `bitmap '${name}' is gone`);
    const end = offset + length;
    const extents: BlockExtent[] = [];
    let pos = offset;
    const push = (to: number, flags: number) => {
      if (to <= pos) return;
      const last = extents[extents.length - 1];
      if (last !== undefined && last.flags === flags) {
        extents[extents.length - 1] = { length: last.length + (to - pos), flags };
      } else extents.push({ length: to - pos, flags });
      pos = to;
    };
    for (const r of bitmap.byteRuns()) {
      if (r.end <= pos) continue;
      if (r.start >= end) break;
      push(Math.min(end, r.start), 0);
      push(Math.min(end, r.end), NBD_STATE_DIRTY);
    }
    push(end, 0);
    return extents;
  }

  /**
   * Every node the write reaches records it: the exported node, and below a raw or blkdebug
   * node its child at the same offsets. (Below qcow2 the write lands at host offsets the
   * simulator does not allocate: the file node's bitmaps are not marked.)
   */
  #written(offset: number, length: number): void {
    for (let n: BlockNode | undefined = this.#node; n !== undefined; ) {
      this.#layer.dirtyBitmaps.markDirty(n, offset, length);
      n = n.driver === 'raw' || n.driver === 'blkdebug' ? n.file : undefined;
    }
  }

  #checkWritable(): void {
    if (!this.writable) throw new NbdError('EPERM', 'the export is read-only');
  }
}
