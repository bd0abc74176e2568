// Persistent dirty bitmaps in a qcow2 image, in QEMU's bitmap extension format
// (docs/interop/qcow2.txt "Bitmaps extension"; QEMU's block/qcow2-bitmap.c for what QEMU does
// with it), so that images the simulator closed open in QEMU with the same bitmaps and the
// other way round:
//
// - opening a node (load): every bitmap of the directory becomes a persistent bitmap of the node
//   (in directory order, so the node lists them newest first as QEMU does); one whose in-use flag
//   is already set was not stored by whoever had it open last — it is `inconsistent`, its data
//   is not read. A writable node then sets the in-use flag of the others in the image, so a
//   simulator killed while the node is open leaves them in use, as QEMU would.
// - closing a node (store): every persistent, consistent bitmap is written (data clusters with
//   any bit set, its bitmap table, then a new directory and the header), flags `auto` when it
//   records and in-use cleared; the clusters of the old tables and directory are freed after the
//   header points at the new ones.
// - removing a persistent bitmap takes it out of the image at once.
//
// The header's autoclear bit 0 says the extension is valid: a program that does not know the
// extension clears it when it writes the image, and the bitmaps then count as absent.

import {
  EXT_BITMAPS,
  type Qcow2BitmapsExtension,
  Qcow2FormatError,
  type Qcow2Header,
  readQcow2Header,
  writeQcow2Header,
} from '../qcow2.js';
import type { DirtyBitmap } from './dirty-bitmap.js';
import type { GranuleSet } from './granule-set.js';
import { type ImageFile, Qcow2Refcounts } from './qcow2-refcounts.js';

export const BME_FLAG_IN_USE = 1;
export const BME_FLAG_AUTO = 2;
const BME_RESERVED_FLAGS = 0xfffffffc;
const BME_MAX_TABLE_SIZE = 0x8000000;
const BME_MAX_PHYS_SIZE = 0x20000000;
const BME_MAX_NAME_SIZE = 1023;
const BT_DIRTY_TRACKING_BITMAP = 1;
const MAX_DIRECTORY_SIZE = 64 * 1024 * 1024;
const ENTRY_RESERVED_MASK = 0xff000000000001fen;
const ENTRY_OFFSET_MASK = 0x00fffffffffffe00n;
const ENTRY_ALL_ONES = 1n;
const AUTOCLEAR_BITMAPS = 1n;
const DIR_ENTRY_HEADER = 24;

/** One entry of the bitmap directory. */
export interface BitmapDirectoryEntry {
  name: string;
  tableOffset: number;
  /** Entries of the bitmap table (one per cluster of bitmap data). */
  tableSize: number;
  flags: number;
  granularityBits: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const entrySize = (nameBytes: number) => Math.ceil((DIR_ENTRY_HEADER + nameBytes) / 8) * 8;

/** Bytes the serialized bitmap takes: its bits rounded up to 64-bit words. */
function serializedBytes(size: number, granularity: number): number {
  return Math.ceil(Math.ceil(size / granularity) / 64) * 8;
}

/** Whether the header's bitmaps extension is there and valid (autoclear bit 0 set). */
function validExtension(header: Qcow2Header): Qcow2BitmapsExtension | undefined {
  const ext = header.bitmapsExtension;
  if (ext === undefined || (header.autoclearFeatures & AUTOCLEAR_BITMAPS) === 0n) return undefined;
  return ext.nbBitmaps === 0 ? undefined : ext;
}

/** bitmap_list_load(): the directory, checked as QEMU checks it; [] without a valid extension. */
export function readBitmapDirectory(
  file: ImageFile,
  header: Qcow2Header,
  nodeLength: number,
): BitmapDirectoryEntry[] {
  const ext = validExtension(header);
  if (ext === undefined) return [];
  if (ext.directorySize === 0)
    throw new Qcow2FormatError('Requested bitmap directory size is zero');
  if (ext.directorySize > MAX_DIRECTORY_SIZE) {
    throw new Qcow2FormatError('Requested bitmap directory size is too big');
  }
  const dir = file.read(ext.directoryOffset, ext.directorySize);
  const view = new DataView(dir.buffer, dir.byteOffset, dir.byteLength);
  const entries: BitmapDirectoryEntry[] = [];
  let at = 0;
  while (at < dir.byteLength) {
    if (at + DIR_ENTRY_HEADER > dir.byteLength)
      throw new Qcow2FormatError('Broken bitmap directory');
    if (entries.length + 1 > ext.nbBitmaps) {
      throw new Qcow2FormatError('More bitmaps found than specified in header extension');
    }
    const nameSize = view.getUint16(at + 18);
    const extraDataSize = view.getUint32(at + 20);
    const size = Math.ceil((DIR_ENTRY_HEADER + nameSize + extraDataSize) / 8) * 8;
    if (at + size > dir.byteLength) throw new Qcow2FormatError('Broken bitmap directory');
    if (extraDataSize !== 0) throw new Qcow2FormatError('Bitmap extra data is not supported');
    const name = decoder.decode(
      dir.subarray(at + DIR_ENTRY_HEADER, at + DIR_ENTRY_HEADER + nameSize),
    );
    const entry: BitmapDirectoryEntry = {
      name,
      tableOffset: Number(view.getBigUint64(at)),
      tableSize: view.getUint32(at + 8),
      flags: view.getUint32(at + 12),
      granularityBits: view.getUint8(at + 17),
    };
    if (!entryIsValid(entry, view.getUint8(at + 16), nameSize, header.clusterSize, nodeLength)) {
      throw new Qcow2FormatError(`Bitmap '${name}' doesn't satisfy the constraints`);
    }
    entries.push(entry);
    at += size;
  }
  if (entries.length !== ext.nbBitmaps) {
    throw new Qcow2FormatError('Less bitmaps found than specified in header extension');
  }
  return entries;
}

/** check_dir_entry(). */
function entryIsValid(
  e: BitmapDirectoryEntry,
  type: number,
  nameSize: number,
  clusterSize: number,
  nodeLength: number,
): boolean {
  if (
    e.tableSize === 0 ||
    e.tableOffset === 0 ||
    e.tableOffset % clusterSize !== 0 ||
    e.tableSize > BME_MAX_TABLE_SIZE ||
    e.granularityBits > 31 ||
    e.granularityBits < 9 ||
    (e.flags & BME_RESERVED_FLAGS) !== 0 ||
    nameSize > BME_MAX_NAME_SIZE ||
    type !== BT_DIRTY_TRACKING_BITMAP
  ) {
    return false;
  }
  const physBytes = e.tableSize * clusterSize;
  if (physBytes > BME_MAX_PHYS_SIZE) return false;
  // A bitmap stored for a smaller image (resized since) is fine as long as it is in use.
  return (e.flags & BME_FLAG_IN_USE) !== 0 || nodeLength <= physBytes * 8 * 2 ** e.granularityBits;
}

/** The bitmap table, each entry checked (bitmap_table_load). */
function readBitmapTable(
  file: ImageFile,
  entry: BitmapDirectoryEntry,
  clusterSize: number,
): bigint[] {
  const raw = file.read(entry.tableOffset, entry.tableSize * 8);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const table: bigint[] = [];
  for (let i = 0; i < entry.tableSize; i++) {
    const value = view.getBigUint64(i * 8);
    const offset = Number(value & ENTRY_OFFSET_MASK);
    if (
      (value & ENTRY_RESERVED_MASK) !== 0n ||
      (offset !== 0 && ((value & ENTRY_ALL_ONES) !== 0n || offset % clusterSize !== 0))
    ) {
      throw new Qcow2FormatError(
        `Could not read bitmap_table table from image for bitmap '${entry.name}': Invalid argument`,
      );
    }
    table.push(value);
  }
  return table;
}

/** load_bitmap_data(): the stored bits into `bitmap` (which is empty). */
export function loadBitmapData(
  file: ImageFile,
  header: Qcow2Header,
  entry: BitmapDirectoryEntry,
  bitmap: DirtyBitmap,
): void {
  const clusterSize = header.clusterSize;
  const table = readBitmapTable(file, entry, clusterSize);
  if (table.length !== Math.ceil(serializedBytes(bitmap.size, bitmap.granularity) / clusterSize)) {
    throw new Qcow2FormatError(
      `Could not read bitmap '${entry.name}' from image: Invalid argument`,
    );
  }
  const granulesPerCluster = clusterSize * 8;
  table.forEach((value, i) => {
    const first = i * granulesPerCluster;
    const end = Math.min(bitmap.granules, first + granulesPerCluster);
    const offset = Number(value & ENTRY_OFFSET_MASK);
    if (offset === 0) {
      if ((value & ENTRY_ALL_ONES) !== 0n) bitmap.bits.add(first, end);
      return;
    }
    addSetBits(file.read(offset, clusterSize), first, end, bitmap.bits);
  });
}

/** Adds the set bits of `data` (bit i: byte i/8, bit i%8) as granules from `first`, below `end`. */
function addSetBits(data: Uint8Array, first: number, end: number, bits: GranuleSet): void {
  let runStart = -1;
  const limit = end - first;
  for (let byte = 0; byte * 8 < limit; byte++) {
    const value = data[byte] as number;
    if ((value === 0 && runStart < 0) || (value === 0xff && runStart >= 0)) continue;
    for (let bit = 0; bit < 8 && byte * 8 + bit < limit; bit++) {
      const set = (value & (1 << bit)) !== 0;
      const index = byte * 8 + bit;
      if (set && runStart < 0) runStart = index;
      else if (!set && runStart >= 0) {
        bits.add(first + runStart, first + index);
        runStart = -1;
      }
    }
  }
  if (runStart >= 0) bits.add(first + runStart, end);
}

function serializeDirectory(entries: readonly BitmapDirectoryEntry[]): Uint8Array {
  const names = entries.map((e) => encoder.encode(e.name));
  const dir = new Uint8Array(names.reduce((sum, n) => sum + entrySize(n.byteLength), 0));
  const view = new DataView(dir.buffer);
  let at = 0;
  entries.forEach((e, i) => {
    const name = names[i] as Uint8Array;
    view.setBigUint64(at, BigInt(e.tableOffset));
    view.setUint32(at + 8, e.tableSize);
    view.setUint32(at + 12, e.flags);
    view.setUint8(at + 16, BT_DIRTY_TRACKING_BITMAP);
    view.setUint8(at + 17, e.granularityBits);
    view.setUint16(at + 18, name.byteLength);
    dir.set(name, at + DIR_ENTRY_HEADER);
    at += entrySize(name.byteLength);
  });
  return dir;
}

/**
 * Rewrites the header cluster (qcow2_update_header) with the given autoclear bits and bitmaps
 * extension: the other extensions as they were, the bitmaps one after them.
 */
function writeHeader(
  file: ImageFile,
  header: Qcow2Header,
  autoclear: bigint,
  ext: Qcow2BitmapsExtension | undefined,
): void {
  const extensions = header.extensions.filter((e) => e.type !== EXT_BITMAPS);
  if (ext !== undefined) {
    const data = new Uint8Array(24);
    const dataView = new DataView(data.buffer);
    dataView.setUint32(0, ext.nbBitmaps);
    dataView.setBigUint64(8, BigInt(ext.directorySize));
    dataView.setBigUint64(16, BigInt(ext.directoryOffset));
    extensions.push({ type: EXT_BITMAPS, data });
  }
  writeQcow2Header(file, header, { autoclear, extensions });
}

/** A persistent bitmap as the node holds it, for storing. */
export interface BitmapToStore {
  readonly bitmap: DirtyBitmap;
  readonly name: string;
}

/** The image's bitmaps, read from and written to one qcow2 file. */
export class Qcow2BitmapImage {
  readonly #file: ImageFile;
  readonly #nodeLength: number;

  constructor(file: ImageFile, nodeLength: number) {
    this.#file = file;
    this.#nodeLength = nodeLength;
  }

  #header(): Qcow2Header {
    return readQcow2Header((offset, length) => this.#file.read(offset, length));
  }

  /** The directory as the image holds it now. */
  directory(): { header: Qcow2Header; entries: BitmapDirectoryEntry[] } {
    const header = this.#header();
    return { header, entries: readBitmapDirectory(this.#file, header, this.#nodeLength) };
  }

  /** Reads a bitmap's stored bits into `bitmap`. */
  loadData(header: Qcow2Header, entry: BitmapDirectoryEntry, bitmap: DirtyBitmap): void {
    loadBitmapData(this.#file, header, entry, bitmap);
  }

  /**
   * update_ext_header_and_dir_in_place(): the directory rewritten where it is (same size, new
   * flags), with the extension marked invalid while it is being written.
   */
  rewriteInPlace(header: Qcow2Header, entries: readonly BitmapDirectoryEntry[]): void {
    const ext = validExtension(header);
    if (ext === undefined) throw new Qcow2FormatError('no bitmap directory to rewrite');
    const dir = serializeDirectory(entries);
    if (dir.byteLength !== ext.directorySize) throw new Qcow2FormatError('directory size changed');
    writeHeader(this.#file, header, header.autoclearFeatures & ~AUTOCLEAR_BITMAPS, ext);
    this.#file.write(ext.directoryOffset, dir);
    writeHeader(this.#file, header, header.autoclearFeatures | AUTOCLEAR_BITMAPS, ext);
  }

  /**
   * qcow2_store_persistent_dirty_bitmaps(): writes `bitmaps` (entries already in the directory
   * must be in use, as loading left them; new ones go to its end) and keeps the other entries.
   */
  store(bitmaps: readonly BitmapToStore[]): void {
    if (bitmaps.length === 0) return;
    const { header, entries } = this.directory();
    const refcounts = new Qcow2Refcounts(this.#file, header);
    const dropTables: BitmapDirectoryEntry[] = [];
    const writing = new Map<BitmapDirectoryEntry, DirtyBitmap>();
    for (const { bitmap, name } of bitmaps) {
      let entry = entries.find((e) => e.name === name);
      if (entry === undefined) {
        entry = { name, tableOffset: 0, tableSize: 0, flags: 0, granularityBits: 0 };
        entries.push(entry);
      } else {
        if ((entry.flags & BME_FLAG_IN_USE) === 0) {
          throw new Qcow2FormatError(`Bitmap '${name}' already exists in the image`);
        }
        dropTables.push({ ...entry });
      }
      entry.flags = bitmap.disabled ? 0 : BME_FLAG_AUTO;
      entry.granularityBits = Math.log2(bitmap.granularity);
      writing.set(entry, bitmap);
    }
    for (const [entry, bitmap] of writing) this.#storeBitmap(header, refcounts, entry, bitmap);
    const dir = serializeDirectory(entries);
    const directoryOffset = refcounts.allocate(dir.byteLength);
    this.#file.write(directoryOffset, dir);
    refcounts.flush();
    const old = validExtension(header);
    writeHeader(this.#file, header, header.autoclearFeatures | AUTOCLEAR_BITMAPS, {
      nbBitmaps: entries.length,
      directorySize: dir.byteLength,
      directoryOffset,
    });
    if (old !== undefined) refcounts.free(old.directoryOffset, old.directorySize);
    for (const entry of dropTables) this.#freeTable(header, refcounts, entry);
    refcounts.flush();
  }

  /** store_bitmap(): data clusters that have a bit set, then the table naming them. */
  #storeBitmap(
    header: Qcow2Header,
    refcounts: Qcow2Refcounts,
    entry: BitmapDirectoryEntry,
    bitmap: DirtyBitmap,
  ): void {
    const clusterSize = header.clusterSize;
    const tableSize = Math.ceil(serializedBytes(bitmap.size, bitmap.granularity) / clusterSize);
    if (tableSize > BME_MAX_TABLE_SIZE || tableSize * clusterSize > BME_MAX_PHYS_SIZE) {
      throw new Qcow2FormatError(`Bitmap '${entry.name}' is too big`);
    }
    const table = new Uint8Array(tableSize * 8);
    const tableView = new DataView(table.buffer);
    const granulesPerCluster = clusterSize * 8;
    const clusters = new Map<number, Uint8Array>();
    for (const run of bitmap.bits.runs()) {
      for (let g = run.start; g < run.end; ) {
        const index = Math.floor(g / granulesPerCluster);
        const end = Math.min(run.end, (index + 1) * granulesPerCluster);
        let data = clusters.get(index);
        if (data === undefined) {
          data = new Uint8Array(clusterSize);
          clusters.set(index, data);
        }
        setBits(data, g - index * granulesPerCluster, end - index * granulesPerCluster);
        g = end;
      }
    }
    for (const [index, data] of [...clusters].sort((a, b) => a[0] - b[0])) {
      const offset = refcounts.allocate(clusterSize);
      this.#file.write(offset, data);
      tableView.setBigUint64(index * 8, BigInt(offset));
    }
    entry.tableOffset = refcounts.allocate(table.byteLength);
    entry.tableSize = tableSize;
    this.#file.write(entry.tableOffset, table);
  }

  /** free_bitmap_clusters(): the table's data clusters and the table itself. */
  #freeTable(header: Qcow2Header, refcounts: Qcow2Refcounts, entry: BitmapDirectoryEntry): void {
    for (const value of readBitmapTable(this.#file, entry, header.clusterSize)) {
      const offset = Number(value & ENTRY_OFFSET_MASK);
      if (offset !== 0) refcounts.free(offset, header.clusterSize);
    }
    refcounts.free(entry.tableOffset, entry.tableSize * 8);
  }

  /** qcow2_co_remove_persistent_dirty_bitmap(): the entry out of the directory, its clusters freed. */
  remove(name: string): void {
    const { header, entries } = this.directory();
    const entry = entries.find((e) => e.name === name);
    if (entry === undefined) return;
    const rest = entries.filter((e) => e !== entry);
    const refcounts = new Qcow2Refcounts(this.#file, header);
    const old = validExtension(header) as Qcow2BitmapsExtension;
    if (rest.length === 0) {
      writeHeader(this.#file, header, header.autoclearFeatures & ~AUTOCLEAR_BITMAPS, undefined);
    } else {
      const dir = serializeDirectory(rest);
      const directoryOffset = refcounts.allocate(dir.byteLength);
      this.#file.write(directoryOffset, dir);
      refcounts.flush();
      writeHeader(this.#file, header, header.autoclearFeatures | AUTOCLEAR_BITMAPS, {
        nbBitmaps: rest.length,
        directorySize: dir.byteLength,
        directoryOffset,
      });
    }
    refcounts.free(old.directoryOffset, old.directorySize);
    this.#freeTable(header, refcounts, entry);
    refcounts.flush();
  }
}

/** Sets bits [from, to) of `data` (bit i: byte i/8, bit i%8). */
function setBits(data: Uint8Array, from: number, to: number): void {
  let i = from;
  while (i < to && (i & 7) !== 0) {
    data[i >>> 3] = (data[i >>> 3] as number) | (1 << (i & 7));
    i++;
  }
  if (to - i >= 8) {
    data.fill(0xff, i >>> 3, to >>> 3);
    i = to & ~7;
  }
  while (i < to) {
    data[i >>> 3] = (data[i >>> 3] as number) | (1 << (i & 7));
    i++;
  }
}
