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
import { type ImageStat, type ImageStore, ImageStoreError } from '../image-store.js';
import type { ImageWrite } from '../qcow2.js';

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
