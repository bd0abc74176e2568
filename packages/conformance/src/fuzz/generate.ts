// Seeded generation of job-API sequences. A case is fully determined by its seed: the seed picks
// a shape (which nodes exist, which jobs are made) and then every choice inside it, through one
// pure-rand generator. The sequence is a list of abstract actions; the model (model.ts) turns it
// into the scenario to run, so a shrunk sequence (any sub-list) is predicted afresh. The shapes
// live in shapes-*.ts, what they share in case-builder.ts.

import { Chooser, type FuzzCase, type Shape } from './case-builder.js';
import { bitmapShape } from './shapes-bitmaps.js';
import { chainErrorShape, chainShape } from './shapes-chain.js';
import { sparseFileShape } from './shapes-files.js';
import { IO_SHAPES } from './shapes-io.js';
import {
  ioErrorShape,
  mirrorErrorShape,
  mirrorShape,
  throttledBackup,
  transactionShape,
} from './shapes-null-co.js';

export type { FuzzCase, Shape };

/** The shapes a seed's first choice picks from. */
const FIRST_SHAPES: readonly Shape[] = [
  throttledBackup,
  mirrorShape,
  chainShape,
  transactionShape,
  ioErrorShape,
  mirrorErrorShape,
  chainErrorShape,
  sparseFileShape,
];

/**
 * Shapes added after seeds were in use: a second stream of the seed takes one of them instead,
 * `LATER_PERCENT` of the time, so that every other seed still gives the case it always gave
 * (findings and runs name seeds).
 */
const LATER_SHAPES: readonly Shape[] = [bitmapShape];
const LATER_PERCENT = 12;

/** The `jobs` family's shapes. */
export const SHAPES: readonly Shape[] = [...FIRST_SHAPES, ...LATER_SHAPES];

/**
 * The `jobs` family's case for `seed`: the seed picks the shape, then everything in it. Nothing
 * else goes in, so a seed names the same case on every machine and every day (for one version of
 * this file).
 */
function jobsCase(seed: number, shape?: Shape): FuzzCase {
  const choose = new Chooser(seed);
  let picked = choose.pick(FIRST_SHAPES);
  const later = new Chooser(seed, 1);
  if (later.chance(LATER_PERCENT)) picked = later.pick(LATER_SHAPES);
  return (shape ?? picked).build(choose, seed);
}

/** The `io` family's case: its own stream of the seed picks the shape and everything in it. */
function ioCase(seed: number, shape?: Shape): FuzzCase {
  const choose = new Chooser(seed, IO_STREAM);
  const picked = choose.pick(IO_SHAPES);
  return (shape ?? picked).build(choose, seed);
}
/** The io family draws from a stream of the seed no jobs-family shape uses. */
const IO_STREAM = 2;

export interface Family {
  readonly about: string;
  readonly shapes: readonly Shape[];
  readonly generate: (seed: number, shape?: Shape) => FuzzCase;
}

/**
 * Generator families, each with its own seed space: seed N of one family has nothing to do with
 * seed N of another. `jobs` is the original generator (its seeds name the cases they always
 * named); `io` was added for what `jobs` never generates.
 */
export const FAMILIES = {
  jobs: {
    about:
      'job verbs × statuses: backups, mirrors, streams, commits, transactions, I/O errors, dirty bitmaps',
    shapes: SHAPES,
    generate: jobsCase,
  },
  io: {
    about:
      'NBD exports and guest writes beside running jobs, queries while a job holds a filter node',
    shapes: IO_SHAPES,
    generate: ioCase,
  },
} as const satisfies Record<string, Family>;
export type FamilyName = keyof typeof FAMILIES;

/**
 * The case for `seed` in `family` (default `jobs`). `shape` (a name from the family's shapes)
 * overrides the seed's pick, after it was drawn: a seed whose own shape it is gives the same case
 * either way.
 */
export function generateCase(seed: number, shape?: string, family: FamilyName = 'jobs'): FuzzCase {
  const f: Family = FAMILIES[family];
  return f.generate(seed, shape === undefined ? undefined : shapeNamed(shape, family));
}

export function shapeNamed(name: string, family: FamilyName = 'jobs'): Shape {
  const shapes: readonly Shape[] = FAMILIES[family].shapes;
  const shape = shapes.find((s) => s.name === name);
  if (shape === undefined) {
    throw new Error(
      `no shape '${name}' in family ${family}; shapes: ${shapes.map((s) => s.name).join(', ')}`,
    );
  }
  return shape;
}
