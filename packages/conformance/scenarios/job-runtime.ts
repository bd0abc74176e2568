// How a job's coroutine yields and is entered again (job.c: job_sleep_ns, job_yield,
// job_enter_cond), seen through the verbs. A backup waits in job_yield while block-copy sleeps
// in its own rate limiter: block-job-set-speed kicks block-copy but does not enter the job
// (job_enter_cond with job_timer_pending enters only a job in job_sleep_ns), so the job stays
// idle (`busy: false`) and a later cancel or pause enters it before the reply. Recorded on
// qemu-storage-daemon 7.2.

import {
  blockJobInfo,
  byVersion,
  call,
  cancelled,
  completed,
  generic,
  idleAt,
  jobInfo,
  ok,
  type Scenario,
  send,
  status,
  statuses,
} from '../src/scenario.js';
import {
  backupEndsBeside,
  backupStarts,
  backupStartsBeside,
  endsCancelled,
  graphChanges,
  MiB,
  nullCo,
  threeLayerChain,
} from './common.js';

const GiB = 1024 * MiB;
/** block-copy's first 1 MiB chunk passes the limiter at once; the next waits for the quota. */
const CHUNK = MiB;

/** A 1 GiB null-co backup at 1 B/s: one chunk copied, then block-copy sleeps. */
const throttledBackup = [
  ...backupStarts({
    'job-id': 'b1',
    device: 'src',
    target: 'dst',
    sync: 'full',
    speed: 1,
  }),
  send('query-block-jobs'),
  ok([blockJobInfo('backup', 'b1', { len: GiB, offset: CHUNK, speed: 1 })]),
];

const nodes = [nullCo('src', GiB), nullCo('dst', GiB)];

const SIZE = 64 * MiB;
/** Two source/target pairs of 64 MiB (the differential tester's layout). */
const pairs = [
  nullCo('src1', SIZE),
  nullCo('dst1', SIZE),
  nullCo('src2', SIZE),
  nullCo('dst2', SIZE),
];

/** query-jobs: the backup b1 after its first chunk, beside the mirror m1 at `mirrored`. */
const throttledMirrorBeside = (mirrored: number) => [
  send('query-jobs'),
  ok([
    jobInfo('backup', 'b1', 'running', CHUNK, 64 * MiB),
    jobInfo('mirror', 'm1', 'running', mirrored, 64 * MiB),
  ]),
];

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
      ...endsCancelled('backup', 'b1', GiB, CHUNK, 1),
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
  // Found by the differential tester (fuzz:diff seeds 1415896, 1415892, 54), shrunk.
  {
    name: 'backup-raised-speed-sleeps-again',
    about:
      'a backup asleep at speed 512 given speed 4096 is idle again before the reply (busy false), a pause lands before its reply, and a cancel then ends it before the reply',
    blockdevs: pairs,
    steps: [
      ...backupStarts({
        'job-id': 'b1',
        device: 'src1',
        target: 'dst1',
        sync: 'full',
        speed: 512,
      }),
      idleAt('b1', MiB),
      ...call('block-job-set-speed', { device: 'b1', speed: 4096 }),
      send('query-block-jobs'),
      ok([blockJobInfo('backup', 'b1', { len: SIZE, offset: MiB, speed: 4096 })]),
      send('block-job-pause', { device: 'b1' }),
      status('b1', 'paused'),
      ok(),
      send('job-cancel', { id: 'b1' }),
      ...statuses('b1', 'running', 'aborting'),
      cancelled('backup', 'b1', SIZE, MiB, 4096),
      ...statuses('b1', 'concluded', 'null'),
      ok(),
    ],
  },
  {
    name: 'backup-sync-none-speed-zero-still-drained',
    about:
      'a sync-none backup (nothing to copy) given speed 0 stays idle in job_yield: a second blockdev-backup drains it (paused, running) before creating its own job',
    blockdevs: pairs,
    steps: [
      ...backupStarts({ 'job-id': 'b1', device: 'src1', target: 'dst1', sync: 'none' }),
      idleAt('b1', 0),
      ...call('block-job-set-speed', { device: 'b1', speed: 0 }),
      send('blockdev-backup', {
        'job-id': 'b2',
        device: 'src2',
        target: 'dst2',
        sync: 'full',
        speed: 4096,
      }),
      backupStartsBeside('b1', 'b2'),
      ok(),
      idleAt('b2', MiB),
      send('job-cancel', { id: 'b1' }),
      status('b1', 'aborting'),
      backupEndsBeside('b2', 'b1', cancelled('backup', 'b1', SIZE, 0)),
      ok(),
      send('job-cancel', { id: 'b2' }),
      ...endsCancelled('backup', 'b2', SIZE, MiB, 4096),
      ok(),
    ],
  },
  {
    name: 'backup-paused-set-speed-zero-then-cancel',
    about:
      'a user-paused backup at speed 1 given speed 0 copies nothing while paused, and a forced cancel tears it down at once: CANCELLED at the 1 MiB it had (backup cancel cancels the block-copy call)',
    blockdevs: pairs,
    steps: [
      ...backupStarts({
        'job-id': 'b1',
        device: 'src1',
        target: 'dst1',
        sync: 'full',
        speed: 1,
        'auto-finalize': false,
        'auto-dismiss': false,
      }),
      idleAt('b1', MiB),
      send('block-job-pause', { device: 'b1' }),
      status('b1', 'paused'),
      ok(),
      ...call('block-job-set-speed', { device: 'b1', speed: 0 }),
      send('block-job-cancel', { device: 'b1', force: true }),
      ...statuses('b1', 'running', 'aborting'),
      cancelled('backup', 'b1', SIZE, MiB, 0),
      status('b1', 'concluded'),
      ok(),
    ],
  },
  {
    name: 'backup-clean-drains-its-source',
    about:
      "a backup that ends drops its copy-before-write filter in a drained section of its source (backup_clean): another backup of the same node pauses and resumes before the first one's BLOCK_JOB_COMPLETED",
    blockdevs: pairs,
    steps: [
      ...backupStarts({
        'job-id': 'b1',
        device: 'src1',
        target: 'dst1',
        sync: 'full',
        speed: 1,
      }),
      send('blockdev-backup', { 'job-id': 'b2', device: 'src1', target: 'dst2', sync: 'full' }),
      // bdrv_drain_all(), then the drained section of the action's source.
      ...statuses('b1', 'paused', 'running', 'paused'),
      ...statuses('b2', 'created', 'running', 'paused', 'running'),
      status('b1', 'running'),
      ...statuses('b2', 'waiting', 'pending'),
      byVersion({
        // b2's clean: its filter leaves src1 inside a drained section.
        '7.2': [
          ...statuses('b1', 'paused', 'running'),
          completed('backup', 'b2', SIZE),
          ...statuses('b2', 'concluded', 'null'),
        ],
        // The drained section, then two more graph changes (the filter closed); one more when
        // b2 is freed.
        '10.0': [
          ...graphChanges('b1', 3),
          completed('backup', 'b2', SIZE),
          ...statuses('b2', 'concluded', 'null'),
          ...graphChanges('b1', 1),
        ],
      }),
      ok(),
      send('job-cancel', { id: 'b1' }),
      ...endsCancelled('backup', 'b1', SIZE, MiB, 1),
      ok(),
    ],
  },
  // When a job lets go of its nodes: a stream or a commit only when it is dismissed and freed
  // (block_job_free), so a concluded one kept by auto-dismiss false still holds them.
  {
    name: 'stream-concluded-holds-its-node-until-dismissed',
    about:
      'a finished stream kept by auto-dismiss false still holds its node: a second block-stream of it is refused as busy until job-dismiss. Found by the differential tester.',
    ...threeLayerChain,
    steps: [
      send('block-stream', { 'job-id': 'j1', device: 'top', 'auto-dismiss': false }),
      ...statuses('j1', 'created', 'running'),
      ok(),
      ...statuses('j1', 'waiting', 'pending'),
      completed('stream', 'j1', SIZE),
      status('j1', 'concluded'),
      send('block-stream', { 'job-id': 'j2', device: 'top', speed: 1 }),
      generic("Node 'top' is busy: block device is in use by block job: stream"),
      send('job-dismiss', { id: 'j1' }),
      status('j1', 'null'),
      ok(),
    ],
  },
  {
    name: 'commit-concluded-holds-its-nodes-until-dismissed',
    about:
      'a finished commit kept by auto-dismiss false still holds its nodes: the device is no root node for another commit, and a stream of it is refused as busy (block job: commit)',
    ...threeLayerChain,
    steps: [
      send('block-commit', {
        'job-id': 'c1',
        device: 'top',
        'top-node': 'mid',
        'auto-dismiss': false,
      }),
      ...statuses('c1', 'created', 'running'),
      ok(),
      ...statuses('c1', 'waiting', 'pending'),
      completed('commit', 'c1', SIZE),
      status('c1', 'concluded'),
      send('block-commit', { 'job-id': 'c2', device: 'top', 'top-node': 'mid' }),
      generic('Need a root block node'),
      send('block-stream', { 'job-id': 's2', device: 'top' }),
      generic("Node 'top' is busy: block device is in use by block job: commit"),
    ],
  },
  {
    name: 'commit-running-device-is-no-root-node',
    about:
      "a running commit's BlockBackend sits on its device: another commit or a mirror of it needs a root node, a stream of it is busy",
    ...threeLayerChain,
    steps: [
      send('block-commit', { 'job-id': 'c1', device: 'top', 'top-node': 'mid', speed: 1 }),
      ...statuses('c1', 'created', 'running'),
      ok(),
      send('block-commit', { 'job-id': 'c2', device: 'top', 'top-node': 'mid' }),
      generic('Need a root block node'),
      send('block-stream', { 'job-id': 's2', device: 'top' }),
      generic("Node 'top' is busy: block device is in use by block job: commit"),
    ],
  },
  {
    name: 'throttled-mirror-slowed-then-drained-waits-out-its-delay',
    about:
      'a mirror at 4096 B/s copies its first 16 MiB and sleeps; slowed to 512 B/s it owes a longer delay, and a backup starting beside it drains it (on 10.0 six times): each drain ends with the mirror asleep again, nothing more copied (found by the differential tester, 10.0 seed 2668)',
    blockdevs: [
      nullCo('msrc', 64 * MiB),
      nullCo('mdst', 64 * MiB),
      nullCo('src1', 64 * MiB),
      nullCo('dst1', 64 * MiB),
    ],
    steps: [
      send('blockdev-mirror', {
        'job-id': 'm1',
        device: 'msrc',
        target: 'mdst',
        sync: 'full',
        speed: 4096,
      }),
      ...statuses('m1', 'created', 'running'),
      ok(),
      idleAt('m1', 16 * MiB),
      ...call('block-job-set-speed', { device: 'm1', speed: 512 }),
      send('blockdev-backup', {
        'job-id': 'b1',
        device: 'src1',
        target: 'dst1',
        sync: 'full',
        speed: 512,
      }),
      backupStartsBeside('m1', 'b1'),
      ok(),
      idleAt('b1', CHUNK),
      // 7.2 copies a chunk as soon as each drain ends (and computes its delay after); 10.0 asks
      // the limiter first (block_job_ratelimit_sleep) and sleeps on.
      byVersion({
        '7.2': throttledMirrorBeside(32 * MiB),
        '10.0': throttledMirrorBeside(16 * MiB),
      }),
    ],
  },
];
