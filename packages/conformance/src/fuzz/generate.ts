// Seeded generation of job-API sequences. A case is fully determined by its seed: the seed picks
// a shape (which nodes exist, which jobs are made) and then every choice inside it, through one
// pure-rand generator. The sequence is a list of abstract actions; the model (model.ts) turns it
// into the scenario to run, so a shrunk sequence (any sub-list) is predicted afresh.

import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';
import type { SetupStep } from '../scenario.js';
import { type Action, type NodeInfo, VERBS, type Verb } from './model.js';

const MiB = 1024 * 1024;

/** A generated case: where it runs and what it does. */
export interface FuzzCase {
  readonly seed: number;
  readonly shape: string;
  readonly setup: readonly SetupStep[];
  readonly blockdevs: readonly string[];
  /** What the model needs to know about the nodes. */
  readonly nodes: ReadonlyMap<string, NodeInfo>;
  readonly actions: readonly Action[];
}

/** Choices drawn from one seeded generator. */
export class Chooser {
  readonly #rng: RandomGenerator;
  constructor(seed: number) {
    this.#rng = xoroshiro128plus(seed);
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
  /** What the shape exercises, printed with a finding. */
  readonly about: string;
  build(choose: Chooser, seed: number): FuzzCase;
}

const nullCo = (nodeName: string, size: number): string =>
  JSON.stringify({ driver: 'null-co', 'node-name': nodeName, size });

/** Ids a verb may name: the shape's jobs, mostly, and now and then one that never existed. */
function pickId(choose: Chooser, ids: readonly string[]): string {
  return choose.chance(8) ? 'nope' : choose.pick(ids);
}

/** Positive speeds small enough that a woken job's next sleep outlasts any sequence (§8.3). */
const SMALL_SPEEDS = [1, 2, 512, 4096] as const;

function randomVerbs(choose: Chooser, ids: readonly string[], count: number): Action[] {
  const actions: Action[] = [];
  for (let i = 0; i < count; i++) {
    const verb: Verb = choose.pick(VERBS);
    const action: Action =
      verb === 'set-speed-positive'
        ? { kind: 'verb', verb, id: pickId(choose, ids), speed: choose.pick(SMALL_SPEEDS) }
        : { kind: 'verb', verb, id: pickId(choose, ids) };
    actions.push(action);
  }
  return actions;
}

/**
 * Throttled (and unthrottled) backups between null-co nodes, one or two, with every verb: the
 * first shape, and the one issue 12's class 1 was found with.
 */
const throttledBackup: Shape = {
  name: 'throttled-backup',
  about: 'blockdev-backup between null-co nodes (sync full/none, speed small or 0) × every verb',
  build(choose, seed) {
    const size = 64 * MiB;
    const nodes = new Map<string, NodeInfo>();
    const blockdevs: string[] = [];
    for (const name of ['src1', 'dst1', 'src2', 'dst2']) {
      nodes.set(name, { size, topAllocated: 0 });
      blockdevs.push(nullCo(name, size));
    }
    const backup = (id: string, n: number): Action => ({
      kind: 'backup',
      id,
      device: `src${n}`,
      target: `dst${n}`,
      sync: choose.chance(15) ? 'none' : 'full',
      speed: choose.chance(15) ? 0 : choose.pick(SMALL_SPEEDS),
      autoFinalize: choose.chance(60),
      autoDismiss: choose.chance(60),
    });
    const actions: Action[] = [backup('b1', 1)];
    const ids = ['b1'];
    actions.push(...randomVerbs(choose, ids, choose.int(2, 6)));
    if (choose.chance(40)) {
      ids.push('b2');
      actions.push(backup('b2', 2));
    }
    actions.push(...randomVerbs(choose, ids, choose.int(3, 10)));
    return { seed, shape: this.name, setup: [], blockdevs, nodes, actions };
  },
};

/** Every shape the generator knows, by name. */
export const SHAPES: readonly Shape[] = [throttledBackup];

/**
 * The case for `seed`: the seed picks the shape, then everything in it. Nothing else goes in, so a
 * seed names the same case on every machine and every day (for one version of this file).
 */
export function generateCase(seed: number): FuzzCase {
  const choose = new Chooser(seed);
  const shape = choose.pick(SHAPES);
  return shape.build(choose, seed);
}
