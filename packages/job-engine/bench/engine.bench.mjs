// Benchmarks for the job engine (run after `pnpm build`; imports the built package).
// Prints one line per figure: `name: value unit`.
import { performance } from 'node:perf_hooks';
import { JobEngine } from '../dist/index.js';

function check(result, what) {
  if (!result.ok) throw new Error(`${what}: ${result.error.desc}`);
  return result;
}

// 1. Verb applications per second on a warm engine: 1,000 running mirrors, each taking
//    pause, set-speed, resume and a refused complete in turn (accepted and refused verbs).
function verbThroughput() {
  const engine = new JobEngine();
  const ids = [];
  for (let i = 0; i < 1000; i++) {
    const id = `m${i}`;
    ids.push(id);
    check(engine.create({ id, type: 'mirror', speed: 1 }), 'create');
    check(engine.start(id), 'start');
    check(engine.sleep(id), 'sleep');
  }
  const round = () => {
    for (const id of ids) {
      engine.jobPause(id);
      engine.blockJobSetSpeed(id, 1);
      engine.jobResume(id);
      engine.sleep(id);
      engine.jobComplete(id); // refused: running
    }
  };
  for (let i = 0; i < 50; i++) round(); // warm-up
  const rounds = 400;
  const verbsPerRound = ids.length * 4; // sleep is a driver signal, not counted
  const t0 = performance.now();
  for (let i = 0; i < rounds; i++) round();
  const seconds = (performance.now() - t0) / 1000;
  return (rounds * verbsPerRound) / seconds;
}

// 2. 100,000 jobs through a full lifecycle, phase by phase (all of them alive at once):
//    create → start → ready → complete → finalize → dismiss.
function lifecycle(count) {
  globalThis.gc?.();
  const before = process.memoryUsage();
  let peakRss = before.rss;
  let peakHeap = before.heapUsed;
  const sample = () => {
    const m = process.memoryUsage();
    if (m.rss > peakRss) peakRss = m.rss;
    if (m.heapUsed > peakHeap) peakHeap = m.heapUsed;
  };
  const engine = new JobEngine();
  const ids = Array.from({ length: count }, (_, i) => `job${i}`);
  let events = 0;
  const t0 = performance.now();
  for (const id of ids) {
    events += check(
      engine.create({ id, type: 'mirror', autoFinalize: false, autoDismiss: false }),
      'create',
    ).effects.length;
  }
  for (const id of ids) events += check(engine.start(id), 'start').effects.length;
  for (const id of ids) {
    engine.progress(id, { setRemaining: 65536, workDone: 65536 });
    events += check(engine.converged(id), 'converged').effects.length;
    engine.sleep(id);
  }
  sample();
  for (const id of ids) events += check(engine.jobComplete(id), 'complete').effects.length;
  for (const id of ids) events += check(engine.runFinished(id), 'runFinished').effects.length;
  for (const id of ids) events += check(engine.jobFinalize(id), 'finalize').effects.length;
  sample();
  for (const id of ids) events += check(engine.jobDismiss(id), 'dismiss').effects.length;
  const ms = performance.now() - t0;
  sample();
  if (engine.ids().length !== 0) throw new Error('jobs left over');
  return {
    ms,
    events,
    rssMB: (peakRss - before.rss) / 2 ** 20,
    heapMB: (peakHeap - before.heapUsed) / 2 ** 20,
  };
}

const verbsPerSecond = verbThroughput();
console.log(`verb-applications-per-second: ${Math.round(verbsPerSecond)} ops/s`);
lifecycle(10_000); // warm-up
const run = lifecycle(100_000);
console.log(`lifecycle-100k-jobs-time: ${run.ms.toFixed(0)} ms`);
console.log(`lifecycle-100k-jobs-effects: ${run.events} effects`);
console.log(`lifecycle-100k-jobs-peak-rss-delta: ${run.rssMB.toFixed(1)} MB`);
console.log(`lifecycle-100k-jobs-peak-heap-delta: ${run.heapMB.toFixed(1)} MB`);
