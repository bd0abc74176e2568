// `pnpm --filter @qmpkit/conformance fuzz:diff -- --seeds 1-5000 [--concurrency N]`
// `pnpm --filter @qmpkit/conformance fuzz:diff -- --seed N [--print]`
// `… fuzz:diff -- --seeds 1-500 --shape mirror` (every seed builds a case of that shape; a seed
//  whose own shape it is gives its usual case)
// `… fuzz:diff -- --seeds 1-40 --qmpkit process` (a qmpkit-server process per case, as a user
//  runs it, instead of the embedded one: see run.ts QMPKIT_TARGETS)
// `… fuzz:diff -- --seeds 1-5000 --qemu 10.0` (real QEMU 10.0 from .ci/fetch-qemu's cache against
//  `qmpkit-server --qemu-version 10.0`; default 7.2, the installed one)
//
// Runs generated cases against real qemu-storage-daemon and qmpkit-server, a few pairs at a time,
// prints every failing seed (shrunk to a minimal sequence) and the status × verb coverage table.
// Exit status 1 when any seed failed.

import { availableParallelism } from 'node:os';
import { requireQemu } from '../daemon.js';
import { showTranscript } from '../scenario-normalize.js';
import { CoverageTable } from './coverage.js';
import { generateCase, shapeNamed } from './generate.js';
import { heldBackFor } from './held-back.js';
import { FUZZ_VERSIONS, type FuzzVersion } from './model-version.js';
import {
  describeFailure,
  fuzzTargets,
  predict,
  QMPKIT_TARGETS,
  type QmpkitTargetName,
  runCase,
  setupTemplates,
  shrinkCase,
  type Verdict,
} from './run.js';
import { parseSeeds } from './seeds.js';

interface Options {
  seeds: number[];
  concurrency: number;
  shrink: boolean;
  print: boolean;
  /** Every seed builds a case of this shape (generate.ts). */
  shape?: string;
  /** How qmpkit-server runs (run.ts QMPKIT_TARGETS). */
  qmpkit: QmpkitTargetName;
  /** The QEMU version both sides speak. */
  qemu: FuzzVersion;
}

function parseArgs(argv: readonly string[]): Options {
  // Each case runs two daemons; on 2 cores two cases at a time keeps both busy without starving
  // the timing-sensitive waits of everyone else on the machine.
  const options: Options = {
    seeds: [],
    concurrency: Math.max(1, Math.min(4, availableParallelism())),
    shrink: true,
    print: false,
    qmpkit: 'in-process',
    qemu: '7.2',
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--') continue;
    if (arg === '--seeds' || arg === '--seed') options.seeds.push(...parseSeeds(value()));
    else if (arg === '--concurrency') options.concurrency = Math.max(1, Number(value()));
    else if (arg === '--no-shrink') options.shrink = false;
    else if (arg === '--print') options.print = true;
    else if (arg === '--shape') options.shape = shapeNamed(value()).name;
    else if (arg === '--qmpkit') {
      const how = value();
      if (!Object.hasOwn(QMPKIT_TARGETS, how)) {
        throw new Error(`--qmpkit ${how}: expected ${Object.keys(QMPKIT_TARGETS).join(' or ')}`);
      }
      options.qmpkit = how as QmpkitTargetName;
    } else if (arg === '--qemu') {
      const version = value();
      if (!(FUZZ_VERSIONS as readonly string[]).includes(version)) {
        throw new Error(`--qemu ${version}: expected ${FUZZ_VERSIONS.join(' or ')}`);
      }
      options.qemu = version as FuzzVersion;
    } else throw new Error(`unknown option ${arg}`);
  }
  if (options.seeds.length === 0) options.seeds = parseSeeds('1-100');
  return options;
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  if (options.qemu === '7.2') requireQemu();
  const targets = fuzzTargets(options.qemu, options.qmpkit);
  console.error(`QEMU ${options.qemu}: ${targets.qemu.name} against ${targets.qmpkit.name}`);
  const coverage = new CoverageTable();
  /** `known`: the held-back classes (held-back.ts) the case can reach. */
  const failures: Array<{ seed: number; verdict: Verdict; known: string[] }> = [];
  const started = Date.now();
  let done = 0;
  let next = 0;
  const stopping = { now: false };
  process.once('SIGINT', () => {
    stopping.now = true;
  });
  process.once('SIGTERM', () => {
    stopping.now = true;
  });

  const worker = async (): Promise<void> => {
    while (!stopping.now && next < options.seeds.length) {
      const seed = options.seeds[next++] as number;
      const fuzzCase = generateCase(seed, options.shape);
      const { result, coverage: covered } = await runCase(fuzzCase, targets);
      coverage.add(covered);
      done++;
      if (options.print) {
        console.log(`== seed ${seed} (${fuzzCase.shape}) ${result.verdict}`);
        console.log(showTranscript(result.qemu.transcript));
      }
      if (result.verdict === 'pass') {
        if (done % 50 === 0)
          console.error(`… ${done}/${options.seeds.length} seeds, ${failures.length} failing`);
        continue;
      }
      const known = heldBackFor(predict(fuzzCase, fuzzCase.actions, options.qemu)).map(
        (c) => c.name,
      );
      failures.push({ seed, verdict: result.verdict, known });
      if (result.verdict === 'infra') {
        console.log(
          `\n== seed ${seed}: a daemon did not come up (3 tries): ${result.qmpkit.failures[0] ?? result.qemu.failures[0]}`,
        );
        continue;
      }
      let report = describeFailure(fuzzCase, fuzzCase.actions, result);
      if (options.shrink) {
        const shrunk = await shrinkCase(fuzzCase, result.verdict, targets);
        report = `${describeFailure(fuzzCase, shrunk.actions, shrunk.result)}\n(shrunk from ${fuzzCase.actions.length} actions)`;
      }
      const classes = known.length
        ? `(can reach known classes: ${known.join(', ')})`
        : '(no known class)';
      console.log(`\n==================== FAILING ${report}\n${classes}\n`);
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, () => worker()));
  } finally {
    setupTemplates.close();
  }

  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  console.log(
    `\nstatus × verb coverage over ${done} seeds (QEMU ${options.qemu}):\n${coverage.render()}`,
  );
  const model = failures.filter((f) => f.verdict === 'model').map((f) => f.seed);
  const differences = failures.filter((f) => f.verdict === 'difference').map((f) => f.seed);
  const infra = failures.filter((f) => f.verdict === 'infra').map((f) => f.seed);
  const unexplained = failures
    .filter((f) => f.verdict === 'difference' && f.known.length === 0)
    .map((f) => f.seed);
  console.log(
    `\n${done} seeds in ${seconds} s: ${done - failures.length} pass, ${differences.length} differ (qmpkit-server ≠ QEMU)${
      differences.length ? `: ${differences.join(',')}` : ''
    }, ${model.length} mispredicted by the model${model.length ? `: ${model.join(',')}` : ''}${
      infra.length ? `, ${infra.length} not run (a daemon did not start): ${infra.join(',')}` : ''
    }\n${differences.length - unexplained.length} of the differences can reach a held-back (known) class; ${
      unexplained.length
    } cannot${unexplained.length ? `: ${unexplained.join(',')}` : ''}`,
  );
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exitCode = 2;
  },
);
