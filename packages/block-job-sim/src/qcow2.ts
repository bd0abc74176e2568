// qcow2 metadata: what the simulator reads from real images (header, backing file, which
// clusters are allocated) and the empty images blockdev-create writes. Format facts from QEMU's
// docs/interop/qcow2.txt and block/qcow2.c (7.2). Guest data is never read or written.

import { hasErrorMarker, stampErrorMarker } from '@qmpkit/protocol';

/** Reads `length` bytes at `offset` of the image's underlying file (short reads give zeros). */
export type ReadAt = (offset: number, length: number) => Uint8Array;

export const QCOW2_MAGIC = 0x514649fb;
const EXT_END = 0;
const EXT_BACKING_FORMAT = 0xe2792aca;
const EXT_FEATURE_TABLE = 0x6803f857;
/** The bitmaps extension (persistent dirty bitmaps; src/bitmaps/qcow2-bitmaps.ts). */
export const EXT_BITMAPS = 0x23852875;
const L1E_OFFSET_MASK = 0x00fffffffffffe00n;
const L2E_OFFSET_MASK = 0x00fffffffffffe00n;
const L2E_COMPRESSED = 1n << 62n;
const ZERO_FLAG = 1n;
/** QEMU's QCOW_MAX_L1_SIZE: 32 MiB of L1 table. */
const MAX_L1_ENTRIES = (32 * 1024 * 1024) / 8;
/** QEMU's limit on the backing file name (1023 bytes). */
const MAX_BACKING_NAME = 1023;

export interface Qcow2Header {
  readonly version: 2 | 3;
  readonly clusterBits: number;
  readonly clusterSize: number;
  /** Virtual disk size in bytes. */
  readonly size: number;
  readonly cryptMethod: number;
  readonly l1Size: number;
  readonly l1TableOffset: number;
  readonly refcountTableOffset: number;
  readonly refcountTableClusters: number;
  readonly nbSnapshots: number;
  readonly incompatibleFeatures: bigint;
  readonly compatibleFeatures: bigint;
  /** Autoclear feature bits (v3); bit 0: the bitmaps extension is valid. */
  readonly autoclearFeatures: bigint;
  readonly refcountOrder: number;
  readonly headerLength: number;
  readonly compressionType: 'zlib' | 'zstd';
  readonly backingFile: string | undefined;
  readonly backingFormat: string | undefined;
  /** Every header extension in file order (type and data), for rewriting the header. */
  readonly extensions: ReadonlyArray<{ readonly type: number; readonly data: Uint8Array }>;
  /** The bitmaps extension, if the header has one (valid only with autoclear bit 0). */
  readonly bitmapsExtension: Qcow2BitmapsExtension | undefined;
}

/** The bitmaps header extension: where the bitmap directory is. */
export interface Qcow2BitmapsExtension {
  readonly nbBitmaps: number;
  readonly directorySize: number;
  readonly directoryOffset: number;
}

/** Why a qcow2 image cannot be opened, in QEMU's words (qcow2_do_open). */
export class Qcow2FormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Qcow2FormatError';
    stampErrorMarker(this, 'Qcow2FormatError');
  }

  /** True for a Qcow2FormatError from any copy of this package (by its marker). */
  static isInstance(value: unknown): value is Qcow2FormatError {
    return hasErrorMarker(value, 'Qcow2FormatError');
  }
}

function u64(view: DataView, offset: number): bigint {
  return view.getBigUint64(offset, false);
}

function safeNumber(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new Qcow2FormatError(`${what} is too large`);
  return Number(value);
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Parses the header (and its extensions) of a qcow2 image. */
export function readQcow2Header(read: ReadAt): Qcow2Header {
  const head = read(0, 104);
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (head.byteLength < 72 || view.getUint32(0) !== QCOW2_MAGIC) {
    throw new Qcow2FormatError('Image is not in qcow2 format');
  }
  const version = view.getUint32(4);
  if (version < 2 || version > 3) {
    throw new Qcow2FormatError(`Unsupported qcow2 version ${version}`);
  }
  const clusterBits = view.getUint32(20);
  if (clusterBits < 9 || clusterBits > 21) {
    throw new Qcow2FormatError(`Unsupported cluster size: 2^${clusterBits}`);
  }
  const clusterSize = 2 ** clusterBits;
  const size = safeNumber(u64(view, 24), 'Image size');
  const l1Size = view.getUint32(36);
  if (l1Size > MAX_L1_ENTRIES) throw new Qcow2FormatError('Active L1 table too large');
  let incompatibleFeatures = 0n;
  let compatibleFeatures = 0n;
  let autoclearFeatures = 0n;
  let refcountOrder = 4;
  let headerLength = 72;
  let compressionType: 'zlib' | 'zstd' = 'zlib';
  if (version === 3) {
    incompatibleFeatures = u64(view, 72);
    compatibleFeatures = u64(view, 80);
    autoclearFeatures = u64(view, 88);
    refcountOrder = view.getUint32(96);
    headerLength = view.getUint32(100);
    if (headerLength < 104) throw new Qcow2FormatError('qcow2 header too short');
    if (headerLength > 104) compressionType = head[104] === 1 ? 'zstd' : 'zlib';
  }
  // Header extensions sit between the header and the end of the first cluster.
  let backingFormat: string | undefined;
  let bitmapsExtension: Qcow2BitmapsExtension | undefined;
  const extensions: Array<{ type: number; data: Uint8Array }> = [];
  const backingFileOffset = safeNumber(u64(view, 8), 'Backing file offset');
  const extEnd = backingFileOffset > 0 ? Math.min(backingFileOffset, clusterSize) : clusterSize;
  let ext = headerLength;
  for (let guard = 0; ext + 8 <= extEnd && guard < 1024; guard++) {
    const extHead = read(ext, 8);
    const extView = new DataView(extHead.buffer, extHead.byteOffset, extHead.byteLength);
    const type = extView.getUint32(0);
    const length = extView.getUint32(4);
    if (type === EXT_END) break;
    if (ext + 8 + length > extEnd) throw new Qcow2FormatError('ext_magic too large');
    extensions.push({ type, data: read(ext + 8, length) });
    if (type === EXT_BACKING_FORMAT) backingFormat = decoder.decode(read(ext + 8, length));
    if (type === EXT_BITMAPS) {
      if (length !== 24) throw new Qcow2FormatError('bitmaps_ext: Invalid extension length');
      const data = read(ext + 8, 24);
      const dataView = new DataView(data.buffer, data.byteOffset, data.byteLength);
      bitmapsExtension = {
        nbBitmaps: dataView.getUint32(0),
        directorySize: safeNumber(u64(dataView, 8), 'Bitmap directory size'),
        directoryOffset: safeNumber(u64(dataView, 16), 'Bitmap directory offset'),
      };
    }
    ext += 8 + Math.ceil(length / 8) * 8;
  }
  let backingFile: string | undefined;
  if (backingFileOffset > 0) {
    const length = view.getUint32(16);
    if (length > MAX_BACKING_NAME || backingFileOffset + length > clusterSize) {
      throw new Qcow2FormatError('Backing file name too long');
    }
    backingFile = decoder.decode(read(backingFileOffset, length));
  }
  return {
    version: version as 2 | 3,
    clusterBits,
    clusterSize,
    size,
    cryptMethod: view.getUint32(32),
    l1Size,
    l1TableOffset: safeNumber(u64(view, 40), 'L1 table offset'),
    refcountTableOffset: safeNumber(u64(view, 48), 'Refcount table offset'),
    refcountTableClusters: view.getUint32(56),
    nbSnapshots: view.getUint32(60),
    incompatibleFeatures,
    compatibleFeatures,
    autoclearFeatures,
    refcountOrder,
    headerLength,
    compressionType,
    backingFile,
    backingFormat,
    extensions,
    bitmapsExtension,
  };
}

/**
 * Which guest clusters the image itself holds (data, compressed, or zero clusters: everything
 * that shadows the backing file). Kept as sorted runs of clusters, so its size follows what the
 * image file holds, not the virtual size (a 1 EiB image with three clusters is three clusters).
 */
/** How a guest cluster is stored: data at a host offset, compressed, or reading as zeros. */
/** Where a qcow2 header is rewritten: the image file's bytes. */
export interface Qcow2File {
  read(offset: number, length: number): Uint8Array;
  write(offset: number, data: Uint8Array): void;
}

/**
 * qcow2_update_header(): the header cluster rewritten — the autoclear bits, `extensions` in
 * order, the end marker, then the backing file name (`header.backingFile`; without one the
 * header names none).
 */
export function writeQcow2Header(
  file: Qcow2File,
  header: Qcow2Header,
  changes: {
    readonly autoclear: bigint;
    readonly extensions: ReadonlyArray<{ readonly type: number; readonly data: Uint8Array }>;
  },
): void {
  const cluster = file.read(0, header.clusterSize);
  const view = new DataView(cluster.buffer, cluster.byteOffset, cluster.byteLength);
  if (header.version === 3) view.setBigUint64(88, changes.autoclear);
  cluster.fill(0, header.headerLength);
  let at = header.headerLength;
  for (const e of changes.extensions) {
    if (at + 8 + e.data.byteLength + 8 > header.clusterSize) {
      throw new Qcow2FormatError('The header extensions do not fit in the header cluster');
    }
    view.setUint32(at, e.type);
    view.setUint32(at + 4, e.data.byteLength);
    cluster.set(e.data, at + 8);
    at += 8 + Math.ceil(e.data.byteLength / 8) * 8;
  }
  at += 8; // end of extensions
  view.setBigUint64(8, 0n);
  view.setUint32(16, 0);
  if (header.backingFile !== undefined) {
    const name = encoder.encode(header.backingFile);
    if (at + name.byteLength > header.clusterSize) {
      throw new Qcow2FormatError('The backing file name does not fit in the header cluster');
    }
    cluster.set(name, at);
    view.setBigUint64(8, BigInt(at));
    view.setUint32(16, name.byteLength);
  }
  file.write(0, cluster);
}

/**
 * qcow2_change_backing_file(), as a finished stream or commit calls it: the image file's header
 * names `backingFile` in `backingFormat` (its backing format extension first, the others as they
 * were), or no backing file at all. Reads the header from the file; returns it as written.
 */
export function changeQcow2BackingFile(
  file: Qcow2File,
  backingFile: string | undefined,
  backingFormat: string | undefined,
): Qcow2Header {
  const old = readQcow2Header((offset, length) => file.read(offset, length));
  if (backingFile !== undefined && encoder.encode(backingFile).byteLength > MAX_BACKING_NAME) {
    throw new Qcow2FormatError('Backing file name too long');
  }
  const format = backingFile !== undefined ? backingFormat : undefined;
  const extensions = old.extensions.filter((e) => e.type !== EXT_BACKING_FORMAT);
  if (format !== undefined) {
    extensions.unshift({ type: EXT_BACKING_FORMAT, data: encoder.encode(format) });
  }
  const header: Qcow2Header = { ...old, backingFile, backingFormat: format, extensions };
  writeQcow2Header(file, header, { autoclear: old.autoclearFeatures, extensions });
  return header;
}

export type Qcow2ClusterMapping =
  | { readonly kind: 'data'; readonly hostOffset: number }
  | {
      readonly kind: 'compressed';
      readonly hostOffset: number;
      /** How many bytes of compressed data the descriptor names from hostOffset on. */
      readonly compressedBytes: number;
    }
  | { readonly kind: 'zero' };

export class Qcow2AllocationMap {
  readonly clusterSize: number;
  readonly size: number;
  /** Sorted, disjoint, non-adjacent runs [first cluster, cluster count]. */
  readonly #runs: Array<[number, number]> = [];
  /** Where each held cluster lives in the image file (only clusters that were mapped). */
  readonly #mappings = new Map<number, Qcow2ClusterMapping>();

  constructor(clusterSize: number, size: number) {
    this.clusterSize = clusterSize;
    this.size = size;
  }

  get clusterCount(): number {
    return Math.ceil(this.size / this.clusterSize);
  }

  /** Index of the last run starting at or before `cluster`, or -1. */
  #runAtOrBefore(cluster: number): number {
    let low = 0;
    let high = this.#runs.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      if ((this.#runs[mid] as [number, number])[0] <= cluster) {
        found = mid;
        low = mid + 1;
      } else high = mid - 1;
    }
    return found;
  }

  isClusterAllocated(cluster: number): boolean {
    const run = this.#runs[this.#runAtOrBefore(cluster)];
    return run !== undefined && cluster < run[0] + run[1];
  }

  /** How a held cluster is stored, if known. */
  mapping(cluster: number): Qcow2ClusterMapping | undefined {
    return this.#mappings.get(cluster);
  }

  /** Marks one guest cluster as held by the image (in any order; ascending is fastest). */
  setCluster(cluster: number, mapping?: Qcow2ClusterMapping): void {
    if (cluster < 0 || cluster >= this.clusterCount) return;
    if (mapping) this.#mappings.set(cluster, mapping);
    if (this.isClusterAllocated(cluster)) return;
    const at = this.#runAtOrBefore(cluster);
    const before = this.#runs[at];
    const after = this.#runs[at + 1];
    const joinsBefore = before !== undefined && before[0] + before[1] === cluster;
    const joinsAfter = after !== undefined && after[0] === cluster + 1;
    if (joinsBefore && joinsAfter) {
      before[1] += 1 + after[1];
      this.#runs.splice(at + 1, 1);
    } else if (joinsBefore) before[1] += 1;
    else if (joinsAfter) {
      after[0] = cluster;
      after[1] += 1;
    } else this.#runs.splice(at + 1, 0, [cluster, 1]);
  }

  /** Bytes of [offset, offset + length) that the image holds itself. */
  allocatedBytes(offset = 0, length = this.size - offset): number {
    const end = Math.min(this.size, offset + length);
    let total = 0;
    for (const { offset: start, length: runLength } of this.extents()) {
      const from = Math.max(offset, start);
      const to = Math.min(end, start + runLength);
      if (to > from) total += to - from;
    }
    return total;
  }

  /** Maximal runs of allocated bytes, ascending. */
  extents(): Array<{ offset: number; length: number }> {
    return this.#runs.map(([first, count]) => {
      const offset = first * this.clusterSize;
      return { offset, length: Math.min(this.size, (first + count) * this.clusterSize) - offset };
    });
  }
}

/** Reads the L1 and L2 tables into an allocation map. */
export function readQcow2AllocationMap(
  read: ReadAt,
  header: Qcow2Header,
  /** The image file's length: L2 tables said to lie beyond it are skipped, not read. */
  fileLength = Number.POSITIVE_INFINITY,
): Qcow2AllocationMap {
  const map = new Qcow2AllocationMap(header.clusterSize, header.size);
  if (header.l1Size === 0 || header.size === 0) return map;
  if ((header.incompatibleFeatures & (1n << 4n)) !== 0n) {
    throw new Qcow2FormatError('qmpkit does not simulate qcow2 images with extended L2 entries');
  }
  const l2Entries = header.clusterSize / 8;
  const l1 = read(header.l1TableOffset, header.l1Size * 8);
  const l1View = new DataView(l1.buffer, l1.byteOffset, l1.byteLength);
  // Every L2 table is read once, however many L1 entries name it, so the work is bounded by
  // the file's size even for a crafted image.
  const l2Tables = new Map<number, Uint8Array>();
  for (let i = 0; i < header.l1Size && i * 8 + 8 <= l1.byteLength; i++) {
    const l2Offset = Number(l1View.getBigUint64(i * 8) & L1E_OFFSET_MASK);
    if (l2Offset === 0 || l2Offset >= fileLength || l2Tables.has(l2Offset)) continue;
    const l2 = read(l2Offset, header.clusterSize);
    l2Tables.set(l2Offset, l2);
    const l2View = new DataView(l2.buffer, l2.byteOffset, l2.byteLength);
    for (let j = 0; j < l2Entries && j * 8 + 8 <= l2.byteLength; j++) {
      const entry = l2View.getBigUint64(j * 8);
      const cluster = i * l2Entries + j;
      if ((entry & L2E_COMPRESSED) !== 0n) {
        // The compressed descriptor keeps the host offset in its low 62 - (cluster_bits - 8) bits.
        // Above it, the number of 512-byte sectors the data touches, minus one.
        const offsetBits = BigInt(62 - (header.clusterBits - 8));
        const hostOffset = Number(entry & ((1n << offsetBits) - 1n));
        const sectorMask = (1n << BigInt(header.clusterBits - 8)) - 1n;
        const sectors = Number((entry >> offsetBits) & sectorMask) + 1;
        const compressedBytes = sectors * 512 - (hostOffset % 512);
        map.setCluster(cluster, { kind: 'compressed', hostOffset, compressedBytes });
      } else if ((entry & ZERO_FLAG) !== 0n) {
        map.setCluster(cluster, { kind: 'zero' });
      } else if ((entry & L2E_OFFSET_MASK) !== 0n) {
        map.setCluster(cluster, { kind: 'data', hostOffset: Number(entry & L2E_OFFSET_MASK) });
      }
    }
  }
  return map;
}

export interface Qcow2CreateParameters {
  readonly size: number;
  readonly clusterSize?: number;
  readonly version?: 2 | 3;
  readonly backingFile?: string;
  readonly backingFormat?: string;
  readonly lazyRefcounts?: boolean;
  readonly refcountBits?: number;
}

export interface ImageWrite {
  readonly offset: number;
  readonly data: Uint8Array;
}

/** The feature name table QEMU writes into new v3 images (qcow2_co_create). */
const FEATURE_NAMES: ReadonlyArray<[number, number, string]> = [
  [0, 0, 'dirty bit'],
  [0, 1, 'corrupt bit'],
  [0, 2, 'external data file'],
  [0, 3, 'compression type'],
  [0, 4, 'extended L2 entries'],
  [1, 0, 'lazy refcounts'],
  [2, 0, 'bitmaps'],
  [2, 1, 'raw external data'],
];

/**
 * The writes that turn an empty file into an empty qcow2 image: header and extensions in
 * cluster 0, then the refcount table, one refcount block and the L1 table, each refcounted.
 * `fileLength` is the file size afterwards (whole clusters, as QEMU leaves it).
 */
export function buildEmptyQcow2(params: Qcow2CreateParameters): {
  writes: ImageWrite[];
  fileLength: number;
} {
  const clusterSize = params.clusterSize ?? 65536;
  const clusterBits = Math.log2(clusterSize);
  const version = params.version ?? 3;
  const refcountBits = params.refcountBits ?? 16;
  const refcountOrder = Math.log2(refcountBits);
  const l2Coverage = clusterSize * (clusterSize / 8);
  const l1Size = Math.ceil(params.size / l2Coverage);
  const l1Clusters = Math.ceil((l1Size * 8) / clusterSize);
  // Cluster 0 header, 1 refcount table, 2 refcount block, 3.. L1 table.
  const totalClusters = 3 + l1Clusters;
  const header = new Uint8Array(clusterSize);
  const view = new DataView(header.buffer);
  view.setUint32(0, QCOW2_MAGIC);
  view.setUint32(4, version);
  view.setUint32(20, clusterBits);
  view.setBigUint64(24, BigInt(params.size));
  view.setUint32(36, l1Size);
  view.setBigUint64(40, BigInt(l1Size > 0 ? 3 * clusterSize : 0));
  view.setBigUint64(48, BigInt(clusterSize));
  view.setUint32(56, 1);
  let ext = 72;
  if (version === 3) {
    view.setBigUint64(80, params.lazyRefcounts ? 1n : 0n);
    view.setUint32(96, refcountOrder);
    view.setUint32(100, 112);
    ext = 112;
  }
  const putExtension = (type: number, data: Uint8Array) => {
    view.setUint32(ext, type);
    view.setUint32(ext + 4, data.byteLength);
    header.set(data, ext + 8);
    ext += 8 + Math.ceil(data.byteLength / 8) * 8;
  };
  if (params.backingFormat !== undefined) {
    putExtension(EXT_BACKING_FORMAT, encoder.encode(params.backingFormat));
  }
  if (version === 3) {
    const table = new Uint8Array(FEATURE_NAMES.length * 48);
    FEATURE_NAMES.forEach(([type, bit, name], i) => {
      table[i * 48] = type;
      table[i * 48 + 1] = bit;
      table.set(encoder.encode(name), i * 48 + 2);
    });
    putExtension(EXT_FEATURE_TABLE, table);
  }
  ext += 8; // the end-of-extensions marker (zeros)
  if (params.backingFile !== undefined) {
    const name = encoder.encode(params.backingFile);
    view.setBigUint64(8, BigInt(ext));
    view.setUint32(16, name.byteLength);
    header.set(name, ext);
  }
  const refcountTable = new Uint8Array(clusterSize);
  new DataView(refcountTable.buffer).setBigUint64(0, BigInt(2 * clusterSize));
  const refcountBlock = new Uint8Array(clusterSize);
  for (let cluster = 0; cluster < totalClusters; cluster++) {
    setRefcount(refcountBlock, cluster, refcountBits, 1);
  }
  const writes: ImageWrite[] = [
    { offset: 0, data: header },
    { offset: clusterSize, data: refcountTable },
    { offset: 2 * clusterSize, data: refcountBlock },
  ];
  if (l1Clusters > 0) {
    writes.push({ offset: 3 * clusterSize, data: new Uint8Array(l1Clusters * clusterSize) });
  }
  return { writes, fileLength: (l1Size > 0 ? totalClusters : 3) * clusterSize };
}

function setRefcount(block: Uint8Array, index: number, bits: number, value: number): void {
  if (bits >= 8) {
    const bytes = bits / 8;
    const at = index * bytes;
    for (let b = 0; b < bytes; b++) block[at + b] = b === bytes - 1 ? value : 0;
    return;
  }
  const perByte = 8 / bits;
  const byte = Math.floor(index / perByte);
  const shift = (index % perByte) * bits;
  block[byte] = (block[byte] as number) | (value << shift);
}
