// Block dirty bitmaps (QEMU's block/dirty-bitmap.c): per node, newest first, each recording
// which granules the node's writers dirtied. A bitmap a job uses gets a successor — an anonymous
// bitmap that records in its place while the job runs; when the job ends the successor either
// takes the parent's name (abdicate: the parent's bits are dropped) or is merged back into it
// (reclaim). That is how an incremental backup's bitmap ends up cleared on success and intact
// on failure.

import type { BlockDirtyInfo } from '@qmpkit/qapi-types/7.2';
import type { BlockNode } from '../block-layer/node.js';
import { genericError } from '../errors.js';
import { GranuleSet } from './granule-set.js';

/** What a QMP command may do with a bitmap (bdrv_dirty_bitmap_check's flags). */
export const BITMAP_BUSY = 1;
export const BITMAP_READONLY = 2;
export const BITMAP_INCONSISTENT = 4;
/** Any change: not busy, not read-only, consistent. */
export const BITMAP_DEFAULT = BITMAP_BUSY | BITMAP_READONLY | BITMAP_INCONSISTENT;
/** Enable, disable, use as a source: read-only is fine. */
export const BITMAP_ALLOW_RO = BITMAP_BUSY | BITMAP_INCONSISTENT;

export class DirtyBitmap {
  /** Undefined for an anonymous bitmap (a successor, a job's own). */
  name: string | undefined;
  readonly granularity: number;
  /** The node's length in bytes when the bitmap was made. */
  readonly size: number;
  disabled = false;
  busy = false;
  persistent = false;
  /** Loaded from an image whose in-use flag was set: only removal is allowed. */
  inconsistent = false;
  /** Loaded from a read-only image. */
  readonly = false;
  successor: DirtyBitmap | undefined = undefined;
  readonly bits = new GranuleSet();

  constructor(name: string | undefined, granularity: number, size: number) {
    this.name = name;
    this.granularity = granularity;
    this.size = size;
  }

  /** Granules covering the node. */
  get granules(): number {
    return Math.ceil(this.size / this.granularity);
  }

  /** bdrv_get_dirty_count(): dirty granules × granularity (a partial last granule counts whole). */
  get count(): number {
    return this.bits.count * this.granularity;
  }

  /** Records guest writes: the bitmap itself when enabled, its successor when that is. */
  get recording(): boolean {
    return !this.disabled || (this.successor !== undefined && !this.successor.disabled);
  }

  /** Marks [offset, offset + bytes) dirty. */
  setBytes(offset: number, bytes: number): void {
    if (bytes <= 0) return;
    const start = Math.floor(offset / this.granularity);
    const end = Math.min(this.granules, Math.ceil((offset + bytes) / this.granularity));
    this.bits.add(start, end);
  }

  /** Dirty byte ranges, each [start, end) clipped to the node. */
  byteRuns(): Array<{ start: number; end: number }> {
    return this.bits.runs().map((r) => ({
      start: r.start * this.granularity,
      end: Math.min(this.size, r.end * this.granularity),
    }));
  }

  /** ORs `source` in (granularities may differ: a source granule dirties every one it touches). */
  mergeFrom(source: DirtyBitmap): void {
    if (source.granularity === this.granularity) {
      this.bits.union(source.bits);
      return;
    }
    for (const r of source.byteRuns()) this.setBytes(r.start, r.end - r.start);
  }

  /** bdrv_dirty_bitmap_check(): QEMU's refusal for what `flags` forbid. */
  check(flags: number): void {
    if ((flags & BITMAP_BUSY) !== 0 && this.busy) {
      throw genericError(
        `Bitmap '${this.name ?? ''}' is currently in use by another operation and cannot be used`,
      );
    }
    if ((flags & BITMAP_READONLY) !== 0 && this.readonly) {
      throw genericError(`Bitmap '${this.name ?? ''}' is readonly and cannot be modified`);
    }
    if ((flags & BITMAP_INCONSISTENT) !== 0 && this.inconsistent) {
      throw genericError(`Bitmap '${this.name ?? ''}' is inconsistent and cannot be used`);
    }
  }

  /** BlockDirtyInfo as query-named-block-nodes prints it. */
  info(): BlockDirtyInfo {
    const info: BlockDirtyInfo = {
      count: this.count,
      granularity: this.granularity,
      recording: this.recording,
      busy: this.busy,
      persistent: this.persistent,
    };
    if (this.name !== undefined) info.name = this.name;
    if (this.inconsistent) info.inconsistent = true;
    return info;
  }

  /**
   * The bitmap's bits as QEMU hashes them (hbitmap_sha256): the last level of the hbitmap,
   * an array of 64-bit little-endian words, bit i of the bitmap in byte i/8, bit i%8.
   */
  serialize(): Uint8Array {
    const words = Math.ceil(this.granules / 64);
    const bytes = new Uint8Array(words * 8);
    for (const r of this.bits.runs()) {
      for (let i = r.start; i < r.end; i++) {
        bytes[i >>> 3] = (bytes[i >>> 3] as number) | (1 << (i & 7));
      }
    }
    return bytes;
  }
}

/** Every node's bitmaps. */
export class DirtyBitmaps {
  readonly #byNode = new WeakMap<BlockNode, DirtyBitmap[]>();

  /** The node's bitmaps, newest first (QEMU inserts at the head of its list). */
  list(node: BlockNode): readonly DirtyBitmap[] {
    return this.#byNode.get(node) ?? [];
  }

  /** bdrv_find_dirty_bitmap(). */
  find(node: BlockNode, name: string): DirtyBitmap | undefined {
    return this.list(node).find((b) => b.name === name);
  }

  /** bdrv_create_dirty_bitmap(): a new bitmap at the head of the node's list. */
  create(node: BlockNode, granularity: number, name: string | undefined): DirtyBitmap {
    if (name !== undefined && this.find(node, name) !== undefined) {
      throw genericError(`Bitmap already exists: ${name}`);
    }
    const bitmap = new DirtyBitmap(name, granularity, node.length);
    this.#byNode.set(node, [bitmap, ...this.list(node)]);
    return bitmap;
  }

  /** A bitmap made elsewhere (a job's own) goes to the head of the node's list. */
  adopt(node: BlockNode, bitmap: DirtyBitmap): void {
    this.#byNode.set(node, [bitmap, ...this.list(node)]);
  }

  /** bdrv_release_dirty_bitmap(). */
  release(node: BlockNode, bitmap: DirtyBitmap): void {
    const list = this.list(node).filter((b) => b !== bitmap);
    if (list.length === 0) this.#byNode.delete(node);
    else this.#byNode.set(node, list);
  }

  /**
   * bdrv_dirty_bitmap_create_successor(): an anonymous bitmap records in the parent's place
   * (enabled if the parent was); the parent is disabled and busy.
   */
  createSuccessor(node: BlockNode, parent: DirtyBitmap): void {
    if (parent.busy) {
      throw genericError('Cannot create a successor for a bitmap that is in-use by an operation');
    }
    if (parent.successor !== undefined) {
      throw genericError('Cannot create a successor for a bitmap that already has one');
    }
    const child = this.create(node, parent.granularity, undefined);
    child.disabled = parent.disabled;
    parent.disabled = true;
    parent.successor = child;
    parent.busy = true;
  }

  /** bdrv_dirty_bitmap_abdicate(): the successor takes the name; the parent's bits are gone. */
  abdicate(node: BlockNode, parent: DirtyBitmap): DirtyBitmap {
    const successor = parent.successor;
    if (successor === undefined) throw new Error('abdicate: no successor');
    successor.name = parent.name;
    successor.persistent = parent.persistent;
    parent.successor = undefined;
    parent.busy = false;
    this.release(node, parent);
    return successor;
  }

  /** bdrv_reclaim_dirty_bitmap(): the successor's bits join the parent, which records again. */
  reclaim(node: BlockNode, parent: DirtyBitmap): DirtyBitmap {
    const successor = parent.successor;
    if (successor === undefined) throw new Error('reclaim: no successor');
    parent.bits.union(successor.bits);
    parent.disabled = successor.disabled;
    parent.busy = false;
    parent.successor = undefined;
    this.release(node, successor);
    return parent;
  }

  /** A write to the node: every recording bitmap (enabled ones; successors record) is marked. */
  markDirty(node: BlockNode, offset: number, bytes: number): void {
    for (const b of this.list(node)) if (!b.disabled) b.setBytes(offset, bytes);
  }

  /** The `dirty-bitmaps` member of the node's BlockDeviceInfo (absent when it has none). */
  info(node: BlockNode): BlockDirtyInfo[] | undefined {
    const list = this.list(node);
    return list.length === 0 ? undefined : list.map((b) => b.info());
  }
}
