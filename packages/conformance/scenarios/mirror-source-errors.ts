// Read errors on a mirror's source (blkdebug under a raw file). A mirror sends its 16 MiB buffer
// out as 1 MiB requests in parallel; when one fails, the others still complete and count, so the
// job stops or fails with the rest of that buffer done. Expected values: QEMU 7.2.22.

import {
  blockJobError,
  blockJobInfo,
  completed,
  ok,
  ready,
  type Scenario,
  send,
  status,
  statuses,
} from '../src/scenario.js';
import { becomesReady, blkdebug, completesReady, MiB, nullCo } from './common.js';

const SIZE = 64 * MiB;

/** src.raw holding `data` bytes from 0, reads through blkdebug `bad` failing as `rule` says. */
const source = (data: string, rule: Record<string, unknown>) => ({
  setup: [
    { qemuImg: ['create', '-q', '-f', 'raw', 'src.raw', '64M'] },
    { qemuIo: { image: 'src.raw', commands: [`write 0 ${data}`] } },
  ],
  blockdevs: [
    JSON.stringify({ driver: 'file', 'node-name': 'f', filename: 'src.raw' }),
    blkdebug('bad', 'f', [{ event: 'none', iotype: 'read', errno: 5, ...rule }]),
    nullCo('dst', SIZE),
  ],
});

export const mirrorSourceErrorScenarios: Scenario[] = [
  {
    name: 'mirror-source-read-error-stops-after-the-other-requests',
    about:
      'a mirror whose read at 2 MiB fails once, on-source-error stop: BLOCK_JOB_ERROR read stop before the reply, paused at 15 MiB (the first buffer but the failed 1 MiB request) with io-status failed; resume retries and it reaches ready',
    ...source('8M', { sector: 4096, once: true }),
    steps: [
      send('blockdev-mirror', {
        'job-id': 'm1',
        device: 'bad',
        target: 'dst',
        sync: 'full',
        'on-source-error': 'stop',
      }),
      ...statuses('m1', 'created', 'running'),
      blockJobError('m1', 'read', 'stop'),
      ok(),
      status('m1', 'paused'),
      send('query-block-jobs'),
      ok([
        blockJobInfo('mirror', 'm1', {
          len: SIZE,
          offset: 15 * MiB,
          paused: true,
          status: 'paused',
          'io-status': 'failed',
        }),
      ]),
      send('job-resume', { id: 'm1' }),
      status('m1', 'running'),
      ok(),
      ...becomesReady('mirror', 'm1', SIZE),
      ...completesReady('mirror', 'm1', SIZE),
    ],
  },
  {
    name: 'mirror-source-read-error-fails-after-the-other-requests',
    about:
      'a throttled mirror (10 MiB/s) whose reads at 32 MiB fail: when it reaches that buffer (at 3.2 s) it fails with the other fifteen 1 MiB requests of the buffer done, at 47 MiB',
    ...source('64M', { sector: 65536 }),
    steps: [
      send('blockdev-mirror', {
        'job-id': 'm1',
        device: 'bad',
        target: 'dst',
        sync: 'full',
        speed: 10 * MiB,
      }),
      ...statuses('m1', 'created', 'running'),
      ok(),
      blockJobError('m1', 'read', 'report'),
      status('m1', 'aborting'),
      completed('mirror', 'm1', SIZE, 47 * MiB, 10 * MiB, 'Input/output error'),
      ...statuses('m1', 'concluded', 'null'),
    ],
  },
  {
    name: 'throttled-mirror-source-read-error-stops-while-asleep',
    about:
      'a mirror at 10 MiB/s whose read at 20 MiB fails once, on-source-error stop: the first buffer is copied, the mirror sleeps out its delay (1.6 s) and sends the second buffer; the failed read pauses it from its sleep — BLOCK_JOB_ERROR read stop then paused, at 31 MiB (the second buffer but the failed 1 MiB request), io-status failed; resume retries and it reaches ready (difftest finding throttled-mirror-error-stop)',
    ...source('24M', { sector: 20 * 2048, once: true }),
    steps: [
      send('blockdev-mirror', {
        'job-id': 'm1',
        device: 'bad',
        target: 'dst',
        sync: 'full',
        speed: 10 * MiB,
        'on-source-error': 'stop',
      }),
      ...statuses('m1', 'created', 'running'),
      ok(),
      blockJobError('m1', 'read', 'stop'),
      status('m1', 'paused'),
      send('query-block-jobs'),
      ok([
        blockJobInfo('mirror', 'm1', {
          len: SIZE,
          offset: 31 * MiB,
          paused: true,
          status: 'paused',
          speed: 10 * MiB,
          'io-status': 'failed',
        }),
      ]),
      send('job-resume', { id: 'm1' }),
      status('m1', 'running'),
      ok(),
      status('m1', 'ready'),
      ready('mirror', 'm1', SIZE, SIZE, 10 * MiB),
      ...completesReady('mirror', 'm1', SIZE, { speed: 10 * MiB }),
    ],
  },
];
