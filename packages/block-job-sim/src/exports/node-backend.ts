// What an NBD export of a simulated node serves. A write through a writable export is a guest
// write: it dirties every recording bitmap of the node and lands where the node keeps its data
// (the block layer's NodeData: a raw image's file, a qcow2 node's clusters; null-co keeps
// nothing), so reading back returns it, and jobs copy it.

import {
  type BlockExtent,
  type MetaContext,
  NBD_STATE_DIRTY,
  NBD_STATE_HOLE,
  NBD_STATE_ZERO,
  type NbdBackend,
  NbdError,
  type WriteOptions,
  type WriteZeroesOptions,
} from '@qmpkit/nbd';
import type { WriteOrigin } from '../block-layer/node-data.js';
import type { BlockLayer, BlockNode } from '../block-layer.js';

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
  #node: BlockNode;
  /** Its writes are guest writes, attached now (a job filter added later sits above them). */
  readonly #origin: WriteOrigin;

  constructor(layer: BlockLayer, node: BlockNode, options: NodeBackendOptions) {
    this.#layer = layer;
    this.#node = node;
    this.#origin = { guest: true, epoch: layer.nodeData.nextEpoch() };
    this.size = node.length;
    this.writable = options.writable;
    this.bitmaps = options.bitmaps;
    this.allocationDepth = options.allocationDepth;
  }

  /**
   * The export's BlockBackend now uses `node` (a completed mirror or active commit replaced its
   * node in the graph): its requests go there from now on.
   */
  retarget(node: BlockNode): void {
    this.#node = node;
  }

  read(offset: number, length: number): Uint8Array {
    return this.#layer.nodeData.read(this.#node, offset, length);
  }

  write(offset: number, data: Uint8Array, _options: WriteOptions): void {
    this.#checkWritable();
    this.#layer.nodeData.write(this.#node, offset, data, this.#origin);
    this.#written(offset, data.length);
  }

  writeZeroes(offset: number, length: number, options: WriteZeroesOptions): void {
    this.#checkWritable();
    this.#layer.nodeData.writeZeroes(this.#node, offset, length, this.#origin, options.mayTrim);
    this.#written(offset, length);
  }

  trim(_offset: number, _length: number): void {
    // discard=ignore (QEMU's default): nothing changes, nothing is dirtied.
    this.#checkWritable();
  }

  flush(): void {
    this.#layer.nodeData.flush(this.#node);
  }

  blockStatus(context: MetaContext, offset: number, length: number): readonly BlockExtent[] {
    switch (context.kind) {
      case 'base:allocation':
        // nbd/server.c: no DATA → hole, ZERO → zero (bdrv_block_status_above down the chain).
        return this.#layer.blockStatus(this.#node, offset, length).map((e) => ({
          length: e.length,
          flags:
            e.status === 'data' ? 0 : NBD_STATE_HOLE | (e.status === 'zero' ? NBD_STATE_ZERO : 0),
        }));
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
