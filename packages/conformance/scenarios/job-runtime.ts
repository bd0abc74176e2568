// How a job's coroutine yields and is entered again (job.c: job_sleep_ns, job_yield,
// job_enter_cond), seen through the verbs. A backup waits in job_yield while block-copy sleeps
// in its own rate limiter: block-job-set-speed kicks block-copy but does not enter the job
// (job_enter_cond with job_timer_pending enters only a job in job_sleep_ns), so the job stays
// idle (`busy: false`) and a later cancel or pause enters it before the reply. Recorded on
// qemu-storage-daemon 7.2.

import {
  blockJobInfo,
  cancelled,
  completed,
  ok,
  type Scenario,
  send,
  status,
  statuses,
} from '../src/scenario.js';
import { MiB, nullCo } from './common.js';

const GiB = 1024 * MiB;
/** block-copy's first 1 MiB chunk passes the limiter at once; the next waits for the quota. */
const CHUNK = MiB;

/** A 1 GiB null-co backup at 1 B/s: one chunk copied, then block-copy sleeps. */
const throttledBackup = [
  send('blockdev-backup', {
    'job-id': 'b1',
    device: 'src',
    target: 'dst',
    sync: 'full',
    speed: 1,
  }),
  ...statuses('b1', 'created', 'running', 'paused', 'running'),
  ok(),
  send('query-block-jobs'),
  ok([blockJobInfo('backup', 'b1', { len: GiB, offset: CHUNK, speed: 1 })]),
];

const nodes = [nullCo('src', GiB), nullCo('dst', GiB)];

export const jobRuntimeScenarios: Scenario[] = [
  {
    name: 'backup-throttled-set-speed-then-cancel',
    about:
      'a throttled backup given a new speed stays idle (busy false: the job waits in job_yield, set-speed only kicks block-copy); job-cancel then enters it and it aborts before the reply',
    blockdevs: nodes,
    steps: [
      ...throttledBackup,
      send('block-job-set-speed', { device: 'b1', speed: 4096 }),
      ok(),
      send('query-block-jobs'),
      ok([blockJobInfo('backup', 'b1', { len: GiB, offset: CHUNK, speed: 4096 })]),
      send('block-job-set-speed', { device: 'b1', speed: 1 }),
      ok(),
      send('query-block-jobs'),
      ok([blockJobInfo('backup', 'b1', { len: GiB, offset: CHUNK, speed: 1 })]),
      send('job-cancel', { id: 'b1' }),
      status('b1', 'aborting'),
      cancelled('backup', 'b1', GiB, CHUNK, 1),
      ...statuses('b1', 'concluded', 'null'),
      ok(),
      send('query-jobs'),
      ok([]),
    ],
  },
  {
    name: 'backup-throttled-set-speed-pause-resume-unthrottle',
    about:
      'after a faster speed a throttled backup still pauses before the reply (idle, not busy); resumed it is idle again, and set-speed 0 lets block-copy finish the copy before the reply',
    blockdevs: nodes,
    steps: [
      ...throttledBackup,
      send('block-job-set-speed', { device: 'b1', speed: 4096 }),
      ok(),
      send('job-pause', { id: 'b1' }),
      status('b1', 'paused'),
      ok(),
      send('query-block-jobs'),
      ok([
        blockJobInfo('backup', 'b1', {
          len: GiB,
          offset: CHUNK,
          speed: 4096,
          paused: true,
          status: 'paused',
        }),
      ]),
      send('job-resume', { id: 'b1' }),
      status('b1', 'running'),
      ok(),
      send('query-block-jobs'),
      ok([blockJobInfo('backup', 'b1', { len: GiB, offset: CHUNK, speed: 4096 })]),
      send('block-job-set-speed', { device: 'b1', speed: 0 }),
      ...statuses('b1', 'waiting', 'pending'),
      completed('backup', 'b1', GiB),
      ...statuses('b1', 'concluded', 'null'),
      ok(),
    ],
  },
];
