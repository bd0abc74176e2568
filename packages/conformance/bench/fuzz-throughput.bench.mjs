// The differential tester's throughput: generated cases per second with qmpkit-server embedded
// (one process, a fresh simulated VM per case: src/qmpkit-in-process.ts) and, side by side in
// the same run, with its partner — a qmpkit-server process started per case, as before. Both
// runs take the same seeds at the same time (same concurrency each), so the machine's load hits
// both alike; each case still runs a real qemu-storage-daemon 7.2 beside it, which both pay.
//
// `pnpm --filter @qmpkit/conformance bench:fuzz` (builds the tester; needs built server-app and
// QEMU). QMPKIT_BENCH_FUZZ_SEEDS (default 1-16) and QMPKIT_BENCH_FUZZ_CONCURRENCY (default 2, per
// side). One line per figure: `name: value unit`. Every case must pass on both sides (a
// failure is printed and the bench exits 1: a figure over failing cases means nothing).

import { generateCase } from '../dist/fuzz/generate.js';
import { fuzzTargets, predict, runBoth, setupTemplates } from '../dist/fuzz/run.js';
import { parseSeeds } from '../dist/fuzz/seeds.js';

const seeds = parseSeeds(process.env.QMPKIT_BENCH_FUZZ_SEEDS ?? '1-16');
const concurrency = Number(process.env.QMPKIT_BENCH_FUZZ_CONCURRENCY ?? 2);

/** Runs every seed with qmpkit-server run as `how`; resolves to seconds and failing seeds. */
async function side(how) {
  const targets = fuzzTargets('7.2', how);
  const failing = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < seeds.length) {
      const seed = seeds[next++];
      const result = await runBoth(predict(generateCase(seed)).scenario, targets);
      if (result.verdict !== 'pass') failing.push(`${seed} (${result.verdict})`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { seconds: (performance.now() - started) / 1000, failing };
}

try {
  // The setups are made once for both sides first, so neither pays them alone.
  for (const seed of seeds)
    await setupTemplates.template(predict(generateCase(seed)).scenario.setup);
  const [embedded, perProcess] = await Promise.all([side('in-process'), side('process')]);
  const rate = (s) => seeds.length / s.seconds;
  console.log(`fuzz cases/s, qmpkit-server embedded: ${rate(embedded).toFixed(3)} cases/s`);
  console.log(
    `fuzz cases/s, qmpkit-server process per case: ${rate(perProcess).toFixed(3)} cases/s`,
  );
  console.log(
    `fuzz throughput embedded/process: ${(rate(embedded) / rate(perProcess)).toFixed(2)} x`,
  );
  const failing = [
    ...embedded.failing.map((f) => `embedded ${f}`),
    ...perProcess.failing.map((f) => `process ${f}`),
  ];
  if (failing.length > 0) {
    console.error(`failing cases: ${failing.join(', ')}`);
    process.exitCode = 1;
  }
} finally {
  setupTemplates.close();
}
