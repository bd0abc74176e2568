// `pnpm --filter @qmpkit/conformance fuzz:diff -- --help` (cli-options.ts: every option, examples,
// exit statuses).
//
// Runs generated cases against real qemu-storage-daemon and qmpkit-server, a few pairs at a time,
// prints every failing seed (shrunk to a minimal sequence) and the coverage tables. Exit status 0
// when every seed passed, 1 when any failed, 2 for bad options or a run that could not start.

import { requireQemu } from '../daemon.js';
import { showTranscript } from '../scenario-normalize.js';
import { type Options, parseArgs, UsageError, usage } from './cli-options.js';
import { CoverageTable, IoCoverageTable } from './coverage.js';
import { generateCase } from './generate.js';
import { heldBackFor } from './held-back.js';
import {
  describeFailure,
  fuzzTargets,
  runCase,
  setupTemplates,
  shrinkCase,
  type Verdict,
} from './run.js';

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`fuzz:diff: ${error.message}\n(fuzz:diff -- --help lists the options)`);
    return 2;
  }
  if (options.help) {
    console.log(usage());
    return 0;
  }
  if (options.qemu === '7.2') requireQemu();
  const targets = fuzzTargets(options.qemu, options.qmpkit);
  console.error(
    `QEMU ${options.qemu}, family ${options.family}: ${targets.qemu.name} against ${targets.qmpkit.name}`,
  );
  const coverage = new CoverageTable();
  const ioCoverage = new IoCoverageTable();
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
      const fuzzCase = generateCase(seed, options.shape, options.family);
      const { result, predicted } = await runCase(fuzzCase, targets);
      coverage.add(predicted.coverage);
      ioCoverage.add(predicted.io);
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
      const known = heldBackFor(predicted).map((c) => c.name);
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
    `\nstatus × verb coverage over ${done} seeds (QEMU ${options.qemu}, family ${options.family}):\n${coverage.render()}`,
  );
  if (options.family !== 'jobs' || ioCoverage.total > 0) {
    console.log(
      `\nio action × job status coverage over ${done} seeds (QEMU ${options.qemu}, family ${options.family}):\n${ioCoverage.render()}`,
    );
  }
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
