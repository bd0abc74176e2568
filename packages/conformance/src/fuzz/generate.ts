// Seeded generation of job-API sequences. A case is fully determined by its seed: the seed picks
// a shape (which nodes exist, which jobs are made) and then every choice inside it, through one
// pure-rand generator. The sequence is a list of abstract actions; the model (model.ts) turns it
// into the scenario to run, so a shrunk sequence (any sub-list) is predicted afresh. The shapes
// live in shapes-*.ts, what they share in case-builder.ts.

import { Chooser, type FuzzCase, type Shape } from './case-builder.js';
import { bitmapShape } from './shapes-bitmaps.js';
import { chainErrorShape, chainShape } from './shapes-chain.js';
import { sparseFileShape } from './shapes-files.js';
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

/** Every shape the generator knows. */
export const SHAPES: readonly Shape[] = [...FIRST_SHAPES, ...LATER_SHAPES];

/**
 * The case for `seed`: the seed picks the shape, then everything in it. Nothing else goes in, so a
 * seed names the same case on every machine and every day (for one version of this file).
 * `shape` (a name from SHAPES) overrides the seed's pick, after it was drawn: a seed whose own
 * shape it is gives the same case either way.
 */
export function generateCase(seed: number, shape?: string): FuzzCase {
  const choose = new Chooser(seed);
  let picked = choose.pick(FIRST_SHAPES);
  const later = new Chooser(seed, 1);
  if (later.chance(LATER_PERCENT)) picked = later.pick(LATER_SHAPES);
  return (shape === undefined ? picked : shapeNamed(shape)).build(choose, seed);
}

export function shapeNamed(name: string): Shape {
  const shape = SHAPES.find((s) => s.name === name);
  if (shape === undefined) {
    throw new Error(`no shape '${name}'; shapes: ${SHAPES.map((s) => s.name).join(', ')}`);
  }
  return shape;
}
