// The block layer's only door to real files. The core never touches the file system itself
// (DESIGN.md: `node:` imports live in src/node/**): it is handed an ImageStore. The Node.js one is
// in src/node/fs-image-store.ts; MemoryImageStore serves tests and fully in-memory simulations.

import { hasErrorMarker, stampErrorMarker, strerror } from '@qmpkit/protocol';
import type { ImageWrite } from './qcow2.js';

/** Failure of a store operation, named by errno code (`ENOENT`, `EACCES`, …). */
export class ImageStoreError extends Error {
  readonly code: string;
  constructor(code: string, message?: string) {
    super(message ?? strerror(code));
    this.name = 'ImageStoreError';
    this.code = code;
    stampErrorMarker(this, 'ImageStoreError');
  }

  /** True for a ImageStoreError from any copy of this package (by its marker). */
  static isInstance(value: unknown): value is ImageStoreError {
    return hasErrorMarker(value, 'ImageStoreError');
  }
}

export interface ImageStat {
  /** File length in bytes. */
  readonly size: number;
  /** Bytes allocated on disk (st_blocks × 512), QEMU's `actual-size`. */
  readonly allocatedBytes: number;
}

/** A stretch of a file: [offset, offset + length). */
export interface FileExtent {
  readonly offset: number;
  readonly length: number;
}

export interface ImageStore {
  /** Stats an existing file; throws ImageStoreError (ENOENT, …). */
  stat(path: string): ImageStat;
  /**
   * Where the file holds data, ascending, as QEMU's file driver finds it with SEEK_DATA /
   * SEEK_HOLE: block-status-driven copies (mirror, backup) write zeroes for the holes and never
   * read them. Undefined: every byte is data (the store cannot tell, or there are no holes).
   */
  dataExtents?(path: string): readonly FileExtent[] | undefined;
  /** Reads metadata bytes; past the end of the file reads zeros. */
  read(path: string, offset: number, length: number): Uint8Array;
  /** Creates the file (or truncates an existing one) with `size` bytes of zeros, sparse. */
  create(path: string, size: number): void;
  /** Writes metadata bytes, growing the file if needed. */
  write(path: string, offset: number, data: Uint8Array): void;
  /** Sets the file length. */
  truncate(path: string, size: number): void;
  /**
   * Replaces the file's contents with `size` bytes (zeros, sparse) carrying `writes`, all or
   * nothing: a crash or a failure midway leaves the old file, never half of the new one (the
   * file store writes beside the file and renames over it). The block layer formats images
   * with it; without it, the layer truncates and writes in place.
   */
  replace?(path: string, size: number, writes: readonly ImageWrite[]): void;
  /**
   * A name that is the same for every path of one file (e.g. its real path), so that image
   * locks taken through different paths meet. Without it the path itself is used.
   */
  identify?(path: string): string;
}

/** Directory part of a path, QEMU's path_combine() view: everything up to the last '/'. */
export function combinePath(baseFile: string, relative: string): string {
  if (relative.startsWith('/')) return relative;
  const slash = baseFile.lastIndexOf('/');
  return slash < 0 ? relative : `${baseFile.slice(0, slash + 1)}${relative}`;
}

/** Files held in memory: for tests, and for simulations with no disk at all. */
export class MemoryImageStore implements ImageStore {
  readonly #files = new Map<string, Uint8Array>();
  /** Largest file this store will hold, so a test cannot allocate gigabytes by mistake. */
  readonly maxFileSize: number;

  constructor(maxFileSize = 64 * 1024 * 1024) {
    this.maxFileSize = maxFileSize;
  }

  has(path: string): boolean {
    return this.#files.has(path);
  }

  /** The file's bytes (a copy), or undefined. */
  bytes(path: string): Uint8Array | undefined {
    const data = this.#files.get(path);
    return data ? data.slice() : undefined;
  }

  /** Puts a file in the store, replacing any previous one. */
  put(path: string, data: Uint8Array): void {
    if (data.byteLength > this.maxFileSize) throw new ImageStoreError('EFBIG');
    this.#files.set(path, data.slice());
    this.#sparse.delete(path);
  }

  /**
   * Files made by `create` or `replace` are sparse, as on a file system: data only where they
   * were written (4 KiB blocks), holes elsewhere. A file `put` is all data.
   */
  dataExtents(path: string): readonly FileExtent[] | undefined {
    this.#get(path);
    return this.#sparse.get(path);
  }

  readonly #sparse = new Map<string, FileExtent[]>();

  #written(path: string, offset: number, length: number): void {
    const extents = this.#sparse.get(path);
    if (extents === undefined || length <= 0) return;
    const start = Math.floor(offset / 4096) * 4096;
    const end = Math.min((this.#files.get(path) as Uint8Array).byteLength, offset + length);
    const merged: FileExtent[] = [];
    let add = { offset: start, length: Math.max(0, end - start) };
    for (const e of extents) {
      if (e.offset + e.length < add.offset || e.offset > add.offset + add.length) {
        merged.push(e);
        continue;
      }
      const from = Math.min(e.offset, add.offset);
      add = { offset: from, length: Math.max(e.offset + e.length, add.offset + add.length) - from };
    }
    merged.push(add);
    merged.sort((a, b) => a.offset - b.offset);
    this.#sparse.set(path, merged);
  }

  #clip(path: string, size: number): void {
    const extents = this.#sparse.get(path);
    if (extents === undefined) return;
    this.#sparse.set(
      path,
      extents
        .filter((e) => e.offset < size)
        .map((e) => ({ offset: e.offset, length: Math.min(e.length, size - e.offset) })),
    );
  }

  stat(path: string): ImageStat {
    const data = this.#get(path);
    return { size: data.byteLength, allocatedBytes: Math.ceil(data.byteLength / 4096) * 4096 };
  }

  read(path: string, offset: number, length: number): Uint8Array {
    const data = this.#get(path);
    const out = new Uint8Array(length);
    if (offset < data.byteLength)
      out.set(data.subarray(offset, Math.min(data.byteLength, offset + length)));
    return out;
  }

  create(path: string, size: number): void {
    const slash = path.lastIndexOf('/');
    if (slash > 0 && !this.#dirExists(path.slice(0, slash))) throw new ImageStoreError('ENOENT');
    this.put(path, new Uint8Array(size));
    this.#sparse.set(path, []);
  }

  write(path: string, offset: number, data: Uint8Array): void {
    let file = this.#get(path);
    if (offset + data.byteLength > file.byteLength) {
      if (offset + data.byteLength > this.maxFileSize) throw new ImageStoreError('EFBIG');
      const grown = new Uint8Array(offset + data.byteLength);
      grown.set(file);
      file = grown;
    }
    file.set(data, offset);
    this.#files.set(path, file);
    this.#written(path, offset, data.byteLength);
  }

  replace(path: string, size: number, writes: readonly ImageWrite[]): void {
    this.#get(path);
    if (size > this.maxFileSize) throw new ImageStoreError('EFBIG');
    const next = new Uint8Array(size);
    for (const { offset, data } of writes) {
      if (offset + data.byteLength > size) throw new ImageStoreError('EINVAL');
      next.set(data, offset);
    }
    this.#files.set(path, next);
    this.#sparse.set(path, []);
    for (const { offset, data } of writes) this.#written(path, offset, data.byteLength);
  }

  truncate(path: string, size: number): void {
    const file = this.#get(path);
    if (size > this.maxFileSize) throw new ImageStoreError('EFBIG');
    const resized = new Uint8Array(size);
    resized.set(file.subarray(0, Math.min(size, file.byteLength)));
    this.#files.set(path, resized);
    this.#clip(path, size);
  }

  #dirExists(dir: string): boolean {
    // A memory store has no directories of its own: a directory exists if a file lives in it,
    // or it was named by `mkdir`.
    if (this.#dirs.has(dir)) return true;
    for (const path of this.#files.keys()) if (path.startsWith(`${dir}/`)) return true;
    return false;
  }

  readonly #dirs = new Set<string>();

  /** Declares a directory, so files can be created in it. */
  mkdir(dir: string): void {
    this.#dirs.add(dir.replace(/\/+$/, ''));
  }

  #get(path: string): Uint8Array {
    const data = this.#files.get(path);
    if (!data) throw new ImageStoreError('ENOENT');
    return data;
  }
}
