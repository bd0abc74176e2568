// When a qcow2 node's persistent bitmaps meet its image file: loaded when the node opens,
// marked in use in the image while a writable node is open, stored when it closes, and taken
// out of the image when one is removed (./qcow2-bitmaps.ts has the format).

import type { Qcow2BitmapInfo, Qcow2BitmapInfoFlags } from '@qmpkit/qapi-types/7.2';
import type { BlockNode } from '../block-layer/node.js';
import { genericError, notSimulated } from '../errors.js';
import type { ImageStore } from '../image-store.js';
import { Qcow2FormatError } from '../qcow2.js';
import type { DirtyBitmaps } from './dirty-bitmap.js';
import { BME_FLAG_AUTO, BME_FLAG_IN_USE, Qcow2BitmapImage } from './qcow2-bitmaps.js';
import { type ImageFile, Qcow2RefcountError } from './qcow2-refcounts.js';

/**
 * The image file under a qcow2 node, reached through `file` children (blkdebug passes through),
 * for the metadata the simulator reads and writes in it.
 */
function imageFile(store: ImageStore, node: BlockNode): ImageFile {
  let current = node.file;
  while (current !== undefined && current.driver === 'blkdebug') current = current.file;
  const path = current?.driver === 'file' ? current.filename : undefined;
  return {
    read: (offset, length) => {
      if (path === undefined) throw notSimulated(`bitmaps in the image of '${node.nodeName}'`);
      return store.read(path, offset, length);
    },
    write: (offset, data) => {
      if (path === undefined) throw notSimulated(`bitmaps in the image of '${node.nodeName}'`);
      store.write(path, offset, data);
    },
  };
}

/** Persistent bitmaps of qcow2 (v3) nodes; other nodes have none and are left alone. */
export class PersistentBitmaps {
  readonly #bitmaps: DirtyBitmaps;
  readonly #store: ImageStore;

  constructor(bitmaps: DirtyBitmaps, store: ImageStore) {
    this.#bitmaps = bitmaps;
    this.#store = store;
  }

  #file(node: BlockNode): ImageFile | undefined {
    if (node.driver !== 'qcow2' || node.qcow2?.version !== 3) return undefined;
    return imageFile(this.#store, node);
  }

  /**
   * qcow2_load_dirty_bitmaps(): the image's bitmaps become the node's (called once the node has
   * its length). Throws QEMU's error when the directory is broken: the node does not open.
   */
  load(node: BlockNode): void {
    const file = this.#file(node);
    if (file === undefined) return;
    const image = new Qcow2BitmapImage(file, node.length);
    try {
      const { header, entries } = image.directory();
      let inUseToWrite = false;
      for (const entry of entries) {
        const bitmap = this.#bitmaps.create(node, 2 ** entry.granularityBits, entry.name);
        bitmap.persistent = true;
        if ((entry.flags & BME_FLAG_IN_USE) !== 0) {
          // bdrv_dirty_bitmap_set_inconsistent() also stops it recording.
          bitmap.inconsistent = true;
          bitmap.disabled = true;
        } else {
          image.loadData(header, entry, bitmap);
          entry.flags |= BME_FLAG_IN_USE;
          inUseToWrite = true;
        }
        if ((entry.flags & BME_FLAG_AUTO) === 0) bitmap.disabled = true;
        if (node.readOnly) bitmap.readonly = true;
      }
      if (inUseToWrite && !node.readOnly) image.rewriteInPlace(header, entries);
    } catch (error) {
      for (const b of this.#bitmaps.list(node)) this.#bitmaps.release(node, b);
      if (error instanceof Qcow2FormatError || error instanceof Qcow2RefcountError) {
        throw genericError(`Could not load bitmaps of '${node.nodeName}': ${error.message}`);
      }
      throw error;
    }
  }

  /**
   * qcow2_store_persistent_dirty_bitmaps() when the node closes: every persistent bitmap that is
   * consistent and writable goes into the image. Returns why it could not (QEMU then goes on
   * closing and reports it on stderr), or undefined.
   */
  store(node: BlockNode): string | undefined {
    const file = this.#file(node);
    if (file === undefined) return undefined;
    const toStore = this.#bitmaps
      .list(node)
      .filter((b) => b.persistent && !b.inconsistent && !b.readonly && b.name !== undefined)
      .map((bitmap) => ({ bitmap, name: bitmap.name as string }));
    if (toStore.length === 0) return undefined;
    if (node.readOnly) return 'No write access';
    try {
      new Qcow2BitmapImage(file, node.length).store(toStore);
      return undefined;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  }

  /**
   * The `bitmaps` member of a qcow2 node's format-specific image info: what the image's
   * directory holds now (flags as stored: in use while a writable node has them open).
   */
  describe(node: BlockNode): Qcow2BitmapInfo[] | undefined {
    const file = this.#file(node);
    if (file === undefined) return undefined;
    let entries: ReturnType<Qcow2BitmapImage['directory']>['entries'];
    try {
      entries = new Qcow2BitmapImage(file, node.length).directory().entries;
    } catch {
      return undefined;
    }
    if (entries.length === 0) return undefined;
    return entries.map((e) => {
      const flags: Qcow2BitmapInfoFlags[] = [];
      if ((e.flags & BME_FLAG_IN_USE) !== 0) flags.push('in-use');
      if ((e.flags & BME_FLAG_AUTO) !== 0) flags.push('auto');
      return { name: e.name, granularity: 2 ** e.granularityBits, flags };
    });
  }

  /** bdrv_co_remove_persistent_dirty_bitmap(): the bitmap is taken out of the image at once. */
  remove(node: BlockNode, name: string): void {
    const file = this.#file(node);
    if (file === undefined) return;
    try {
      new Qcow2BitmapImage(file, node.length).remove(name);
    } catch (error) {
      if (error instanceof Qcow2FormatError || error instanceof Qcow2RefcountError) {
        throw genericError(`Failed to update bitmap extension: ${error.message}`);
      }
      throw error;
    }
  }
}
