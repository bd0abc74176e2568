// The differential tester's generator and model on their own (no daemons): that seeds are spread
// over the generator's whole state, and that the model's predictions for a range of natural seeds
// reach every holdable status with every verb variant.

import { describe, expect, test } from 'vitest';
import { Chooser, mixedState } from '../src/fuzz/case-builder.js';
import { CoverageTable } from '../src/fuzz/coverage.js';
import { generateCase, SHAPES } from '../src/fuzz/generate.js';
import { predict } from '../src/fuzz/run.js';
import { CI_FIXED_SEEDS, parseSeeds } from '../src/fuzz/seeds.js';
import { COVERED_STATUSES } from '../src/fuzz/vocabulary.js';

describe('random differential tester: generator', () => {
  test('a seed is mixed by splitmix64 before it seeds xoroshiro128+', () => {
    // splitmix64's first two outputs for state 0, from its reference implementation
    // (Vigna's splitmix64.c): 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4.
    expect(mixedState(0).map((w) => w >>> 0)).toEqual([
      0xe220a839, 0x7b1dcdaf, 0x6e789e6a, 0xa1b965f4,
    ]);
  });

  test('the shape does not follow from the seed’s low bits', () => {
    // With the bare seed, xoroshiro128+'s first output was ~seed: seed s and s + SHAPES.length
    // always got the same shape.
    const same = Array.from({ length: 400 }, (_, i) => i + 1).filter(
      (seed) => generateCase(seed).shape === generateCase(seed + SHAPES.length).shape,
    );
    // Independent picks agree one time in SHAPES.length (50 of 400); allow a wide margin.
    expect(same.length).toBeLessThan(100);
    const counts = new Map<string, number>();
    for (let seed = 1; seed <= 2000; seed++) {
      const { shape } = generateCase(seed);
      counts.set(shape, (counts.get(shape) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual(SHAPES.map((s) => s.name).sort());
  });

  test('natural seeds 1–2000 reach every holdable status × every verb variant', () => {
    const coverage = new CoverageTable();
    for (let seed = 1; seed <= 2000; seed++) coverage.add(predict(generateCase(seed)).coverage);
    expect(coverage.gaps()).toEqual([]);
  });

  test('the CI’s fixed seeds reach every shape and every holdable status', () => {
    const cases = parseSeeds(CI_FIXED_SEEDS).map((seed) => generateCase(seed));
    const reached = new Set(cases.flatMap((c) => predict(c).coverage.map((e) => e.status)));
    expect(COVERED_STATUSES.filter((s) => !reached.has(s))).toEqual([]);
    const shapes = new Set(cases.map((c) => c.shape));
    expect(SHAPES.map((s) => s.name).filter((name) => !shapes.has(name))).toEqual([]);
  });

  test('a shape added later takes seeds from a second stream: other seeds keep their case', () => {
    // The first pick alone names the shape of every seed the later shapes did not take.
    const firstPick = (seed: number): string => {
      const early = SHAPES.filter((s) => s.name !== 'bitmaps');
      return (early[new Chooser(seed).int(0, early.length - 1)] as { name: string }).name;
    };
    const kept = Array.from({ length: 300 }, (_, i) => i + 1).filter(
      (seed) => generateCase(seed).shape !== 'bitmaps',
    );
    expect(kept.length).toBeGreaterThan(200);
    for (const seed of kept) expect(generateCase(seed).shape).toBe(firstPick(seed));
  });
});
