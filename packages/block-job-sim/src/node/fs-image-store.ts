// The ImageStore over the real file system, relative paths resolved against `baseDir` (QEMU
// resolves them against its working directory). Only metadata goes through it.

import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fchmodSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import {
  type FileExtent,
  type ImageStat,
  type ImageStore,
  ImageStoreError,
} from '../image-store.js';
import type { ImageWrite } from '../qcow2.js';

/** The granularity of holes (a file system block). */
const HOLE_BLOCK = 4096;
/** How much of a file is read at once to find its holes. */
const SCAN_PIECE = 1 << 20;
/** Files above this are not scanned for holes (taken as all data). */
const MAX_SCAN = 1024 ** 3;

/** Whether bytes [start, end) of `words`' buffer are zero (start 4-aligned; a ragged tail bytewise). */
function isZero(words: Uint32Array, bytes: Uint8Array, start: number, end: number): boolean {
  const wordEnd = start + ((end - start) & ~3);
  for (let i = start >> 2; i < wordEnd >> 2; i++) if (words[i] !== 0) return false;
  for (let i = wordEnd; i < end; i++) if (bytes[i] !== 0) return false;
  return true;
}

function storeError(error: unknown): ImageStoreError {
  const code = (error as { code?: unknown }).code;
  return new ImageStoreError(typeof code === 'string' ? code : 'EIO');
}

/** Whether a process with this pid exists. */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: unknown }).code === 'EPERM';
  }
}

/** Removes scratch files of `target` that a killed process left behind (best effort). */
function removeAbandonedScratch(target: string): void {
  const prefix = `.${basename(target)}.qmpkit-`;
  let names: string[];
  try {
    names = readdirSync(dirname(target));
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || processExists(pid)) continue;
    try {
      unlinkSync(join(dirname(target), name));
    } catch {
      // Gone already, or not ours to remove.
    }
  }
}

export class FsImageStore implements ImageStore {
  readonly baseDir: string;

  constructor(baseDir: string) {
    this.baseDir = baseDir;
  }

  #path(path: string): string {
    return isAbsolute(path) ? path : resolve(this.baseDir, path);
  }

  #withFile<T>(path: string, flags: string, use: (fd: number) => T): T {
    let fd: number;
    try {
      fd = openSync(this.#path(path), flags);
    } catch (error) {
      throw storeError(error);
    }
    try {
      return use(fd);
    } catch (error) {
      throw storeError(error);
    } finally {
      closeSync(fd);
    }
  }

  stat(path: string): ImageStat {
    try {
      const st = statSync(this.#path(path));
      if (st.isDirectory()) throw new ImageStoreError('EISDIR');
      return { size: st.size, allocatedBytes: st.blocks * 512 };
    } catch (error) {
      if (error instanceof ImageStoreError) throw error;
      throw storeError(error);
    }
  }

  /**
   * Node has no SEEK_DATA, so the holes are found from what the file says: st_blocks tells
   * whether it has any (none: all data; nothing allocated: all hole); a file with both is read
   * and its all-zero 4 KiB blocks (the file system's block) taken as holes. Zeros written as data
   * therefore count as holes here, unlike on QEMU. A file above MAX_SCAN is taken as all data.
   */
  dataExtents(path: string): FileExtent[] | undefined {
    const { size, allocatedBytes } = this.stat(path);
    if (allocatedBytes >= size) return undefined;
    if (allocatedBytes === 0) return [];
    if (size > MAX_SCAN) return undefined;
    return this.#withFile(path, 'r', (fd) => {
      const extents: FileExtent[] = [];
      const buffer = new Uint8Array(SCAN_PIECE);
      const words = new Uint32Array(buffer.buffer);
      for (let at = 0; at < size; at += SCAN_PIECE) {
        const n = readSync(fd, buffer, 0, Math.min(SCAN_PIECE, size - at), at);
        if (n <= 0) break;
        for (let block = 0; block < n; block += HOLE_BLOCK) {
          const end = Math.min(n, block + HOLE_BLOCK);
          if (isZero(words, buffer, block, end)) continue;
          const last = extents[extents.length - 1];
          if (last !== undefined && last.offset + last.length === at + block) {
            extents[extents.length - 1] = {
              offset: last.offset,
              length: last.length + end - block,
            };
          } else extents.push({ offset: at + block, length: end - block });
        }
      }
      return extents;
    });
  }

  read(path: string, offset: number, length: number): Uint8Array {
    return this.#withFile(path, 'r', (fd) => {
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, out, done, length - done, offset + done);
        if (n === 0) break;
        done += n;
      }
      return out;
    });
  }

  create(path: string, size: number): void {
    this.#withFile(path, 'w', (fd) => ftruncateSync(fd, size));
  }

  write(path: string, offset: number, data: Uint8Array): void {
    this.#withFile(path, 'r+', (fd) => {
      let done = 0;
      while (done < data.byteLength) {
        done += writeSync(fd, data, done, data.byteLength - done, offset + done);
      }
      fstatSync(fd);
    });
  }

  identify(path: string): string {
    try {
      return realpathSync(this.#path(path));
    } catch {
      return this.#path(path);
    }
  }

  truncate(path: string, size: number): void {
    this.#withFile(path, 'r+', (fd) => ftruncateSync(fd, size));
  }

  /**
   * Writes the new contents to a file beside the target (same directory, so the rename is
   * atomic), syncs it, then renames it over the target: a crash at any point leaves the old
   * file or the complete new one. The new file keeps the old one's mode.
   */
  replace(path: string, size: number, writes: readonly ImageWrite[]): void {
    let target: string;
    let mode: number;
    try {
      target = realpathSync(this.#path(path));
      mode = statSync(target).mode & 0o7777;
    } catch (error) {
      throw storeError(error);
    }
    removeAbandonedScratch(target);
    // Named for this process: one a killed process left behind is recognised and removed.
    const scratch = join(
      dirname(target),
      `.${basename(target)}.qmpkit-${process.pid}-${randomBytes(6).toString('hex')}`,
    );
    let fd: number | undefined;
    try {
      fd = openSync(scratch, 'wx', 0o600);
      fchmodSync(fd, mode);
      ftruncateSync(fd, size);
      for (const { offset, data } of writes) {
        let done = 0;
        while (done < data.byteLength) {
          done += writeSync(fd, data, done, data.byteLength - done, offset + done);
        }
      }
      ftruncateSync(fd, size);
      fsyncSync(fd);
      closeSync(fd);
      fd = undefined;
      renameSync(scratch, target);
    } catch (error) {
      if (fd !== undefined) closeSync(fd);
      try {
        unlinkSync(scratch);
      } catch {
        // Never created, or already renamed.
      }
      throw storeError(error);
    }
  }
}
