// The file store's all-or-nothing replace: what a crash or a failure midway leaves on disk.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { FsImageStore } from './fs-image-store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'qmpkit-fs-store-'));
  dirs.push(dir);
  return dir;
}

describe('FsImageStore.replace', () => {
  test('puts the new contents in place, sized, keeping the mode', () => {
    const dir = scratchDir();
    writeFileSync(join(dir, 'img'), 'old contents', { mode: 0o640 });
    const store = new FsImageStore(dir);
    store.replace('img', 8192, [
      { offset: 0, data: new Uint8Array([1, 2, 3]) },
      { offset: 4096, data: new Uint8Array([9]) },
    ]);
    const bytes = readFileSync(join(dir, 'img'));
    expect(bytes.length).toBe(8192);
    expect([...bytes.subarray(0, 4)]).toEqual([1, 2, 3, 0]);
    expect(bytes[4096]).toBe(9);
    expect(statSync(join(dir, 'img')).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir)).toEqual(['img']);
  });

  test('a scratch file a killed process left beside the image is removed by the next replace', () => {
    const dir = scratchDir();
    writeFileSync(join(dir, 'img'), 'old contents');
    // No process has pid 2^22 + 1 (above Linux's pid_max ceiling).
    writeFileSync(join(dir, `.img.qmpkit-${2 ** 22 + 1}-abcdef`), 'half an image');
    writeFileSync(join(dir, `.img.qmpkit-${process.pid}-live`), 'ours, in progress');
    new FsImageStore(dir).replace('img', 512, []);
    expect(readdirSync(dir).sort()).toEqual([`.img.qmpkit-${process.pid}-live`, 'img']);
  });

  test('a failure midway leaves the old file untouched and nothing beside it', () => {
    const dir = scratchDir();
    writeFileSync(join(dir, 'img'), 'old contents');
    const store = new FsImageStore(dir);
    // The second write fails after the first one went out: as if the process died between two
    // writes (something that is not bytes makes writeSync throw).
    expect(() =>
      store.replace('img', 4096, [
        { offset: 0, data: new Uint8Array([1, 2, 3]) },
        { offset: 8, data: { byteLength: 1 } as unknown as Uint8Array },
      ]),
    ).toThrow();
    expect(readFileSync(join(dir, 'img'), 'utf8')).toBe('old contents');
    expect(readdirSync(dir)).toEqual(['img']);
  });
});

describe('FsImageStore.dataExtents', () => {
  test('a sparse file: its data where it was written, holes elsewhere', () => {
    const dir = scratchDir();
    const store = new FsImageStore(dir);
    store.create('img', 4 * 1024 * 1024);
    expect(store.dataExtents('img')).toEqual([]);
    store.write('img', 1024 * 1024, new Uint8Array(8192).fill(0xcd));
    store.write('img', 3 * 1024 * 1024 + 100, new Uint8Array([1]));
    expect(store.dataExtents('img')).toEqual([
      { offset: 1024 * 1024, length: 8192 },
      { offset: 3 * 1024 * 1024, length: 4096 },
    ]);
  });

  test('a file with no holes is all data', () => {
    const dir = scratchDir();
    writeFileSync(join(dir, 'img'), new Uint8Array(65536).fill(1));
    expect(new FsImageStore(dir).dataExtents('img')).toBeUndefined();
  });
});
