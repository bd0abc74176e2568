// fuzz:diff's command line: its options, their checks (a mistake is a UsageError: exit status 2,
// with a pointer to --help) and the --help text.

import { availableParallelism } from 'node:os';
import { FAMILIES, type FamilyName, shapeNamed } from './generate.js';
import { FUZZ_VERSIONS, type FuzzVersion } from './model-version.js';
import { QMPKIT_TARGETS, type QmpkitTargetName } from './run.js';
import { parseSeeds } from './seeds.js';

export interface Options {
  seeds: number[];
  concurrency: number;
  shrink: boolean;
  print: boolean;
  help: boolean;
  /** The generator family the seeds are drawn from (generate.ts FAMILIES). */
  family: FamilyName;
  /** Every seed builds a case of this shape (generate.ts). */
  shape?: string;
  /** How qmpkit-server runs (run.ts QMPKIT_TARGETS). */
  qmpkit: QmpkitTargetName;
  /** The QEMU version both sides speak. */
  qemu: FuzzVersion;
}

/** What `--help` prints. */
export function usage(): string {
  const families = Object.entries(FAMILIES)
    .map(([name, f]) => `                     ${name.padEnd(5)} ${f.about}`)
    .join('\n');
  return `Usage: pnpm --filter @qmpkit/conformance fuzz:diff -- [options]

Generates job-API sequences from seeds, predicts QEMU's every reply and event with a model,
and runs each sequence against a fresh real qemu-storage-daemon and a fresh qmpkit-server side
by side. Prints each failing seed (shrunk to a minimal sequence) and the coverage tables.

Options:
  --seeds LIST       seeds to run: 1-5000, 7, or 1,5,9-12 (repeatable; default 1-100)
  --seed LIST        the same as --seeds (for replaying one seed)
  --family NAME      the generator family the seeds are drawn from (default jobs); each family
                     has its own seed space:
${families}
  --shape NAME       every seed builds a case of this shape (a shape of the family; a seed of
                     that shape gives its usual case). Shapes: ${Object.entries(FAMILIES)
                       .map(([name, f]) => `${name}: ${f.shapes.map((s) => s.name).join(', ')}`)
                       .join('; ')}
  --qemu VERSION     the QEMU version both sides speak: ${FUZZ_VERSIONS.join(' or ')} (default 7.2,
                     the installed one; 10.0 from .ci/fetch-qemu's cache)
  --qmpkit HOW       how qmpkit-server runs: ${Object.keys(QMPKIT_TARGETS).join(' or ')} (default in-process:
                     embedded; process: a qmpkit-server process per case, as a user runs it)
  --concurrency N    cases at once (default: cores, at most 4; each case is two daemons)
  --no-shrink        report failing seeds as generated, without shrinking them
  --print            print every case's QEMU transcript
  -h, --help         print this and exit

Examples:
  fuzz:diff -- --seeds 1-5000 --concurrency 2 --no-shrink
  fuzz:diff -- --seed 54                             replay seed 54 and shrink it if it fails
  fuzz:diff -- --family io --seeds 1-300 --qemu 10.0
  fuzz:diff -- --seeds 1-40 --shape mirror --print

Exit status: 0 every seed passed; 1 some seed failed (a difference, a misprediction, or a
daemon that did not start); 2 bad options or the run could not start (e.g. QEMU missing).
`;
}

/** A positive integer option value, or a clear error. */
function positiveInt(option: string, text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 64) {
    throw new UsageError(`${option} ${text}: expected a whole number from 1 to 64`);
  }
  return Number(text);
}

/** A mistake on the command line (exit status 2, with a pointer to --help). */
export class UsageError extends Error {}

export function parseArgs(argv: readonly string[]): Options {
  // Each case runs two daemons; on 2 cores two cases at a time keeps both busy without starving
  // the timing-sensitive waits of everyone else on the machine.
  const options: Options = {
    seeds: [],
    concurrency: Math.max(1, Math.min(4, availableParallelism())),
    shrink: true,
    print: false,
    help: false,
    family: 'jobs',
    qmpkit: 'in-process',
    qemu: '7.2',
  };
  let shape: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    if (arg === '--') continue;
    if (arg === '--help' || arg === '-h') options.help = true;
    else if (arg === '--seeds' || arg === '--seed') {
      const spec = value();
      try {
        options.seeds.push(...parseSeeds(spec));
      } catch (error) {
        throw new UsageError(`${arg}: ${(error as Error).message}`);
      }
    } else if (arg === '--concurrency') options.concurrency = positiveInt(arg, value());
    else if (arg === '--no-shrink') options.shrink = false;
    else if (arg === '--print') options.print = true;
    else if (arg === '--shape') shape = value();
    else if (arg === '--family') {
      const name = value();
      if (!Object.hasOwn(FAMILIES, name)) {
        throw new UsageError(`--family ${name}: expected ${Object.keys(FAMILIES).join(' or ')}`);
      }
      options.family = name as FamilyName;
    } else if (arg === '--qmpkit') {
      const how = value();
      if (!Object.hasOwn(QMPKIT_TARGETS, how)) {
        throw new UsageError(
          `--qmpkit ${how}: expected ${Object.keys(QMPKIT_TARGETS).join(' or ')}`,
        );
      }
      options.qmpkit = how as QmpkitTargetName;
    } else if (arg === '--qemu') {
      const version = value();
      if (!(FUZZ_VERSIONS as readonly string[]).includes(version)) {
        throw new UsageError(`--qemu ${version}: expected ${FUZZ_VERSIONS.join(' or ')}`);
      }
      options.qemu = version as FuzzVersion;
    } else throw new UsageError(`unknown option ${arg}`);
  }
  if (shape !== undefined) {
    try {
      options.shape = shapeNamed(shape, options.family).name;
    } catch (error) {
      throw new UsageError(`--shape: ${(error as Error).message}`);
    }
  }
  if (options.seeds.length === 0) options.seeds = parseSeeds('1-100');
  return options;
}
