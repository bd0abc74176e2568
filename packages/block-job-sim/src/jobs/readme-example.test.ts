// The "Jobs" example of the README, run as written.
import { expect, test } from 'vitest';
import { BlockLayer, createSimulator, MemoryImageStore, VirtualClock } from '../index.js';
import { qemuSchema } from '../qemu-schema.test-helper.js';

test('README jobs example', () => {
  const log: unknown[] = [];
  const console = { log: (...values: unknown[]) => log.push(values) };
  // ---- README example start
  const MiB = 1024 * 1024;
  const clock = new VirtualClock();
  const blockLayer = new BlockLayer({ store: new MemoryImageStore(), schema: qemuSchema });
  blockLayer.add({ driver: 'null-co', 'node-name': 'src', size: 160 * MiB });
  blockLayer.add({ driver: 'null-co', 'node-name': 'dst', size: 160 * MiB });

  const sim = createSimulator({
    blockLayer,
    clock,
    onEvent: (event, data) => console.log(event, data),
  });
  sim.execute('blockdev-mirror', {
    'job-id': 'm1',
    device: 'src',
    target: 'dst',
    sync: 'full',
    speed: 16 * MiB, // 16 MiB chunks, one per second
  });
  clock.advance(3100); // four chunks done: 40 %, and it stays there until the next step
  const [job] = sim.execute('query-block-jobs') as Array<{ offset: number; len: number }>;
  console.log(job?.offset, job?.len); // 67108864 167772160

  sim.execute('block-job-set-speed', { device: 'm1', speed: 0 }); // woken: the rest at once
  sim.execute('job-complete', { id: 'm1' }); // waiting, pending, BLOCK_JOB_COMPLETED, … null
  sim.close();
  // ---- README example end
  expect(log).toContainEqual([67108864, 167772160]);
  expect(
    log.map(
      (entry) => (entry as [string, { status?: string }])[1]?.status ?? (entry as string[])[0],
    ),
  ).toEqual([
    'created',
    'running',
    67108864,
    'ready',
    'BLOCK_JOB_READY',
    'waiting',
    'pending',
    'BLOCK_JOB_COMPLETED',
    'concluded',
    'null',
  ]);
});
