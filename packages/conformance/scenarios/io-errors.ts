// I/O errors with each error policy, injected with blkdebug (`inject-error`, read EIO/ENOSPC at
// the 1 MiB backup chunk starting at 2 MiB; `once` where a retry must succeed).
// job-semantics.md §5.1 (policy table), §6.7, §7, §9 traps 14, 15, 20, 21.

import {
  anyInt,
  blockJobError,
  blockJobInfo,
  cancelled,
  completed,
  generic,
  jobInfo,
  ok,
  type Scenario,
  type Step,
  send,
  status,
  statuses,
} from '../src/scenario.js';
import { blkdebug, MiB, nullCo } from './common.js';

const SIZE = 64 * MiB;
const CHUNK = MiB;
const EIO = 5;
const ENOSPC = 28;

/** src (null-co) under blkdebug `bad`, whose reads at 2 MiB fail with `errno`. */
const nodes = (errno: number, once: boolean) => [
  nullCo('src', SIZE),
  nullCo('dst', SIZE),
  blkdebug('bad', 'src', [{ event: 'none', iotype: 'read', errno, sector: 4096, once }]),
];

/** A backup of `bad` that keeps its result (auto-dismiss false); the failed read comes before the reply. */
const failingBackup = (policy: string, action: 'ignore' | 'report' | 'stop'): Step[] => [
  send('blockdev-backup', {
    'job-id': 'b1',
    device: 'bad',
    target: 'dst',
    sync: 'full',
    'auto-dismiss': false,
    'on-source-error': policy,
  }),
  ...statuses('b1', 'created', 'running', 'paused', 'running'),
  blockJobError('b1', 'read', action),
];

/** The job failed: the chunk that failed is missing from the progress. */
const failedWith = (error: string): Step[] => [
  ok(),
  status('b1', 'aborting'),
  completed('backup', 'b1', SIZE, SIZE - CHUNK, 0, error),
  status('b1', 'concluded'),
  send('query-jobs'),
  ok([jobInfo('backup', 'b1', 'concluded', SIZE - CHUNK, SIZE, error)]),
  send('query-block-jobs'),
  ok([
    blockJobInfo('backup', 'b1', {
      len: SIZE,
      offset: SIZE - CHUNK,
      status: 'concluded',
      'auto-dismiss': false,
      error,
    }),
  ]),
];

/** Stopped by the error: a user pause with io-status set; the other chunks are done. */
const stoppedWith = (ioStatus: 'failed' | 'nospace'): Step[] => [
  status('b1', 'paused'),
  ok(),
  send('query-block-jobs'),
  ok([
    blockJobInfo('backup', 'b1', {
      len: SIZE,
      offset: SIZE - CHUNK,
      paused: true,
      status: 'paused',
      'io-status': ioStatus,
      'auto-dismiss': false,
    }),
  ]),
  send('job-pause', { id: 'b1' }),
  generic('Job is already paused'),
  send('block-job-cancel', { device: 'b1' }),
  generic("The block job for device 'b1' is currently paused"),
];

/** Resuming retries the failed read, which now succeeds (`once`); all before the reply. */
const resumedToSuccess: Step[] = [
  send('job-resume', { id: 'b1' }),
  ...statuses('b1', 'running', 'waiting', 'pending'),
  completed('backup', 'b1', SIZE),
  status('b1', 'concluded'),
  ok(),
  send('query-jobs'),
  ok([jobInfo('backup', 'b1', 'concluded', SIZE, SIZE)]),
];

export const ioErrorScenarios: Scenario[] = [
  {
    name: 'io-error-report',
    about:
      'on-source-error report (the default policy): BLOCK_JOB_ERROR report, aborting, COMPLETED with the errno text; io-status stays ok (§6.7)',
    blockdevs: nodes(EIO, false),
    steps: [...failingBackup('report', 'report'), ...failedWith('Input/output error')],
  },
  {
    name: 'io-error-ignore',
    about:
      'on-source-error ignore: BLOCK_JOB_ERROR ignore, the job carries on and succeeds with no error recorded (§6.7)',
    blockdevs: nodes(EIO, true),
    steps: [
      ...failingBackup('ignore', 'ignore'),
      ok(),
      ...statuses('b1', 'waiting', 'pending'),
      completed('backup', 'b1', SIZE),
      status('b1', 'concluded'),
      send('query-jobs'),
      ok([jobInfo('backup', 'b1', 'concluded', SIZE, SIZE)]),
    ],
  },
  {
    name: 'io-error-stop-resume',
    about:
      'on-source-error stop: the job pauses with io-status failed as a user pause (pause and soft cancel refused); resume clears it and retries (§6.7, §7)',
    blockdevs: nodes(EIO, true),
    steps: [...failingBackup('stop', 'stop'), ...stoppedWith('failed'), ...resumedToSuccess],
  },
  {
    name: 'io-error-stop-cancel',
    about:
      'a job stopped by an error is cancelled with job-cancel: running first, then the abort, all before the reply (§6.7)',
    blockdevs: nodes(EIO, true),
    steps: [
      ...failingBackup('stop', 'stop'),
      status('b1', 'paused'),
      ok(),
      send('job-cancel', { id: 'b1' }),
      ...statuses('b1', 'running', 'aborting'),
      cancelled('backup', 'b1', SIZE, SIZE),
      status('b1', 'concluded'),
      ok(),
      send('query-jobs'),
      ok([jobInfo('backup', 'b1', 'concluded', SIZE, SIZE, 'Operation canceled')]),
    ],
  },
  {
    name: 'io-error-enospc-nospace-stops',
    about:
      'on-source-error enospc with ENOSPC: action stop, io-status nospace; resume retries (§5.1, §6.7)',
    blockdevs: nodes(ENOSPC, true),
    steps: [...failingBackup('enospc', 'stop'), ...stoppedWith('nospace'), ...resumedToSuccess],
  },
  {
    name: 'io-error-enospc-other-reports',
    about: 'on-source-error enospc with EIO: action report, the job fails (§5.1)',
    blockdevs: nodes(EIO, false),
    steps: [...failingBackup('enospc', 'report'), ...failedWith('Input/output error')],
  },
  {
    name: 'io-error-report-nospace-text',
    about: 'a reported ENOSPC fails the job with the errno text "No space left on device" (§6.7)',
    blockdevs: nodes(ENOSPC, false),
    steps: [...failingBackup('report', 'report'), ...failedWith('No space left on device')],
  },
  {
    name: 'io-error-auto-nospace-stops',
    about:
      'on-source-error auto behaves like enospc: ENOSPC stops the job with io-status nospace (§5.1)',
    blockdevs: nodes(ENOSPC, true),
    steps: [...failingBackup('auto', 'stop'), ...stoppedWith('nospace'), ...resumedToSuccess],
  },
  {
    name: 'io-error-mirror-repeats',
    about:
      'a mirror whose every source read fails reports one BLOCK_JOB_ERROR per failed parallel request, then fails once (§6.1, §9 trap 20)',
    // A raw file with 8 MiB of data (null-co reports no data, so a mirror would not read it).
    setup: [
      { qemuImg: ['create', '-q', '-f', 'raw', 'src.raw', '64M'] },
      { qemuIo: { image: 'src.raw', commands: ['write 0 8M'] } },
    ],
    blockdevs: [
      JSON.stringify({ driver: 'file', 'node-name': 'f', filename: 'src.raw' }),
      blkdebug('bad', 'f', [{ event: 'none', iotype: 'read', errno: EIO }]),
      nullCo('dst', SIZE),
    ],
    steps: [
      send('blockdev-mirror', { 'job-id': 'm1', device: 'bad', target: 'dst', sync: 'full' }),
      ...statuses('m1', 'created', 'running'),
      // The failed reads complete inside the command (its drained section waits for them).
      blockJobError('m1', 'read', 'report'),
      ok(),
      status('m1', 'aborting'),
      completed(
        'mirror',
        'm1',
        SIZE,
        anyInt('failed requests count as progress; how many were in flight is up to timing'),
        0,
        'Input/output error',
      ),
      ...statuses('m1', 'concluded', 'null'),
    ],
  },
  {
    name: 'io-error-stream-stop-resume',
    about:
      'a stream with on-error stop: its failed read of the backing file (blkdebug read_aio, once) stops it; resume retries and it finishes (§6.7)',
    setup: [
      { qemuImg: ['create', '-q', '-f', 'qcow2', 'base.qcow2', '64M'] },
      { qemuIo: { image: 'base.qcow2', commands: ['write 0 4M'] } },
      { qemuImg: ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2'] },
    ],
    blockdevs: [
      JSON.stringify({
        driver: 'qcow2',
        'node-name': 'base',
        file: {
          driver: 'blkdebug',
          image: { driver: 'file', filename: 'base.qcow2' },
          // read_aio is qcow2's data read: the first one fails, once.
          'inject-error': [{ event: 'read_aio', errno: EIO, once: true }],
        },
      }),
      JSON.stringify({
        driver: 'qcow2',
        'node-name': 'top',
        file: { driver: 'file', filename: 'top.qcow2' },
        backing: 'base',
      }),
    ],
    steps: [
      send('block-stream', { 'job-id': 's1', device: 'top', 'on-error': 'stop' }),
      ...statuses('s1', 'created', 'running'),
      ok(),
      blockJobError('s1', 'read', 'stop'),
      status('s1', 'paused'),
      send('query-block-jobs'),
      ok([
        blockJobInfo('stream', 's1', {
          len: SIZE,
          offset: 0,
          paused: true,
          status: 'paused',
          'io-status': 'failed',
        }),
      ]),
      send('job-resume', { id: 's1' }),
      status('s1', 'running'),
      ok(),
      ...statuses('s1', 'waiting', 'pending'),
      completed('stream', 's1', SIZE),
      ...statuses('s1', 'concluded', 'null'),
    ],
  },
  {
    name: 'io-error-target-stop',
    about:
      'on-target-error stop on a write error: BLOCK_JOB_ERROR write stop, io-status failed; resume retries (§6.7)',
    blockdevs: [
      nullCo('src', SIZE),
      nullCo('dst', SIZE),
      blkdebug('badtarget', 'dst', [
        { event: 'none', iotype: 'write', errno: EIO, sector: 4096, once: true },
      ]),
    ],
    steps: [
      send('blockdev-backup', {
        'job-id': 'b1',
        device: 'src',
        target: 'badtarget',
        sync: 'full',
        'auto-dismiss': false,
        'on-target-error': 'stop',
      }),
      ...statuses('b1', 'created', 'running', 'paused', 'running'),
      blockJobError('b1', 'write', 'stop'),
      ...stoppedWith('failed'),
      ...resumedToSuccess,
    ],
  },
];
