/**
 * The fault plan's life in qmpkit-server: made at start-up from `--faults` files, `--fault`
 * options and the seed; every firing is logged on stderr, so a failing run shows what it met.
 * A fleet's VMs each get a plan of their own (see `FleetFaults`).
 */
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FaultOptions } from '../options.js';
import { PROGRAM } from '../options.js';
import { FaultPlan } from './plan.js';
import { type FaultSpec, parseFaultFile } from './spec.js';
import { FaultWire } from './wire.js';

/** The faults and seed the command line gives: files read, the seed chosen if none was. */
interface ReadPlan {
  readonly seed: number;
  /** True when no seed was given (it was chosen here, and is printed). */
  readonly chosen: boolean;
  readonly faults: readonly FaultSpec[];
}

/** Reads the `--faults` files; throws an Error whose message names the file at fault. */
function readPlan(options: FaultOptions): ReadPlan {
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
  return { seed: seed ?? randomInt(0, 2 ** 32 - 1), chosen: seed === undefined, faults };
}

function repeatHint(plan: ReadPlan): string {
  return plan.chosen ? ` (repeat with --fault-seed ${plan.seed})` : '';
}

/** A wire for `plan`, its firings logged on stderr with `label` (a fleet VM's). */
function wireOf(plan: FaultPlan, stderr: (text: string) => void, label = ''): FaultWire {
  plan.onFire = (f) => stderr(`${PROGRAM}: ${label}fault #${f.fault} (${f.kind}): ${f.what}\n`);
  return new FaultWire(plan);
}

/** Builds the plan; throws an Error whose message names the file at fault. */
export function startFaults(options: FaultOptions, stderr: (text: string) => void): FaultWire {
  const read = readPlan(options);
  stderr(
    `${PROGRAM}: faults: seed ${read.seed}${repeatHint(read)}, ${read.faults.length} fault(s)\n`,
  );
  return wireOf(new FaultPlan(read.seed, read.faults), stderr);
}

/**
 * A fleet's faults: every VM meets the command line's faults (and its own, from the fleet file)
 * in a plan of its own, seeded with the fleet's seed plus the VM's number — so VMs driven alike
 * do not all meet a probable fault at once, and the fleet replays as a whole from one seed.
 */
export class FleetFaults {
  private constructor(
    private readonly read: ReadPlan,
    private readonly stderr: (text: string) => void,
  ) {}

  /** Reads the plan; throws an Error whose message names the file at fault. */
  static start(options: FaultOptions, stderr: (text: string) => void): FleetFaults {
    const read = readPlan(options);
    stderr(
      `${PROGRAM}: faults: fleet seed ${read.seed}${repeatHint(read)} (VM number i: seed + i), ${read.faults.length} fault(s) in every VM\n`,
    );
    return new FleetFaults(read, stderr);
  }

  /** The wire of VM number `index` named `name`, with `own` faults besides the fleet's. */
  wireFor(index: number, name: string, own: readonly FaultSpec[]): FaultWire {
    const seed = (this.read.seed + index) % 2 ** 32;
    return wireOf(new FaultPlan(seed, [...this.read.faults, ...own]), this.stderr, `vm ${name}: `);
  }
}
