// Seed lists as the tester's users write them.

/** `1-5000`, `7`, `1,5,9-12` → the seeds, in order. */
export function parseSeeds(spec: string): number[] {
  const seeds: number[] = [];
  for (const part of spec.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+))?\s*$/.exec(part);
    if (!m) throw new Error(`bad seed list '${spec}': expected e.g. 1-5000 or 3,7,10-20`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) throw new Error(`bad seed range '${part}'`);
    if (to - from > 10_000_000) throw new Error(`seed range '${part}' is too large`);
    for (let s = from; s <= to; s++) seeds.push(s);
  }
  return seeds;
}

/**
 * The seeds every CI run covers (test/fuzz-diff.test.ts): 1–24 (every shape of the first pick),
 * 29 and 41 (dirty bitmaps), and 78, 92, 239, transactions whose grouped member waits for the
 * other while verbs reach it (the `waiting` row). test/fuzz-generator.test.ts checks that they
 * reach every shape and every holdable status.
 */
export const CI_FIXED_SEEDS = '1-24,29,41,78,92,239';

/**
 * The io family's seeds every CI run covers: every io action (export-add and its refusals,
 * export-del, nbd-server-stop with exports, guest writes, queries with filter nodes), beside
 * paused, running, ready and pending jobs, none of them held back (test/fuzz-generator.test.ts).
 */
export const CI_FIXED_IO_SEEDS = '12,73,90,149,164,222';
