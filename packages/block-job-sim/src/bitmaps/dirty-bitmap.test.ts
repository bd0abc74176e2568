import { describe, expect, test } from 'vitest';
import { DirtyBitmap } from './dirty-bitmap.js';
import { GranuleSet } from './granule-set.js';

describe('GranuleSet', () => {
  test('joins touching and overlapping runs and splits on removal', () => {
    const set = new GranuleSet();
    set.add(10, 20);
    set.add(30, 40);
    set.add(20, 25);
    expect(set.runs()).toEqual([
      { start: 10, end: 25 },
      { start: 30, end: 40 },
    ]);
    set.add(0, 35);
    expect(set.runs()).toEqual([{ start: 0, end: 40 }]);
    set.remove(5, 10);
    expect(set.runs()).toEqual([
      { start: 0, end: 5 },
      { start: 10, end: 40 },
    ]);
    expect(set.count).toBe(35);
    const copy = set.clone();
    set.clear();
    expect(set.isEmpty).toBe(true);
    set.restore(copy);
    expect(set.count).toBe(35);
  });
});

describe('DirtyBitmap', () => {
  test('a write dirties every granule it touches; a partial last granule counts whole', () => {
    const bitmap = new DirtyBitmap('b', 65536, 100_000);
    bitmap.setBytes(65535, 2);
    expect(bitmap.count).toBe(2 * 65536);
    expect(bitmap.byteRuns()).toEqual([{ start: 0, end: 100_000 }]);
  });

  test('merging a finer bitmap dirties each coarser granule it touches', () => {
    const fine = new DirtyBitmap('f', 512, 1 << 20);
    fine.setBytes(4096, 512);
    fine.setBytes(70_000, 1);
    const coarse = new DirtyBitmap('c', 65536, 1 << 20);
    coarse.mergeFrom(fine);
    expect(coarse.byteRuns()).toEqual([{ start: 0, end: 131072 }]);
  });

  test('serializes as 64-bit little-endian words, bit i in byte i/8', () => {
    const bitmap = new DirtyBitmap('b', 512, 512 * 70);
    bitmap.setBytes(0, 512);
    bitmap.setBytes(512 * 9, 512);
    bitmap.setBytes(512 * 64, 512);
    expect([...bitmap.serialize()]).toEqual([1, 2, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
  });
});
