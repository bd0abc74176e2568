// A mirror whose target fails its writes (blkdebug inject-error, iotype write, ENOSPC), with each
// on-target-error policy. The source is a raw file with 8 MiB of data, so the mirror reads it; its
// reads complete in a later main-loop turn, so the failed writes, and everything after them, come
// after blockdev-mirror's reply. How far the mirror got when it failed or stopped depends on how
// many requests were in flight (the zero-writes of the file's holes succeed), hence anyInt.
// Recorded on qemu-storage-daemon 7.2.

import {
  anyInt,
  blockJobError,
  blockJobInfo,
  completed,
  ok,
  type Scenario,
  send,
  status,
  statuses,
} from '../src/scenario.js';
import { becomesReady, blkdebug, endsCancelled, MiB, nullCo } from './common.js';

const SIZE = 64 * MiB;
const ENOSPC = 28;
const progress = anyInt('the zero-writes of holes in flight when the data write failed');

/** src: a raw file with data; `bad`: blkdebug over a null-co target, writes fail with ENOSPC. */
const target = (once: boolean) => ({
  setup: [
    { qemuImg: ['create', '-q', '-f', 'raw', 'src.raw', '64M'] },
    { qemuIo: { image: 'src.raw', commands: ['write 0 8M'] } },
  ],
  blockdevs: [
    JSON.stringify({ driver: 'file', 'node-name': 'src', filename: 'src.raw' }),
    nullCo('dst', SIZE),
    blkdebug('bad', 'dst', [{ event: 'none', iotype: 'write', errno: ENOSPC, once }]),
  ],
});

const mirror = (policy: string) =>
  send('blockdev-mirror', {
    'job-id': 'm1',
    device: 'src',
    target: 'bad',
    sync: 'full',
    'on-target-error': policy,
  });

/** Stopped by the error: a user pause with io-status nospace. */
const stopped = [
  status('m1', 'paused'),
  send('query-block-jobs'),
  ok([
    blockJobInfo('mirror', 'm1', {
      len: SIZE,
      offset: progress,
      paused: true,
      status: 'paused',
      'io-status': 'nospace',
    }),
  ]),
];

export const mirrorTargetErrorScenarios: Scenario[] = [
  {
    name: 'mirror-target-enospc-report',
    about:
      'on-target-error report: after the reply, BLOCK_JOB_ERROR (write, report) for each failed write in flight, then the job fails with the errno text',
    ...target(false),
    steps: [
      mirror('report'),
      ...statuses('m1', 'created', 'running'),
      ok(),
      blockJobError('m1', 'write', 'report'),
      status('m1', 'aborting'),
      completed('mirror', 'm1', SIZE, progress, 0, 'No space left on device'),
      ...statuses('m1', 'concluded', 'null'),
    ],
  },
  {
    name: 'mirror-target-enospc-policy-stops-then-resumes-to-ready',
    about:
      'on-target-error enospc with ENOSPC: BLOCK_JOB_ERROR (write, stop) after the reply, the job pauses with io-status nospace; resumed, it retries and converges (READY after the reply); job-cancel then ends it after the reply',
    ...target(true),
    steps: [
      mirror('enospc'),
      ...statuses('m1', 'created', 'running'),
      ok(),
      blockJobError('m1', 'write', 'stop'),
      ...stopped,
      send('job-resume', { id: 'm1' }),
      status('m1', 'running'),
      ok(),
      ...becomesReady('mirror', 'm1', SIZE),
      send('job-cancel', { id: 'm1' }),
      ok(),
      ...endsCancelled('mirror', 'm1', SIZE, SIZE),
    ],
  },
  {
    name: 'mirror-target-enospc-stop-then-cancel',
    about:
      'on-target-error stop: the job pauses with io-status nospace; job-cancel resumes it before the reply and it aborts after the reply (its exit drains)',
    ...target(true),
    steps: [
      mirror('stop'),
      ...statuses('m1', 'created', 'running'),
      ok(),
      blockJobError('m1', 'write', 'stop'),
      ...stopped,
      send('job-cancel', { id: 'm1' }),
      status('m1', 'running'),
      ok(),
      ...endsCancelled('mirror', 'm1', SIZE, progress),
    ],
  },
];
