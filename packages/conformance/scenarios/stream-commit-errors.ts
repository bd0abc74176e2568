// I/O errors of stream and commit jobs, injected with blkdebug under the qcow2 images of a
// three-image chain, under each error policy. A stream's copy-on-read writes into its top: a
// failed write is reported as a read. A commit counts the unallocated stretch it passed over
// before the chunk that failed. Expected values: QEMU 7.2.22.

import {
  blockJobError,
  blockJobInfo,
  completed,
  ok,
  pollBlockJob,
  type Scenario,
  type Step,
  send,
  status,
  statuses,
} from '../src/scenario.js';
import { endsCancelled, MiB, spreadChainSetup } from './common.js';

const SIZE = 64 * MiB;
const EIO = 5;
const ENOSPC = 28;

const setup = spreadChainSetup;

type Rules = { base?: unknown[]; mid?: unknown[]; top?: unknown[] };

/** A qcow2 node over its image file, through blkdebug when it has rules. */
const image = (node: string, rules: unknown[] | undefined, backing?: string) =>
  JSON.stringify({
    driver: 'qcow2',
    'node-name': node,
    file:
      rules === undefined
        ? { driver: 'file', filename: `${node}.qcow2` }
        : {
            driver: 'blkdebug',
            image: { driver: 'file', filename: `${node}.qcow2` },
            'inject-error': rules,
          },
    ...(backing === undefined ? {} : { backing }),
  });

const chain = (rules: Rules) => [
  image('base', rules.base),
  image('mid', rules.mid, 'base'),
  image('top', rules.top, 'mid'),
];

/** qcow2's data reads (read_aio) or writes (write_aio) on the image file fail. */
const reads = (errno: number, once: boolean) => [{ event: 'read_aio', errno, once }];
const writes = (errno: number, once: boolean) => [{ event: 'write_aio', errno, once }];

const stream = (policy: string): Step[] => [
  send('block-stream', { 'job-id': 's1', device: 'top', 'on-error': policy }),
  ...statuses('s1', 'created', 'running'),
  ok(),
];

const commit = (policy: string): Step[] => [
  send('block-commit', {
    'job-id': 'c1',
    device: 'top',
    'top-node': 'mid',
    'base-node': 'base',
    'on-error': policy,
  }),
  ...statuses('c1', 'created', 'running'),
  ok(),
];

/** Stopped at `offset` with io-status `ioStatus`; resumed, the retry succeeds and it completes. */
const stoppedThenResumed = (
  type: string,
  id: string,
  offset: number,
  ioStatus: 'failed' | 'nospace',
): Step[] => [
  status(id, 'paused'),
  send('query-block-jobs'),
  ok([
    blockJobInfo(type, id, {
      len: SIZE,
      offset,
      paused: true,
      status: 'paused',
      'io-status': ioStatus,
    }),
  ]),
  send('job-resume', { id }),
  status(id, 'running'),
  ok(),
  ...statuses(id, 'waiting', 'pending'),
  completed(type, id, SIZE),
  ...statuses(id, 'concluded', 'null'),
];

/** Failed at `offset` with `error`. */
const failed = (type: string, id: string, offset: number, error: string): Step[] => [
  status(id, 'aborting'),
  completed(type, id, SIZE, offset, 0, error),
  ...statuses(id, 'concluded', 'null'),
];

export const streamCommitErrorScenarios: Scenario[] = [
  {
    name: 'stream-write-error-into-top-stops-as-a-read',
    about:
      'a stream whose copy-on-read write into its top fails (blkdebug write_aio, once) with on-error stop: BLOCK_JOB_ERROR read stop, paused at 0 with io-status failed; resume retries and it completes',
    setup,
    blockdevs: chain({ top: writes(EIO, true) }),
    steps: [
      ...stream('stop'),
      blockJobError('s1', 'read', 'stop'),
      ...stoppedThenResumed('stream', 's1', 0, 'failed'),
    ],
  },
  {
    name: 'stream-write-error-into-top-reports-as-a-read',
    about:
      'a stream whose writes into its top fail, on-error report: BLOCK_JOB_ERROR read report, it fails at 0',
    setup,
    blockdevs: chain({ top: writes(EIO, false) }),
    steps: [
      ...stream('report'),
      blockJobError('s1', 'read', 'report'),
      ...failed('stream', 's1', 0, 'Input/output error'),
    ],
  },
  {
    name: 'stream-write-error-ignored-fails-at-the-end',
    about:
      'a stream whose first write into its top fails, on-error ignore: BLOCK_JOB_ERROR read ignore, it copies on and fails at the end with the ignored error',
    setup,
    blockdevs: chain({ top: writes(EIO, true) }),
    steps: [
      ...stream('ignore'),
      blockJobError('s1', 'read', 'ignore'),
      ...failed('stream', 's1', SIZE, 'Input/output error'),
    ],
  },
  {
    name: 'commit-read-error-reports-after-the-unallocated-stretch',
    about:
      'a commit of mid into base whose reads of mid fail, on-error report: it fails at 8 MiB, the unallocated stretch before mid’s data counted',
    setup,
    blockdevs: chain({ mid: reads(EIO, false) }),
    steps: [
      ...commit('report'),
      blockJobError('c1', 'read', 'report'),
      ...failed('commit', 'c1', 8 * MiB, 'Input/output error'),
    ],
  },
  {
    name: 'commit-write-error-stops-then-resumes',
    about:
      'a commit whose first write into base fails (once), on-error stop: BLOCK_JOB_ERROR write stop, paused at 8 MiB with io-status failed; resume retries and it completes',
    setup,
    blockdevs: chain({ base: writes(EIO, true) }),
    steps: [
      ...commit('stop'),
      blockJobError('c1', 'write', 'stop'),
      ...stoppedThenResumed('commit', 'c1', 8 * MiB, 'failed'),
    ],
  },
  {
    name: 'commit-write-enospc-stops-with-nospace',
    about:
      'a commit whose first write into base fails with ENOSPC, on-error enospc: BLOCK_JOB_ERROR write stop, paused at 8 MiB with io-status nospace; resume retries and it completes',
    setup,
    blockdevs: chain({ base: writes(ENOSPC, true) }),
    steps: [
      ...commit('enospc'),
      blockJobError('c1', 'write', 'stop'),
      ...stoppedThenResumed('commit', 'c1', 8 * MiB, 'nospace'),
    ],
  },
  {
    name: 'commit-read-error-ignored-retries-and-completes',
    about:
      'a commit whose first read of mid fails (once), on-error ignore: BLOCK_JOB_ERROR read ignore, the chunk is retried and the commit completes without error',
    setup,
    blockdevs: chain({ mid: reads(EIO, true) }),
    steps: [
      ...commit('ignore'),
      blockJobError('c1', 'read', 'ignore'),
      ...statuses('c1', 'waiting', 'pending'),
      completed('commit', 'c1', SIZE),
      ...statuses('c1', 'concluded', 'null'),
    ],
  },
  {
    name: 'commit-persistent-read-error-ignored-retries-the-same-chunk-until-cancelled',
    about:
      'a commit whose reads of mid always fail (blkdebug read_aio, failing at once), on-error ignore: commit_run retries the same chunk for ever, BLOCK_JOB_ERROR read ignore each time, its progress stays at 8 MiB; job-cancel ends it there',
    setup,
    blockdevs: chain({ mid: [{ event: 'read_aio', errno: EIO, immediately: true }] }),
    steps: [
      ...commit('ignore'),
      blockJobError('c1', 'read', 'ignore'),
      pollBlockJob(
        'c1',
        'still running at offset 8 MiB',
        (j) => j.offset === 8 * MiB && j.status === 'running',
      ),
      send('job-cancel', { id: 'c1' }),
      ...endsCancelled('commit', 'c1', SIZE, 8 * MiB),
      ok(),
    ],
  },
];
