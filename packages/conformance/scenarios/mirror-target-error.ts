// Found by the differential tester (helper "difftest", finding mirror-target-error, issue 12
// class 4): a mirror whose target write fails, with each policy. Expected values: QEMU 7.2.22.

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
import { becomesReady, blkdebug, MiB, nullCo } from './common.js';

const SIZE = 64 * MiB;
const EIO = 5;
const ENOSPC = 28;
const progress = anyInt(
  'how far a mirror got when the write failed depends on its requests in flight',
);

/** A raw source with 8 MiB of data; a null-co target whose write at 2 MiB fails. */
const setup = [
  { qemuImg: ['create', '-q', '-f', 'raw', 'src.raw', '64M'] },
  { qemuIo: { image: 'src.raw', commands: ['write 0 8M'] } },
];
const blockdevs = (errno: number, once: boolean) => [
  JSON.stringify({ driver: 'file', 'node-name': 'msrc', filename: 'src.raw' }),
  nullCo('mdst', SIZE),
  blkdebug('bdst', 'mdst', [{ event: 'none', iotype: 'write', errno, sector: 4096, once }]),
];
const mirror = (policy: string) =>
  send('blockdev-mirror', {
    'job-id': 'm1',
    device: 'msrc',
    target: 'bdst',
    sync: 'full',
    'on-target-error': policy,
    'auto-dismiss': false,
  });

export const mirrorTargetErrorFindingScenarios: Scenario[] = [
  {
    name: 'mirror-target-error-report',
    about:
      'a mirror whose target write fails with ENOSPC, on-target-error report: the creation reply, then BLOCK_JOB_ERROR write report (one per failed request), aborting, COMPLETED with "No space left on device", concluded (§6.7)',
    setup,
    blockdevs: blockdevs(ENOSPC, false),
    steps: [
      mirror('report'),
      ...statuses('m1', 'created', 'running'),
      ok(),
      blockJobError('m1', 'write', 'report'),
      status('m1', 'aborting'),
      completed('mirror', 'm1', SIZE, progress, 0, 'No space left on device'),
      status('m1', 'concluded'),
    ],
  },
  {
    name: 'mirror-target-error-enospc-stops',
    about:
      'on-target-error enospc with ENOSPC: BLOCK_JOB_ERROR write stop after the reply, paused with io-status nospace; resume retries and the mirror converges (§5.1, §6.7)',
    setup,
    blockdevs: blockdevs(ENOSPC, true),
    steps: [
      mirror('enospc'),
      ...statuses('m1', 'created', 'running'),
      ok(),
      blockJobError('m1', 'write', 'stop'),
      status('m1', 'paused'),
      send('query-block-jobs'),
      ok([
        blockJobInfo('mirror', 'm1', {
          len: SIZE,
          offset: progress,
          paused: true,
          status: 'paused',
          'io-status': 'nospace',
          'auto-dismiss': false,
        }),
      ]),
      send('job-resume', { id: 'm1' }),
      status('m1', 'running'),
      ok(),
      ...becomesReady('mirror', 'm1', SIZE),
    ],
  },
  {
    name: 'mirror-target-error-ignore',
    about:
      'on-target-error ignore with EIO: BLOCK_JOB_ERROR write ignore after the reply; the mirror retries the range and reaches ready (§6.7)',
    setup,
    blockdevs: blockdevs(EIO, true),
    steps: [
      mirror('ignore'),
      ...statuses('m1', 'created', 'running'),
      ok(),
      blockJobError('m1', 'write', 'ignore'),
      ...becomesReady('mirror', 'm1', SIZE),
    ],
  },
];
