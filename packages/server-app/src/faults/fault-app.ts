/**
 * The fault plan's life in qmpkit-server: made at start-up from `--faults` files, `--fault`
 * options and the seed; every firing is logged on stderr, so a failing run shows what it met.
 */
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FaultOptions } from '../options.js';
import { PROGRAM } from '../options.js';
import { FaultPlan } from './plan.js';
import { type FaultSpec, parseFaultFile } from './spec.js';
import { FaultWire } from './wire.js';

/** Builds the plan; throws an Error whose message names the file at fault. */
export function startFaults(options: FaultOptions, stderr: (text: string) => void): FaultWire {
  let seed = options.seed;
  const faults: FaultSpec[] = [];
  for (const file of options.files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new Error(`--faults ${file}: ${(error as Error).message}`);
    }
    let parsed: ReturnType<typeof parseFaultFile>;
    try {
      parsed = parseFaultFile(text);
    } catch (error) {
      throw new Error(`--faults ${file}: ${(error as Error).message}`);
    }
    seed ??= parsed.seed;
    faults.push(...parsed.faults);
  }
  faults.push(...options.faults);
  const chosen = seed === undefined;
  seed ??= randomInt(0, 2 ** 32 - 1);
  const plan = new FaultPlan(seed, faults);
  stderr(
    `${PROGRAM}: faults: seed ${seed}${chosen ? ` (repeat with --fault-seed ${seed})` : ''}, ${faults.length} fault(s)\n`,
  );
  plan.onFire = (f) => stderr(`${PROGRAM}: fault #${f.fault} (${f.kind}): ${f.what}\n`);
  return new FaultWire(plan);
}
