// The block-dirty-bitmap-* commands (QEMU's block/monitor/bitmap-qmp-cmds.c) and their
// transaction actions (blockdev.c), with QEMU 7.2's checks in QEMU's order and its words.
//
// Where 7.2 crashes the fake answers instead (documented in the package README):
// - block-dirty-bitmap-merge with an empty `bitmaps` list (7.2 and 10.0 segfault);
// - a grouped transaction with block-dirty-bitmap-enable (7.2 segfaults in the rollback; the
//   fake refuses it as it refuses the other bitmap actions, in the words 10.0 uses).

import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type {
  BlockDirtyBitmap,
  BlockDirtyBitmapAdd,
  BlockDirtyBitmapMerge,
  BlockDirtyBitmapOrStr,
} from '@qmpkit/qapi-types/7.2';
import type { BlockLayer, BlockNode } from '../block-layer.js';
import { genericError } from '../errors.js';
import {
  BITMAP_ALLOW_RO,
  BITMAP_BUSY,
  BITMAP_DEFAULT,
  BITMAP_READONLY,
  type DirtyBitmap,
  type DirtyBitmaps,
} from './dirty-bitmap.js';
import type { GranuleSet } from './granule-set.js';

/** Longest name a qcow2 image can store (BME_MAX_NAME_SIZE). */
const QCOW2_MAX_BITMAP_NAME = 1023;

/** A prepared transaction action: what its commit and abort do. */
export interface PreparedBitmapAction {
  commit?(): void;
  abort?(): void;
}

/** The bitmap commands over one block layer. */
export class BitmapCommands {
  readonly #layer: BlockLayer;
  readonly #bitmaps: DirtyBitmaps;

  constructor(layer: BlockLayer, bitmaps: DirtyBitmaps) {
    this.#layer = layer;
    this.#bitmaps = bitmaps;
  }

  /** block_dirty_bitmap_lookup(). */
  lookup(nodeName: string, name: string): { node: BlockNode; bitmap: DirtyBitmap } {
    const node = this.#layer.findNode(nodeName);
    if (node === undefined) throw genericError(`Node '${nodeName}' not found`);
    const bitmap = this.#bitmaps.find(node, name);
    if (bitmap === undefined) throw genericError(`Dirty bitmap '${name}' not found`);
    return { node, bitmap };
  }

  /** qmp_block_dirty_bitmap_add(). */
  add(a: BlockDirtyBitmapAdd): void {
    if (a.name === '') throw genericError('Bitmap name cannot be empty');
    const node = this.#layer.lookupNode(a.node);
    let granularity: number;
    if (a.granularity !== undefined) {
      granularity = a.granularity;
      if (granularity < 512 || (granularity & (granularity - 1)) !== 0) {
        throw genericError('Granularity must be power of 2 and at least 512');
      }
    } else {
      granularity = defaultGranularity(node);
    }
    if (a.persistent === true) this.#checkCanStore(node, a.name, granularity);
    const bitmap = this.#bitmaps.create(node, granularity, a.name);
    if (a.disabled === true) bitmap.disabled = true;
    bitmap.persistent = a.persistent === true;
  }

  /** bdrv_can_store_new_dirty_bitmap(): only qcow2 v3 images store bitmaps. */
  #checkCanStore(node: BlockNode, name: string, granularity: number): void {
    const header = node.qcow2;
    if (header === undefined) {
      throw genericError(
        `Can't store persistent bitmaps to ${node.nodeName}: Operation not supported`,
      );
    }
    const fail = (why: string) =>
      genericError(`Can't make bitmap '${name}' persistent in '${node.nodeName}': ${why}`);
    if (header.version < 3) throw fail('Cannot store dirty bitmaps in qcow2 v2 files');
    if (granularity > 2 ** 31) throw fail(`Granularity exceeds maximum (${2 ** 31} bytes)`);
    if (new TextEncoder().encode(name).length > QCOW2_MAX_BITMAP_NAME) {
      throw fail(`Name length exceeds maximum (${QCOW2_MAX_BITMAP_NAME} characters)`);
    }
  }

  /** block_dirty_bitmap_remove(): `release` false leaves it to the transaction's commit. */
  remove(a: BlockDirtyBitmap, release = true): { node: BlockNode; bitmap: DirtyBitmap } {
    const found = this.lookup(a.node, a.name);
    found.bitmap.check(BITMAP_BUSY | BITMAP_READONLY);
    // A persistent bitmap leaves the image at once, even in a transaction's prepare.
    if (found.bitmap.persistent) this.#layer.removePersistentBitmap(found.node, a.name);
    if (release) this.#bitmaps.release(found.node, found.bitmap);
    return found;
  }

  /** qmp_block_dirty_bitmap_clear(); returns the bits it cleared. */
  clear(a: BlockDirtyBitmap): { bitmap: DirtyBitmap; before: GranuleSet } {
    const { bitmap } = this.lookup(a.node, a.name);
    bitmap.check(BITMAP_DEFAULT);
    const before = bitmap.bits.clone();
    bitmap.bits.clear();
    return { bitmap, before };
  }

  /** qmp_block_dirty_bitmap_enable() / _disable(); returns whether it was enabled. */
  setEnabled(a: BlockDirtyBitmap, enabled: boolean): { bitmap: DirtyBitmap; wasEnabled: boolean } {
    const { bitmap } = this.lookup(a.node, a.name);
    bitmap.check(BITMAP_ALLOW_RO);
    const wasEnabled = !bitmap.disabled;
    bitmap.disabled = !enabled;
    return { bitmap, wasEnabled };
  }

  /**
   * block_dirty_bitmap_merge(): the sources are ORed into a scratch bitmap first, so a failing
   * source leaves the target as it was. Returns the target and its bits before.
   */
  merge(a: BlockDirtyBitmapMerge): { bitmap: DirtyBitmap; before: GranuleSet } {
    const { node, bitmap: target } = this.lookup(a.node, a.target);
    if (a.bitmaps.length === 0) {
      // QEMU 7.2 and 10.0 crash here (a NULL dereference); say what is wrong instead.
      throw genericError("Parameter 'bitmaps' must name at least one bitmap");
    }
    const scratch = this.#bitmaps.create(node, target.granularity, undefined);
    try {
      for (const source of a.bitmaps) {
        const src = this.#source(node, source);
        // The target's state is checked once a source is found, before the source's own: a busy
        // target is refused before a later source is looked up and before a busy source
        // (measured on 7.2.22 and 10.0.2: sources ["b1", "missing"] into a busy target name
        // the target, ["missing", "b1"] the source; a busy source into a busy target, the target).
        target.check(BITMAP_DEFAULT);
        src.check(BITMAP_ALLOW_RO);
        if (src.size !== scratch.size) {
          throw genericError(
            `Bitmaps are of different sizes (destination size is ${scratch.size}, source size is ${src.size}) and can't be merged`,
          );
        }
        scratch.mergeFrom(src);
      }
      target.check(BITMAP_DEFAULT);
      if (target.size !== scratch.size) {
        throw genericError(
          `Bitmaps are of different sizes (destination size is ${target.size}, source size is ${scratch.size}) and can't be merged`,
        );
      }
      const before = target.bits.clone();
      target.mergeFrom(scratch);
      return { bitmap: target, before };
    } finally {
      this.#bitmaps.release(node, scratch);
    }
  }

  #source(node: BlockNode, source: BlockDirtyBitmapOrStr): DirtyBitmap {
    if (typeof source === 'string') {
      const bitmap = this.#bitmaps.find(node, source);
      if (bitmap === undefined) throw genericError(`Dirty bitmap '${source}' not found`);
      return bitmap;
    }
    return this.lookup(source.node, source.name).bitmap;
  }

  /** x-debug-block-dirty-bitmap-sha256. */
  sha256(a: BlockDirtyBitmap): { sha256: string } {
    const { bitmap } = this.lookup(a.node, a.name);
    return { sha256: bytesToHex(sha256(bitmap.serialize())) };
  }

  // ---- transaction actions (blockdev.c's *_prepare / _commit / _abort) ----------------------

  /**
   * Prepares one bitmap action of a transaction, or throws its refusal. `mode` is the
   * transaction's completion-mode: bitmap actions take part only in 'individual' ones.
   */
  prepare(type: string, data: unknown, mode: string): PreparedBitmapAction | undefined {
    const checkMode = () => {
      if (mode !== 'individual') {
        throw genericError(
          `Action '${type}' does not support Transaction property completion-mode = ${mode}`,
        );
      }
    };
    switch (type) {
      case 'block-dirty-bitmap-add': {
        checkMode();
        const a = data as BlockDirtyBitmapAdd;
        this.add(a);
        return {
          abort: () => {
            const node = this.#layer.findNode(a.node);
            const bitmap = node && this.#bitmaps.find(node, a.name);
            if (node && bitmap && !bitmap.busy) this.#bitmaps.release(node, bitmap);
          },
        };
      }
      case 'block-dirty-bitmap-remove': {
        checkMode();
        const { node, bitmap } = this.remove(data as BlockDirtyBitmap, false);
        // Hidden from the rest of the transaction until the commit releases it.
        bitmap.busy = true;
        return {
          commit: () => {
            bitmap.busy = false;
            this.#bitmaps.release(node, bitmap);
          },
          abort: () => {
            bitmap.busy = false;
          },
        };
      }
      case 'block-dirty-bitmap-clear': {
        checkMode();
        const { bitmap, before } = this.clear(data as BlockDirtyBitmap);
        return { abort: () => bitmap.bits.restore(before) };
      }
      case 'block-dirty-bitmap-enable':
      case 'block-dirty-bitmap-disable': {
        checkMode();
        const enable = type === 'block-dirty-bitmap-enable';
        const { bitmap, wasEnabled } = this.setEnabled(data as BlockDirtyBitmap, enable);
        return { abort: () => (bitmap.disabled = !wasEnabled) };
      }
      case 'block-dirty-bitmap-merge': {
        checkMode();
        const { bitmap, before } = this.merge(data as BlockDirtyBitmapMerge);
        return { abort: () => bitmap.bits.restore(before) };
      }
      default:
        return undefined;
    }
  }
}

/**
 * bdrv_get_default_bitmap_granularity(): the image's cluster size, at least 4 KiB and at most
 * 64 KiB; 64 KiB where the driver has no clusters.
 */
export function defaultGranularity(node: BlockNode): number {
  const cluster = node.qcow2?.clusterSize;
  if (cluster === undefined || cluster === 0) return 65536;
  return Math.min(65536, Math.max(4096, cluster));
}
