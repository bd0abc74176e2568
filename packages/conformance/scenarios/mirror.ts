// Mirror jobs (blockdev-mirror between null-co nodes): ready, complete, the cancel variants,
// pause and standby. job-semantics.md §5.4, §6.2, §6.3, §6.5, §6.6.

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
  pendingEvent,
  ready,
  type Scenario,
  send,
  status,
  statuses,
} from '../src/scenario.js';
import {
  becomesReady,
  completesReady,
  concludesOk,
  endsCancelled,
  graphChanges,
  MiB,
  nullCo,
} from './common.js';

const SIZE = 64 * MiB;
/** Mirror's default buffer: the one chunk a mirror at speed 1 copies before sleeping (§8.3). */
const CHUNK = 16 * MiB;
const nodes = [nullCo('src', SIZE), nullCo('dst', SIZE)];
const mirror = (extra: Record<string, unknown> = {}) =>
  send('blockdev-mirror', { 'job-id': 'm1', device: 'src', target: 'dst', sync: 'full', ...extra });

/** Start m1 and wait for BLOCK_JOB_READY. */
const startReady = (extra: Record<string, unknown> = {}) => [
  mirror(extra),
  ...statuses('m1', 'created', 'running'),
  ok(),
  ...becomesReady('mirror', 'm1', SIZE),
];

/** Start m1 at speed 1 and wait until its first chunk is done (it then sleeps "for ever"). */
const startThrottled = (extra: Record<string, unknown> = {}) => [
  mirror({ speed: 1, ...extra }),
  ...statuses('m1', 'created', 'running'),
  ok(),
  idleAt('m1', CHUNK),
];

/** The mirror's successful end, once it is done. */
const finishedOk = () => concludesOk('mirror', 'm1', SIZE);

export const mirrorScenarios: Scenario[] = [
  {
    name: 'mirror-ready-job-complete',
    about: 'blockdev-mirror reaches ready after the reply; job-complete finishes it (§6.2)',
    blockdevs: nodes,
    steps: [...startReady(), ...completesReady('mirror', 'm1', SIZE)],
  },
  {
    name: 'mirror-ready-block-job-complete',
    about: 'block-job-complete (device = job id) does the same as job-complete (§6.2)',
    blockdevs: nodes,
    steps: [
      ...startReady(),
      ...completesReady('mirror', 'm1', SIZE, {
        command: 'block-job-complete',
        args: { device: 'm1' },
      }),
    ],
  },
  {
    name: 'mirror-ready-job-cancel',
    about: 'job-cancel on a ready mirror is a hard cancel: aborting, CANCELLED (§6.3)',
    blockdevs: nodes,
    steps: [
      ...startReady(),
      ...call('job-cancel', { id: 'm1' }),
      ...endsCancelled('mirror', 'm1', SIZE, SIZE),
    ],
  },
  {
    name: 'mirror-ready-soft-cancel',
    about:
      'block-job-cancel without force on a ready mirror completes it without pivot: COMPLETED, no error (§6.3)',
    blockdevs: nodes,
    steps: [
      ...startReady(),
      ...completesReady('mirror', 'm1', SIZE, {
        command: 'block-job-cancel',
        args: { device: 'm1' },
      }),
    ],
  },
  {
    name: 'mirror-ready-force-cancel',
    about: 'block-job-cancel force:true on a ready mirror is a hard cancel (§6.3)',
    blockdevs: nodes,
    steps: [
      ...startReady(),
      ...call('block-job-cancel', { device: 'm1', force: true }),
      ...endsCancelled('mirror', 'm1', SIZE, SIZE),
    ],
  },
  {
    name: 'mirror-running-soft-cancel-is-hard',
    about: 'before ready, a soft block-job-cancel is a hard cancel (§4.3, §6.3)',
    blockdevs: nodes,
    steps: [
      ...startThrottled(),
      ...call('block-job-cancel', { device: 'm1' }),
      ...endsCancelled('mirror', 'm1', SIZE, CHUNK, 1),
    ],
  },
  {
    name: 'mirror-hard-cancel-keeps-error',
    about:
      'with auto-dismiss false a hard-cancelled mirror stays concluded with error "Operation canceled" (§6.3)',
    blockdevs: nodes,
    steps: [
      ...startReady({ 'auto-dismiss': false }),
      ...call('job-cancel', { id: 'm1' }),
      status('m1', 'aborting'),
      cancelled('mirror', 'm1', SIZE, SIZE),
      status('m1', 'concluded'),
      send('query-jobs'),
      ok([jobInfo('mirror', 'm1', 'concluded', SIZE, SIZE, 'Operation canceled')]),
      send('query-block-jobs'),
      ok([
        blockJobInfo('mirror', 'm1', {
          len: SIZE,
          offset: SIZE,
          ready: false,
          status: 'concluded',
          'auto-dismiss': false,
          error: 'Operation canceled',
        }),
      ]),
      send('job-dismiss', { id: 'm1' }),
      status('m1', 'null'),
      ok(),
      send('query-jobs'),
      ok([]),
    ],
  },
  {
    name: 'mirror-soft-cancel-manual-finalize',
    about:
      'soft cancel of a ready mirror with auto-finalize false stops in pending (paused:true) until job-finalize (§6.3, §6.4)',
    blockdevs: nodes,
    steps: [
      ...startReady({ 'auto-finalize': false, 'auto-dismiss': false }),
      ...call('block-job-cancel', { device: 'm1' }),
      ...statuses('m1', 'waiting', 'pending'),
      pendingEvent('mirror', 'm1'),
      send('query-block-jobs'),
      ok([
        blockJobInfo('mirror', 'm1', {
          len: SIZE,
          offset: SIZE,
          paused: true,
          status: 'pending',
          'auto-finalize': false,
          'auto-dismiss': false,
        }),
      ]),
      send('job-finalize', { id: 'm1' }),
      completed('mirror', 'm1', SIZE),
      status('m1', 'concluded'),
      ok(),
      send('query-jobs'),
      ok([jobInfo('mirror', 'm1', 'concluded', SIZE, SIZE)]),
      send('job-dismiss', { id: 'm1' }),
      status('m1', 'null'),
      ok(),
    ],
  },
  {
    name: 'mirror-pause-resume-running',
    about:
      'an idle throttled mirror pauses before the pause reply and resumes before the resume reply (§6.5)',
    blockdevs: nodes,
    steps: [
      ...startThrottled(),
      send('job-pause', { id: 'm1' }),
      status('m1', 'paused'),
      ok(),
      send('query-block-jobs'),
      ok([
        blockJobInfo('mirror', 'm1', {
          len: SIZE,
          offset: CHUNK,
          paused: true,
          speed: 1,
          status: 'paused',
        }),
      ]),
      send('job-resume', { id: 'm1' }),
      status('m1', 'running'),
      ok(),
      byVersion({
        // Waking a throttled mirror lets exactly one more chunk through (§8.3).
        '7.2': [idleAt('m1', 2 * CHUNK)],
        // 10.0 waits out the rate-limit delay it still owes: no further chunk.
        '10.0': [idleAt('m1', CHUNK)],
      }),
      ...call('block-job-set-speed', { device: 'm1', speed: 0 }),
      ...becomesReady('mirror', 'm1', SIZE),
      ...completesReady('mirror', 'm1', SIZE),
    ],
  },
  {
    name: 'mirror-standby-complete-deferred',
    about:
      'pausing a ready mirror gives standby; job-complete is accepted there (twice) and acts on resume (§6.5)',
    blockdevs: nodes,
    steps: [
      ...startReady(),
      send('block-job-pause', { device: 'm1' }),
      status('m1', 'standby'),
      ok(),
      send('query-block-jobs'),
      ok([
        blockJobInfo('mirror', 'm1', {
          len: SIZE,
          offset: SIZE,
          paused: true,
          ready: true,
          status: 'standby',
        }),
      ]),
      ...call('job-complete', { id: 'm1' }),
      ...call('block-job-complete', { device: 'm1' }),
      send('block-job-resume', { device: 'm1' }),
      status('m1', 'ready'),
      ok(),
      ...finishedOk(),
    ],
  },
  {
    name: 'mirror-paused-cancel',
    about:
      'a user-paused mirror refuses a soft block-job-cancel; job-cancel resumes it first, then aborts after the reply (§6.6)',
    blockdevs: nodes,
    steps: [
      ...startThrottled(),
      send('job-pause', { id: 'm1' }),
      status('m1', 'paused'),
      ok(),
      send('block-job-cancel', { device: 'm1' }),
      generic("The block job for device 'm1' is currently paused"),
      send('job-cancel', { id: 'm1' }),
      status('m1', 'running'),
      ok(),
      ...endsCancelled('mirror', 'm1', SIZE, CHUNK, 1),
    ],
  },
  {
    name: 'mirror-standby-force-cancel',
    about:
      'a standby mirror refuses a soft cancel; force:true gives ready before the reply, then the abort (§6.6)',
    blockdevs: nodes,
    steps: [
      ...startReady(),
      send('job-pause', { id: 'm1' }),
      status('m1', 'standby'),
      ok(),
      send('block-job-cancel', { device: 'm1' }),
      generic("The block job for device 'm1' is currently paused"),
      send('block-job-cancel', { device: 'm1', force: true }),
      status('m1', 'ready'),
      ok(),
      ...endsCancelled('mirror', 'm1', SIZE, SIZE),
    ],
  },
  {
    name: 'mirror-pending-soft-cancel-aborts',
    about:
      'a completed mirror waiting in pending (auto-finalize false) is aborted by a soft block-job-cancel, all before the reply: the soft cancel is not ignored (§4.3 says "ignored", from source, unverified)',
    blockdevs: nodes,
    steps: [
      ...startReady({ 'auto-finalize': false }),
      ...call('job-complete', { id: 'm1' }),
      ...statuses('m1', 'waiting', 'pending'),
      pendingEvent('mirror', 'm1'),
      send('block-job-cancel', { device: 'm1' }),
      ...endsCancelled('mirror', 'm1', SIZE, SIZE),
      ok(),
    ],
  },
  {
    name: 'mirror-ready-drained-by-transaction',
    about:
      'a transaction (empty, or a backup of other nodes) drains a ready mirror: standby then ready, before the reply (§5.5, §7)',
    blockdevs: [...nodes, nullCo('src2', SIZE), nullCo('dst2', SIZE)],
    steps: [
      ...startReady(),
      send('transaction', { actions: [] }),
      ...statuses('m1', 'standby', 'ready'),
      ok(),
      send('blockdev-backup', {
        'job-id': 'b1',
        device: 'src2',
        target: 'dst2',
        sync: 'full',
        speed: 1,
      }),
      byVersion({
        '7.2': [
          ...statuses('m1', 'standby', 'ready'),
          ...statuses('b1', 'created', 'running', 'paused', 'running'),
          ok(),
          ...completesReady('mirror', 'm1', SIZE),
        ],
        // bdrv_drain_all() and the backup's filter put in (four graph changes) and attached
        // (one); the mirror's end: its filter goes and the target takes the source's place
        // (five), and it is freed (one).
        '10.0': [
          ...graphChanges('m1', 5, true),
          status('b1', 'created'),
          ...graphChanges('m1', 1, true),
          ...statuses('b1', 'running', 'paused', 'running'),
          ok(),
          ...call('job-complete', { id: 'm1' }),
          ...statuses('m1', 'waiting', 'pending'),
          ...graphChanges('b1', 5),
          completed('mirror', 'm1', SIZE, SIZE),
          ...statuses('m1', 'concluded', 'null'),
          ...graphChanges('b1', 1),
        ],
      }),
    ],
  },
  {
    name: 'mirror-size-mismatch-fails',
    about:
      'a mirror onto a smaller target starts and then fails: no BLOCK_JOB_ERROR, COMPLETED with error, len 0 (§5.4)',
    blockdevs: [nullCo('src', SIZE), nullCo('dst', SIZE / 2)],
    steps: [
      mirror(),
      ...statuses('m1', 'created', 'running'),
      ok(),
      status('m1', 'aborting'),
      completed('mirror', 'm1', 0, 0, 0, 'Source and target image have different sizes'),
      ...statuses('m1', 'concluded', 'null'),
    ],
  },
  {
    name: 'mirror-empty-ready-before-reply',
    about: 'a mirror with nothing to copy reaches ready (len 0) before its creation reply (§6.2)',
    blockdevs: [nullCo('src', 0), nullCo('dst', 0)],
    steps: [
      mirror(),
      ...statuses('m1', 'created', 'running', 'ready'),
      ready('mirror', 'm1', 0),
      ok(),
      ...call('job-complete', { id: 'm1' }),
      ...statuses('m1', 'waiting', 'pending'),
      completed('mirror', 'm1', 0),
      ...statuses('m1', 'concluded', 'null'),
    ],
  },
  {
    name: 'mirror-one-buffer-ready-before-reply',
    about:
      'an unthrottled mirror on null-co that fits in its 16 MiB buffer converges inside blockdev-mirror (ready before the reply); one that needs a second buffer converges after it (also with buf-size)',
    blockdevs: [
      nullCo('src', 16 * MiB),
      nullCo('dst', 16 * MiB),
      nullCo('big', 17 * MiB),
      nullCo('bigdst', 17 * MiB),
    ],
    steps: [
      mirror(),
      ...statuses('m1', 'created', 'running', 'ready'),
      ready('mirror', 'm1', 16 * MiB),
      ok(),
      send('blockdev-mirror', { 'job-id': 'm2', device: 'big', target: 'bigdst', sync: 'full' }),
      byVersion({
        '7.2': statuses('m2', 'created', 'running'),
        // The filter put in (two graph changes), the job's nodes attached (two).
        '10.0': [
          ...graphChanges('m1', 2, true),
          status('m2', 'created'),
          ...graphChanges('m1', 2, true),
          status('m2', 'running'),
        ],
      }),
      ok(),
      ...statuses('m2', 'ready'),
      ready('mirror', 'm2', 17 * MiB),
      ...call('job-cancel', { id: 'm1' }),
      ...statuses('m1', 'aborting'),
      byVersion({
        '7.2': [
          cancelled('mirror', 'm1', 16 * MiB, 16 * MiB),
          ...statuses('m1', 'concluded', 'null'),
        ],
        // m1's filter goes (four graph changes), and m1 is freed (one).
        '10.0': [
          ...graphChanges('m2', 4, true),
          cancelled('mirror', 'm1', 16 * MiB, 16 * MiB),
          ...statuses('m1', 'concluded', 'null'),
          ...graphChanges('m2', 1, true),
        ],
      }),
      ...call('job-cancel', { id: 'm2' }),
      ...statuses('m2', 'aborting'),
      cancelled('mirror', 'm2', 17 * MiB, 17 * MiB),
      ...statuses('m2', 'concluded', 'null'),
    ],
  },
  {
    name: 'mirror-creation-errors',
    about:
      'refused mirror creations: unknown nodes, onto itself, granularity, sync incremental, negative speed (§5.4)',
    blockdevs: nodes,
    steps: [
      send('blockdev-mirror', { 'job-id': 'm1', device: 'nope', target: 'dst', sync: 'full' }),
      generic("Cannot find device='nope' nor node-name='nope'"),
      send('blockdev-mirror', { 'job-id': 'm1', device: 'src', target: 'nope', sync: 'full' }),
      generic("Cannot find device='nope' nor node-name='nope'"),
      send('blockdev-mirror', { 'job-id': 'm1', device: 'src', target: 'src', sync: 'full' }),
      generic("Can't mirror node into itself"),
      mirror({ granularity: 1000 }),
      generic("Parameter 'granularity' expects a power of 2"),
      mirror({ granularity: 256 }),
      generic("Parameter 'granularity' expects a value in range [512B, 64MB]"),
      mirror({ granularity: 128 * MiB }),
      generic("Parameter 'granularity' expects a value in range [512B, 64MB]"),
      mirror({ sync: 'incremental' }),
      generic("Sync mode 'incremental' not supported"),
      mirror({ speed: -1 }),
      ...statuses('m1', 'created', 'null'),
      generic("Parameter 'speed' expects a non-negative value"),
      send('query-jobs'),
      ok([]),
    ],
  },
];
