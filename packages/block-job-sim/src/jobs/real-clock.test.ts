// The simulator on real time (qmpkit-server's default): timers come from the host event loop.
import { until } from '@qmpkit/test-support';
import { expect, test } from 'vitest';
import { BlockLayer } from '../block-layer.js';
import { MemoryImageStore } from '../image-store.js';
import { qemuSchema } from '../qemu-schema.test-helper.js';
import { contextWithoutServer } from './context-without-server.js';
import { createSimulator } from './simulator.js';

test('a throttled stream advances on real time and completes through the event sink', async () => {
  const MiB = 1024 * 1024;
  const blockLayer = new BlockLayer({ store: new MemoryImageStore(), schema: qemuSchema });
  blockLayer.add({ driver: 'null-co', 'node-name': 'src', size: 4 * MiB });
  blockLayer.add({ driver: 'null-co', 'node-name': 'dst', size: 4 * MiB });
  const events: string[] = [];
  const sim = createSimulator({
    blockLayer,
    onEvent: (event, data) =>
      events.push(event === 'JOB_STATUS_CHANGE' ? (data as { status: string }).status : event),
  });
  const after: Array<() => void> = [];
  const started = performance.now();
  // 4 MiB in 1 MiB backup chunks at 20 MiB/s: quota 2 MiB per 100 ms slice, so the last two
  // chunks wait for the second slice.
  sim.handlers['blockdev-backup']?.(
    { 'job-id': 'b1', device: 'src', target: 'dst', sync: 'full', speed: 20 * MiB },
    contextWithoutServer(
      'blockdev-backup',
      () => {},
      (cb) => after.push(cb),
    ),
  );
  for (const cb of after) cb();
  try {
    await until(
      () => events.includes('null'),
      () => `the job to end; events: ${events.join(' ')}`,
    );
  } finally {
    sim.close();
  }
  const elapsed = performance.now() - started;
  expect(events).toEqual([
    'created',
    'running',
    'paused',
    'running',
    'waiting',
    'pending',
    'BLOCK_JOB_COMPLETED',
    'concluded',
    'null',
  ]);
  expect(elapsed).toBeGreaterThanOrEqual(99);
});

test('on real time there is no x-qmpkit-clock-step', () => {
  const sim = createSimulator({
    blockLayer: new BlockLayer({ store: new MemoryImageStore(), schema: qemuSchema }),
  });
  expect(sim.handlers['x-qmpkit-clock-step']).toBeUndefined();
  expect(sim.handlers['query-jobs']).toBeTypeOf('function');
  sim.close();
});
