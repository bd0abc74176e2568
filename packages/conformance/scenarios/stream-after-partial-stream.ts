// Found by the differential tester (helper "difftest", finding stream-after-partial-stream): a
// stream copies into its top node, and a later stream of that node sees what it copied.
// Expected values: QEMU 7.2.22.

import { cancelled, idleAt, ok, type Scenario, send, statuses } from '../src/scenario.js';
import { MiB, threeLayerChain } from './common.js';

const SIZE = 64 * MiB;
const HALF = 512 * 1024;

export const streamAfterPartialStreamScenarios: Scenario[] = [
  {
    name: 'stream-after-a-cancelled-stream-skips-what-it-copied',
    about:
      'a stream cancelled after its first 512 KiB chunk left that chunk allocated in top; a new throttled stream of top skips it (free progress) and first sleeps after copying [512K, 1M), at offset 1 MiB (§8.1, §8.3)',
    ...threeLayerChain,
    steps: [
      send('block-stream', { 'job-id': 'j1', device: 'top', speed: 2 }),
      ...statuses('j1', 'created', 'running'),
      ok(),
      idleAt('j1', HALF),
      send('block-job-cancel', { device: 'j1', force: true }),
      ...statuses('j1', 'aborting'),
      cancelled('stream', 'j1', SIZE, HALF, 2),
      ...statuses('j1', 'concluded', 'null'),
      ok(),
      send('block-stream', { 'job-id': 'j2', device: 'top', speed: 1 }),
      ...statuses('j2', 'created', 'running'),
      ok(),
      idleAt('j2', MiB),
      send('job-cancel', { id: 'j2' }),
      ...statuses('j2', 'aborting'),
      cancelled('stream', 'j2', SIZE, MiB, 1),
      ...statuses('j2', 'concluded', 'null'),
      ok(),
    ],
  },
];
