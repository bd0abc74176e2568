// Benchmarks of the job simulator (run after `pnpm build`; imports the built package).
// Prints one line per figure: `name: value unit`.
import { performance } from 'node:perf_hooks';
import { BlockLayer, createSimulator, MemoryImageStore, VirtualClock } from '../dist/index.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const context = { afterReply: (callback) => callback() };

function gc() {
  if (typeof globalThis.gc === 'function') {
    globalThis.gc();
    globalThis.gc();
  }
}

function setup() {
  const clock = new VirtualClock();
  const blockLayer = new BlockLayer({ store: new MemoryImageStore() });
  let events = 0;
  const sim = createSimulator({ blockLayer, clock, onEvent: () => events++ });
  const run = (command, args = {}) => sim.handlers[command](args, context);
  return { clock, blockLayer, sim, run, events: () => events };
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** query-jobs round trips (handler time: progress of every job brought up to date + reply). */
function timeQueries(env, rounds, stepMs) {
  const times = [];
  for (let i = 0; i < rounds; i++) {
    env.clock.advance(stepMs);
    const t0 = performance.now();
    const list = env.run('query-jobs');
    times.push(performance.now() - t0);
    if (list.length === 0) throw new Error('no jobs left');
  }
  return times.sort((a, b) => a - b);
}

// 1. 1,000 throttled mirrors (each its own source and target: QEMU lets a node be mirrored once).
function thousandMirrors() {
  gc();
  const before = process.memoryUsage().heapUsed;
  const env = setup();
  for (let i = 0; i < 1000; i++) {
    env.blockLayer.add({ driver: 'null-co', 'node-name': `s${i}`, size: 10 * GiB });
    env.blockLayer.add({ driver: 'null-co', 'node-name': `t${i}`, size: 10 * GiB });
  }
  const t0 = performance.now();
  for (let i = 0; i < 1000; i++) {
    env.run('blockdev-mirror', {
      'job-id': `m${i}`,
      device: `s${i}`,
      target: `t${i}`,
      sync: 'full',
      speed: (10 + (i % 50)) * MiB,
    });
  }
  const createMs = performance.now() - t0;
  const times = timeQueries(env, 200, 250);
  gc();
  const heap = process.memoryUsage().heapUsed - before;
  const running = env.run('query-jobs').filter((j) => j.status === 'running').length;
  console.log(`mirrors-throttled-concurrent: ${running} jobs`);
  console.log(`mirrors-create-1000: ${createMs.toFixed(1)} ms`);
  console.log(`mirrors-query-jobs-p50: ${percentile(times, 50).toFixed(3)} ms`);
  console.log(`mirrors-query-jobs-max: ${times[times.length - 1].toFixed(3)} ms`);
  console.log(`mirrors-heap-1000-jobs-2000-nodes: ${(heap / MiB).toFixed(1)} MiB`);
  env.sim.close();
}

// 2. 1,000 throttled backups from 100 source nodes (backups may share a source).
function thousandBackupsOnHundredNodes() {
  gc();
  const before = process.memoryUsage().heapUsed;
  const env = setup();
  for (let i = 0; i < 100; i++) {
    env.blockLayer.add({ driver: 'null-co', 'node-name': `s${i}`, size: 10 * GiB });
  }
  for (let i = 0; i < 1000; i++) {
    env.blockLayer.add({ driver: 'null-co', 'node-name': `t${i}`, size: 10 * GiB });
  }
  const t0 = performance.now();
  for (let i = 0; i < 1000; i++) {
    // Each backup drains every other job: creation cost grows with the number running.
    env.run('blockdev-backup', {
      'job-id': `b${i}`,
      device: `s${i % 100}`,
      target: `t${i}`,
      sync: 'full',
      speed: (10 + (i % 50)) * MiB,
    });
  }
  const createMs = performance.now() - t0;
  const times = timeQueries(env, 200, 250);
  gc();
  const heap = process.memoryUsage().heapUsed - before;
  const running = env.run('query-jobs').filter((j) => j.status === 'running').length;
  console.log(`backups-throttled-concurrent-on-100-sources: ${running} jobs`);
  console.log(`backups-create-1000: ${createMs.toFixed(1)} ms`);
  console.log(`backups-query-jobs-p50: ${percentile(times, 50).toFixed(3)} ms`);
  console.log(`backups-query-jobs-max: ${times[times.length - 1].toFixed(3)} ms`);
  console.log(`backups-heap-1000-jobs-1100-nodes: ${(heap / MiB).toFixed(1)} MiB`);
  env.sim.close();
}

// 3. A 1 TiB mirror at 1 GiB/s (65,536 chunks of 16 MiB) to READY, stepping the virtual clock
//    one second at a time.
function terabyteMirror() {
  const env = setup();
  env.blockLayer.add({ driver: 'null-co', 'node-name': 'src', size: 1024 * GiB });
  env.blockLayer.add({ driver: 'null-co', 'node-name': 'dst', size: 1024 * GiB });
  let ready = false;
  env.sim.setEventBroadcast((event) => {
    if (event === 'BLOCK_JOB_READY') ready = true;
  });
  const t0 = performance.now();
  env.run('blockdev-mirror', {
    'job-id': 'big',
    device: 'src',
    target: 'dst',
    sync: 'full',
    speed: GiB,
  });
  let steps = 0;
  while (!ready) {
    env.clock.advance(1000);
    steps++;
    if (steps > 100_000) throw new Error('the mirror never got ready');
  }
  const wall = performance.now() - t0;
  const info = env.run('query-block-jobs')[0];
  if (info.offset !== 1024 * GiB) throw new Error(`offset ${info.offset}`);
  console.log(`mirror-1tib-to-ready-wall: ${wall.toFixed(1)} ms`);
  console.log(`mirror-1tib-to-ready-virtual: ${(env.clock.now() / 1e9).toFixed(1)} s`);
  console.log(`mirror-1tib-clock-steps: ${steps} steps`);
  env.sim.close();
}

thousandMirrors();
thousandBackupsOnHundredNodes();
terabyteMirror();
