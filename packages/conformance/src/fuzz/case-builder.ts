// What the generator's shapes are built from: the seeded chooser, the block nodes a case sets up
// and how jobs progress on them (job-semantics.md §8.1, §8.3 and the scenarios' measurements),
// and the random choices every shape shares (verbs, speeds, start options, drains, failing
// starts).

import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';
import type { SetupStep } from '../scenario.js';
import {
  type Action,
  type BackupSpec,
  type JobProfile,
  type Setup,
  type StartSpec,
  VERBS,
  type Verb,
} from './vocabulary.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** A generated case: where it runs and what it does. */
export interface FuzzCase {
  readonly seed: number;
  readonly shape: string;
  readonly setup: readonly SetupStep[];
  readonly blockdevs: readonly string[];
  /** What the model needs to know about the nodes. */
  readonly model: Setup;
  readonly actions: readonly Action[];
}

const MASK64 = (1n << 64n) - 1n;

/** One step of splitmix64 (Steele, Lea, Flood 2014): the next state and its mixed output. */
function splitmix64(state: bigint): { state: bigint; out: bigint } {
  const next = (state + 0x9e3779b97f4a7c15n) & MASK64;
  let z = next;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return { state: next, out: z ^ (z >> 31n) };
}

/**
 * xoroshiro128+'s four 32-bit state words for `seed`, spread over all 128 bits by splitmix64 (as
 * the xoroshiro authors advise). Seeding it with the bare number (pure-rand's `xoroshiro128plus`)
 * makes its first output `~seed`: the first pick was seed mod the choice count and the next
 * ones followed from it, so consecutive seeds cycled through the same few cases.
 */
export function mixedState(seed: number, stream = 0): [number, number, number, number] {
  let state = BigInt.asUintN(64, BigInt(seed));
  const words: number[] = [];
  // Stream k starts k × 2 outputs further along splitmix64's sequence from the seed.
  for (let i = 0; i < 2 * (stream + 1); i++) {
    const step = splitmix64(state);
    state = step.state;
    if (i >= 2 * stream)
      words.push(Number(step.out >> 32n) | 0, Number(step.out & 0xffffffffn) | 0);
  }
  // pure-rand's order: s0 high, s0 low, s1 high, s1 low.
  return words as [number, number, number, number];
}

/** Choices drawn from one seeded generator (`stream`: another, independent one of that seed). */
export class Chooser {
  readonly #rng: RandomGenerator;
  constructor(seed: number, stream = 0) {
    this.#rng = xoroshiro128plusFromState(mixedState(seed, stream));
  }
  int(from: number, to: number): number {
    return uniformInt(this.#rng, from, to);
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from nothing');
    return items[this.int(0, items.length - 1)] as T;
  }
  chance(percent: number): boolean {
    return this.int(1, 100) <= percent;
  }
}

export interface Shape {
  readonly name: string;
  /** What the shape exercises. */
  readonly about: string;
  build(choose: Chooser, seed: number): FuzzCase;
}

// ---------------------------------------------------------------------------------------------
// Nodes and how jobs progress on them

export const SIZE = 64 * MiB;

export const nullCo = (nodeName: string, size = SIZE): Record<string, unknown> => ({
  driver: 'null-co',
  'node-name': nodeName,
  size,
});

export const profile = (p: Partial<JobProfile> & Pick<JobProfile, 'type'>): JobProfile => ({
  // The model fills in the key it looked the profile up by.
  key: '',
  len: SIZE,
  stops: [],
  wakeCopies: true,
  readyPhase: false,
  endless: false,
  instant: false,
  ...p,
});

/** A backup between null-co nodes: one 1 MiB block-copy chunk, then asleep; unthrottled, instant. */
export const backupFull = profile({
  type: 'backup',
  stops: [MiB],
  wakeCopies: false,
  instant: true,
});
/** sync none copies nothing and waits for guest writes. */
const backupNone = profile({ type: 'backup', wakeCopies: false, endless: true });
/** A mirror of a 64 MiB null-co node: 16 MiB buffers; ready once a wake finds nothing dirty. */
export const mirror64 = profile({
  type: 'mirror',
  stops: [16 * MiB, 32 * MiB, 48 * MiB, 64 * MiB],
  readyPhase: true,
  instant: true,
});

/** The nodes, job profiles and setup of one case, as a shape adds them. */
export class CaseBuilder {
  readonly profiles = new Map<string, JobProfile>();
  readonly blockdevs: string[] = [];
  readonly nodes = new Set<string>();
  readonly setup: SetupStep[] = [];
  #spare = 10;

  /** A node for blockdev-add (its name is the options' `node-name`). */
  node(options: Record<string, unknown>): this {
    this.blockdevs.push(JSON.stringify(options));
    this.nodes.add(options['node-name'] as string);
    return this;
  }

  /** The null-co pair srcN → dstN, backup-able. */
  pair(n: number): this {
    this.node(nullCo(`src${n}`)).node(nullCo(`dst${n}`));
    this.profiles.set(`backup:src${n}`, backupFull);
    this.profiles.set(`backup-none:src${n}`, backupNone);
    return this;
  }

  /** null-co pairs src1 → dst1 … srcN → dstN. */
  pairs(count: number): this {
    for (let n = 1; n <= count; n++) this.pair(n);
    return this;
  }

  /**
   * A fresh pair (src11 → dst11, …) for a start meant to fail: one that succeeds after all (its
   * id was free by then) must not leave a job on nodes a later one uses, which would make QEMU
   * report a busy node and drain twice instead.
   */
  spare(): number {
    this.pair(++this.#spare);
    return this.#spare;
  }

  build(shape: string, seed: number, actions: readonly Action[]): FuzzCase {
    const model = { nodes: this.nodes, profiles: this.profiles };
    return { seed, shape, setup: this.setup, blockdevs: this.blockdevs, model, actions };
  }
}

// ---------------------------------------------------------------------------------------------
// Choices shared by the shapes

/** Positive speeds small enough that a woken job's next sleep outlasts any sequence (§8.3). */
export const SMALL_SPEEDS = [1, 2, 512, 4096] as const;

/** Ids a verb may name: the shape's jobs, mostly, and now and then one that never existed. */
function pickId(choose: Chooser, ids: readonly string[]): string {
  return choose.chance(8) ? 'nope' : choose.pick(ids);
}

export function randomVerbs(choose: Chooser, ids: readonly string[], count: number): Action[] {
  const actions: Action[] = [];
  for (let i = 0; i < count; i++) {
    const verb: Verb = choose.pick(VERBS);
    actions.push(
      verb === 'set-speed-positive'
        ? { kind: 'verb', verb, id: pickId(choose, ids), speed: choose.pick(SMALL_SPEEDS) }
        : { kind: 'verb', verb, id: pickId(choose, ids) },
    );
  }
  return actions;
}

export function startSpec(choose: Chooser, id: string, unthrottledPercent: number): StartSpec {
  return {
    id,
    speed: choose.chance(unthrottledPercent) ? 0 : choose.pick(SMALL_SPEEDS),
    autoFinalize: choose.chance(60),
    autoDismiss: choose.chance(60),
  };
}

export function backupSpec(
  choose: Chooser,
  id: string,
  n: number,
  unthrottledPercent = 15,
): BackupSpec {
  return {
    ...startSpec(choose, id, unthrottledPercent),
    device: `src${n}`,
    target: `dst${n}`,
    sync: choose.chance(15) ? 'none' : 'full',
  };
}

export const PAUSES = ['job-pause', 'block-job-pause'] as const;

/** A drain with nothing else: an empty transaction (§5.5). */
const drainOnly: Action = { kind: 'transaction', backups: [] };

/** Starts that fail: a used id, an unknown node (backups still drain, §5.5). */
function failingBackup(choose: Chooser, usedId: string, b: CaseBuilder): Action {
  const spec = backupSpec(choose, usedId, b.spare());
  return choose.chance(50)
    ? { kind: 'backup', ...spec }
    : { kind: 'backup', ...spec, id: 'bx', target: 'nope' };
}

/** Interleaves verbs on `ids` with the occasional drain or failing start. */
export function verbsWithDisturbances(
  choose: Chooser,
  ids: readonly string[],
  count: number,
  b: CaseBuilder,
): Action[] {
  const actions: Action[] = [];
  for (const verb of randomVerbs(choose, ids, count)) {
    actions.push(verb);
    if (choose.chance(10)) actions.push(drainOnly);
    if (choose.chance(6)) actions.push(failingBackup(choose, choose.pick(ids), b));
  }
  return actions;
}

/**
 * What most shapes do once their first job runs: verbs with disturbances, now and then a backup
 * `second.id` on pair `second.pair` (its drain meets the first job), more verbs. `between` adds
 * the shape's own actions before the second job. `ids` gains the second job's.
 */
export function followUp(
  choose: Chooser,
  b: CaseBuilder,
  ids: string[],
  second: { id: string; pair: number },
  options: { laterMax?: number; between?: () => Action[] } = {},
): Action[] {
  const actions = verbsWithDisturbances(choose, ids, choose.int(2, 6), b);
  actions.push(...(options.between?.() ?? []));
  if (choose.chance(40)) {
    ids.push(second.id);
    actions.push({ kind: 'backup', ...backupSpec(choose, second.id, second.pair) });
  }
  actions.push(...verbsWithDisturbances(choose, ids, choose.int(3, options.laterMax ?? 10), b));
  return actions;
}

/**
 * A job resumed from an error stop under a speed limit goes on at a pace the model cannot follow
 * (it retries the failed range, then copies a chunk per wake from wherever it was): keep `id`
 * unthrottled (speed 0 instead of a positive one).
 */
export function keepUnthrottled(actions: readonly Action[], id: string): Action[] {
  return actions.map(
    (a): Action =>
      a.kind === 'verb' && a.verb === 'set-speed-positive' && a.id === id
        ? { kind: 'verb', verb: 'set-speed-zero', id }
        : a,
  );
}

/** A blkdebug `inject-error` rule (QEMU's BlkdebugInjectErrorOptions). */
export function injectError(rule: {
  event: string;
  iotype: 'read' | 'write';
  errno: 'EIO' | 'ENOSPC';
  once: boolean;
  sector?: number;
}): Record<string, unknown> {
  return { ...rule, errno: rule.errno === 'EIO' ? 5 : 28 };
}
