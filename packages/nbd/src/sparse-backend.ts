/**
 * A sparse in-memory backend: data kept in fixed-size blocks that exist only once written, with
 * a hard limit on the bytes held, optional dirty bitmaps that writes mark, and block status that
 * reports what a raw file on a Linux filesystem reports through QEMU (holes read as zeroes).
 */
import type {
  BlockExtent,
  MetaContext,
  NbdBackend,
  WriteOptions,
  WriteZeroesOptions,
} from './backend.js';
import { NbdError } from './backend.js';
import { NBD_STATE_DIRTY, NBD_STATE_HOLE, NBD_STATE_ZERO } from './constants.js';

type Block = Uint8Array; // blockSize bytes

/** Blocks per page; pages make "next allocated block" cheap on huge, mostly empty exports. */
const PAGE_BLOCKS = 256;
/** A page this full (or written this much at once) keeps its blocks in one array. */
const DENSE_BLOCKS = PAGE_BLOCKS / 2;
const DENSE_WRITE_BLOCKS = 16;
/** A dense page this empty goes back to single blocks, so memory stays within twice the data. */
const SPARSE_BLOCKS = PAGE_BLOCKS / 8;

/**
 * A page of PAGE_BLOCKS blocks. Scattered blocks are arrays of their own; a page that fills up
 * (or takes a large write) holds its blocks in one contiguous array instead, so sequential data
 * costs one allocation per page and reads inside it need no copy.
 */
interface Page {
  /** Which blocks hold data (1) or are holes (0). */
  readonly present: Uint8Array;
  count: number;
  /** Sparse form: the blocks that hold data. */
  blocks: Array<Block | undefined> | undefined;
  /** Dense form: every block of the page, holes zeroed. */
  data: Uint8Array | undefined;
}

export interface SparseBitmapOptions {
  readonly name: string;
  /** Bytes per bit; a power of two ≥ 512 (QEMU's default for qcow2 is 65536). */
  readonly granularity?: number;
  /** Whether writes mark it (default true). */
  readonly enabled?: boolean;
}

export interface SparseMemoryBackendOptions {
  readonly size: number;
  readonly writable?: boolean;
  /** Allocation unit in bytes (a power of two); default 4096, a Linux filesystem's block. */
  readonly blockSize?: number;
  /** Most bytes of data blocks held at once; default 1 GiB. Past it, writes fail with ENOSPC. */
  readonly maxBytes?: number;
  /** Dirty bitmaps exported as `qemu:dirty-bitmap:NAME`. */
  readonly bitmaps?: readonly SparseBitmapOptions[];
  /** Serve `qemu:allocation-depth` (every byte is depth 1: one layer, no backing file). */
  readonly allocationDepth?: boolean;
  /**
   * What a trim does, as QEMU's `discard` option: `ignore` (QEMU's default for `qemu-nbd` and
   * `-blockdev`: the request succeeds and nothing changes) or `unmap` (the range is punched).
   */
  readonly discard?: 'ignore' | 'unmap';
}

class DirtyBitmap {
  readonly bits: Uint8Array;
  enabled: boolean;
  constructor(
    readonly granularity: number,
    size: number,
    enabled: boolean,
  ) {
    this.bits = new Uint8Array(Math.ceil(Math.ceil(size / granularity) / 8));
    this.enabled = enabled;
  }

  mark(offset: number, length: number): void {
    if (!this.enabled || length === 0) return;
    const last = Math.floor((offset + length - 1) / this.granularity);
    for (let i = Math.floor(offset / this.granularity); i <= last; i++) {
      this.bits[i >> 3]! |= 1 << (i & 7);
    }
  }

  isDirty(index: number): boolean {
    return (this.bits[index >> 3]! & (1 << (index & 7))) !== 0;
  }
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

export class SparseMemoryBackend implements NbdBackend {
  readonly size: number;
  readonly writable: boolean;
  readonly blockSize: number;
  readonly maxBytes: number;
  readonly bitmaps: readonly string[];
  readonly allocationDepth: boolean;
  readonly discard: 'ignore' | 'unmap';
  readonly #pages = new Map<number, Page>();
  /** Page indexes in ascending order. */
  #pageOrder: number[] = [];
  #dataBlocks = 0;
  readonly #bitmaps = new Map<string, DirtyBitmap>();
  #flushes = 0;

  constructor(options: SparseMemoryBackendOptions) {
    if (!Number.isSafeInteger(options.size) || options.size < 0) {
      throw new RangeError('size must be a non-negative safe integer');
    }
    this.size = options.size;
    this.writable = options.writable ?? true;
    this.blockSize = options.blockSize ?? 4096;
    if (!isPowerOfTwo(this.blockSize)) throw new RangeError('blockSize must be a power of two');
    this.maxBytes = options.maxBytes ?? 1024 ** 3;
    this.allocationDepth = options.allocationDepth ?? false;
    this.discard = options.discard ?? 'ignore';
    for (const b of options.bitmaps ?? []) {
      const granularity = b.granularity ?? 65536;
      if (!isPowerOfTwo(granularity) || granularity < 512) {
        throw new RangeError(`bitmap '${b.name}': granularity must be a power of two ≥ 512`);
      }
      if (this.#bitmaps.has(b.name)) throw new RangeError(`bitmap '${b.name}' defined twice`);
      this.#bitmaps.set(b.name, new DirtyBitmap(granularity, this.size, b.enabled ?? true));
    }
    this.bitmaps = [...this.#bitmaps.keys()];
  }

  /** Bytes held in data blocks (the figure `maxBytes` limits). */
  get allocatedBytes(): number {
    return this.#dataBlocks * this.blockSize;
  }

  /** How many times `flush()` ran (FUA and NBD_CMD_FLUSH). */
  get flushCount(): number {
    return this.#flushes;
  }

  /** Clears a bitmap (as `block-dirty-bitmap-clear` would). */
  clearBitmap(name: string): void {
    this.#bitmap(name).bits.fill(0);
  }

  /** Starts or stops a bitmap recording writes. */
  setBitmapEnabled(name: string, enabled: boolean): void {
    this.#bitmap(name).enabled = enabled;
  }

  /**
   * The bytes at [offset, offset + length). A read inside one dense page is a view of the page,
   * not a copy: it shows what later writes put there (the caller sends it, then lets it go).
   */
  read(offset: number, length: number): Uint8Array {
    this.#checkRange(offset, length);
    const bs = this.blockSize;
    const pageBytes = PAGE_BLOCKS * bs;
    const pageIndex = Math.floor(offset / pageBytes);
    if (length > 0 && Math.floor((offset + length - 1) / pageBytes) === pageIndex) {
      const data = this.#pages.get(pageIndex)?.data;
      const start = offset - pageIndex * pageBytes;
      if (data !== undefined) return data.subarray(start, start + length);
    }
    const out = new Uint8Array(length);
    let at = offset;
    while (at < offset + length) {
      const index = Math.floor(at / bs);
      const within = at - index * bs;
      const n = Math.min(bs - within, offset + length - at);
      const block = this.#block(index);
      if (block !== undefined) {
        out.set(block.subarray(within, within + n), at - offset);
      }
      at += n;
    }
    return out;
  }

  write(offset: number, data: Uint8Array, _options?: WriteOptions): void {
    this.#checkWrite(offset, data.length);
    if (data.length === 0) return;
    const bs = this.blockSize;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + data.length - 1) / bs);
    let fresh = 0;
    for (let i = first; i <= last; i++) if (!this.#present(i)) fresh++;
    this.#reserve(fresh);
    let at = offset;
    const end = offset + data.length;
    while (at < end) {
      // One page at a time: a large write makes the page dense first.
      const pageIndex = Math.floor(at / (PAGE_BLOCKS * bs));
      const pageEnd = Math.min(end, (pageIndex + 1) * PAGE_BLOCKS * bs);
      const blocks = Math.ceil(pageEnd / bs) - Math.floor(at / bs);
      const page = this.#page(pageIndex);
      if (blocks >= DENSE_WRITE_BLOCKS && page.data === undefined) this.#densify(page);
      const pageStart = pageIndex * PAGE_BLOCKS * bs;
      if (page.data !== undefined) {
        // Dense: mark the blocks, then one copy.
        for (let i = Math.floor(at / bs); i * bs < pageEnd; i++)
          this.#allocate(page, i % PAGE_BLOCKS);
        page.data.set(data.subarray(at - offset, pageEnd - offset), at - pageStart);
        at = pageEnd;
      }
      while (at < pageEnd) {
        const index = Math.floor(at / bs);
        const within = at - index * bs;
        const n = Math.min(bs - within, pageEnd - at);
        const block = this.#allocate(page, index % PAGE_BLOCKS) as Block;
        block.set(data.subarray(at - offset, at - offset + n), within);
        at += n;
      }
      if (page.data === undefined && page.count >= DENSE_BLOCKS) this.#densify(page);
    }
    this.#mark(offset, data.length);
  }

  writeZeroes(offset: number, length: number, _options?: WriteZeroesOptions): void {
    this.#checkWrite(offset, length);
    // QEMU zeroes a raw file with fallocate(); on ext4 either way leaves whole blocks as holes
    // (unwritten extents read as holes), which is what block status then reports.
    this.#zero(offset, length);
    this.#mark(offset, length);
  }

  trim(offset: number, length: number): void {
    this.#checkWrite(offset, length);
    if (this.discard === 'ignore') return;
    // Punching a hole: whole blocks go, partial ones read as zeroes.
    this.#zero(offset, length);
    this.#mark(offset, length);
  }

  flush(): void {
    this.#flushes++;
  }

  blockStatus(context: MetaContext, offset: number, length: number): BlockExtent[] {
    this.#checkRange(offset, length);
    if (length === 0) return [];
    switch (context.kind) {
      case 'base:allocation':
        return this.#allocation(offset, length);
      case 'qemu:allocation-depth':
        return [{ length, flags: 1 }];
      case 'qemu:dirty-bitmap':
        return this.#dirty(this.#bitmap(context.bitmap), offset, length);
    }
  }

  #bitmap(name: string): DirtyBitmap {
    const bitmap = this.#bitmaps.get(name);
    if (bitmap === undefined) throw new NbdError('EINVAL', `no bitmap '${name}'`);
    return bitmap;
  }

  #checkRange(offset: number, length: number): void {
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > this.size
    ) {
      throw new NbdError(
        'EINVAL',
        `range ${offset}+${length} is outside the ${this.size}-byte disk`,
      );
    }
  }

  #checkWrite(offset: number, length: number): void {
    if (!this.writable) throw new NbdError('EPERM', 'the disk is read-only');
    this.#checkRange(offset, length);
  }

  #reserve(blocks: number): void {
    const needed = (this.#dataBlocks + blocks) * this.blockSize;
    if (needed > this.maxBytes) {
      throw new NbdError(
        'ENOSPC',
        `sparse memory backend full: ${needed} bytes needed, the limit is ${this.maxBytes}`,
      );
    }
  }

  #mark(offset: number, length: number): void {
    for (const bitmap of this.#bitmaps.values()) bitmap.mark(offset, length);
  }

  /** The block's bytes (a view into a dense page), if it holds data. */
  #block(index: number): Block | undefined {
    const page = this.#pages.get(Math.floor(index / PAGE_BLOCKS));
    if (page === undefined) return undefined;
    const slot = index % PAGE_BLOCKS;
    if (page.present[slot] === 0) return undefined;
    if (page.data !== undefined) {
      return page.data.subarray(slot * this.blockSize, (slot + 1) * this.blockSize);
    }
    return page.blocks?.[slot];
  }

  #present(index: number): boolean {
    const page = this.#pages.get(Math.floor(index / PAGE_BLOCKS));
    return page !== undefined && page.present[index % PAGE_BLOCKS] === 1;
  }

  /** The page, made (empty, sparse) if it does not exist. */
  #page(pageIndex: number): Page {
    let page = this.#pages.get(pageIndex);
    if (page === undefined) {
      page = {
        present: new Uint8Array(PAGE_BLOCKS),
        count: 0,
        blocks: new Array(PAGE_BLOCKS),
        data: undefined,
      };
      this.#pages.set(pageIndex, page);
      this.#pageOrder.splice(this.#pageInsertionPoint(pageIndex), 0, pageIndex);
    }
    return page;
  }

  /**
   * The block at `slot` of the page, allocated (zeroed) if it was a hole; undefined for a dense
   * page (the caller writes into its array).
   */
  #allocate(page: Page, slot: number): Block | undefined {
    if (page.present[slot] === 0) {
      page.present[slot] = 1;
      page.count++;
      this.#dataBlocks++;
      if (page.data === undefined) {
        (page.blocks as Array<Block | undefined>)[slot] = new Uint8Array(this.blockSize);
      }
    }
    return page.blocks?.[slot];
  }

  /** Makes the block at `slot` a hole; the page goes once it holds nothing. */
  #free(pageIndex: number, page: Page, slot: number): void {
    if (page.present[slot] === 0) return;
    page.present[slot] = 0;
    page.count--;
    this.#dataBlocks--;
    if (page.data !== undefined) {
      page.data.fill(0, slot * this.blockSize, (slot + 1) * this.blockSize);
    } else {
      (page.blocks as Array<Block | undefined>)[slot] = undefined;
    }
    if (page.count === 0) {
      this.#pages.delete(pageIndex);
      this.#pageOrder.splice(this.#pageInsertionPoint(pageIndex), 1);
    } else if (page.data !== undefined && page.count < SPARSE_BLOCKS) {
      this.#sparsify(page);
    }
  }

  #densify(page: Page): void {
    const bs = this.blockSize;
    const data = new Uint8Array(PAGE_BLOCKS * bs);
    const blocks = page.blocks as Array<Block | undefined>;
    for (let slot = 0; slot < PAGE_BLOCKS; slot++) {
      const block = blocks[slot];
      if (block !== undefined) data.set(block, slot * bs);
    }
    page.data = data;
    page.blocks = undefined;
  }

  #sparsify(page: Page): void {
    const bs = this.blockSize;
    const data = page.data as Uint8Array;
    const blocks: Array<Block | undefined> = new Array(PAGE_BLOCKS);
    for (let slot = 0; slot < PAGE_BLOCKS; slot++) {
      if (page.present[slot] === 1) blocks[slot] = data.slice(slot * bs, (slot + 1) * bs);
    }
    page.blocks = blocks;
    page.data = undefined;
  }

  /** The position of the first page index ≥ `pageIndex` in the ordered list. */
  #pageInsertionPoint(pageIndex: number): number {
    let lo = 0;
    let hi = this.#pageOrder.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#pageOrder[mid]! < pageIndex) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #zero(offset: number, length: number): void {
    const bs = this.blockSize;
    let at = offset;
    while (at < offset + length) {
      const index = Math.floor(at / bs);
      const within = at - index * bs;
      const n = Math.min(bs - within, offset + length - at);
      const pageIndex = Math.floor(index / PAGE_BLOCKS);
      const page = this.#pages.get(pageIndex);
      if (page === undefined) {
        // A whole page of holes: on to the next page.
        at = Math.min(offset + length, (pageIndex + 1) * PAGE_BLOCKS * bs);
        continue;
      }
      if (n === bs) {
        this.#free(pageIndex, page, index % PAGE_BLOCKS);
      } else {
        this.#block(index)?.fill(0, within, within + n);
      }
      at += n;
    }
  }

  /** The first allocated block at or after `index` (undefined if none). */
  #nextAllocated(index: number, limit: number): number | undefined {
    let p = this.#pageInsertionPoint(Math.floor(index / PAGE_BLOCKS));
    for (; p < this.#pageOrder.length; p++) {
      const pageIndex = this.#pageOrder[p]!;
      if (pageIndex * PAGE_BLOCKS >= limit) return undefined;
      const present = this.#pages.get(pageIndex)!.present;
      const start = Math.max(0, index - pageIndex * PAGE_BLOCKS);
      const at = present.indexOf(1, start);
      if (at >= 0) return pageIndex * PAGE_BLOCKS + at;
    }
    return undefined;
  }

  #allocation(offset: number, length: number): BlockExtent[] {
    const bs = this.blockSize;
    const end = offset + length;
    const out: BlockExtent[] = [];
    const push = (n: number, flags: number) => {
      const previous = out[out.length - 1];
      if (previous !== undefined && previous.flags === flags) {
        out[out.length - 1] = { length: previous.length + n, flags };
      } else {
        out.push({ length: n, flags });
      }
    };
    let at = offset;
    while (at < end) {
      const index = Math.floor(at / bs);
      if (!this.#present(index)) {
        const next = this.#nextAllocated(index, Math.ceil(end / bs));
        const holeEnd = next === undefined ? end : Math.min(end, next * bs);
        push(holeEnd - at, NBD_STATE_HOLE | NBD_STATE_ZERO);
        at = holeEnd;
      } else {
        // The run of data blocks up to the next hole or the end of the page.
        const pageIndex = Math.floor(index / PAGE_BLOCKS);
        const present = (this.#pages.get(pageIndex) as Page).present;
        const hole = present.indexOf(0, index % PAGE_BLOCKS);
        const runEnd = pageIndex * PAGE_BLOCKS + (hole < 0 ? PAGE_BLOCKS : hole);
        const n = Math.min(runEnd * bs, end) - at;
        push(n, 0);
        at += n;
      }
    }
    return out;
  }

  #dirty(bitmap: DirtyBitmap, offset: number, length: number): BlockExtent[] {
    const g = bitmap.granularity;
    const end = offset + length;
    const out: BlockExtent[] = [];
    let at = offset;
    while (at < end) {
      const index = Math.floor(at / g);
      // A whole byte of the bitmap at once when it is all clean or all dirty.
      const byte = bitmap.bits[index >> 3]!;
      const run = (index & 7) === 0 && (byte === 0 || byte === 0xff) ? 8 : 1;
      const flags = bitmap.isDirty(index) ? NBD_STATE_DIRTY : 0;
      const n = Math.min((index + run) * g, end) - at;
      const previous = out[out.length - 1];
      if (previous !== undefined && previous.flags === flags) {
        out[out.length - 1] = { length: previous.length + n, flags };
      } else {
        out.push({ length: n, flags });
      }
      at += n;
    }
    return out;
  }
}
