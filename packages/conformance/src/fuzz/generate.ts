// Seeded generation of job-API sequences. A case is fully determined by its seed: the seed picks
// a shape (which nodes exist, which jobs are made) and then every choice inside it, through one
// pure-rand generator. The sequence is a list of abstract actions; the model (model.ts) turns it
// into the scenario to run, so a shrunk sequence (any sub-list) is predicted afresh. The shapes
// live in shapes-*.ts, what they share in case-builder.ts.

import { Chooser, type FuzzCase, type Shape } from './case-builder.js';
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

/** Every shape the generator knows. */
export const SHAPES: readonly Shape[] = [
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
 * The case for `seed`: the seed picks the shape, then everything in it. Nothing else goes in, so a
 * seed names the same case on every machine and every day (for one version of this file).
 * `shape` (a name from SHAPES) overrides the seed's pick, after it was drawn: a seed whose own
 * shape it is gives the same case either way.
 */
export function generateCase(seed: number, shape?: string): FuzzCase {
  const choose = new Chooser(seed);
  const picked = choose.pick(SHAPES);
  return (shape === undefined ? picked : shapeNamed(shape)).build(choose, seed);
}

export function shapeNamed(name: string): Shape {
  const shape = SHAPES.find((s) => s.name === name);
  if (shape === undefined) {
    throw new Error(`no shape '${name}'; shapes: ${SHAPES.map((s) => s.name).join(', ')}`);
  }
  return shape;
}
