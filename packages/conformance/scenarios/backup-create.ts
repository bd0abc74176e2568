// Backup jobs (blockdev-backup between null-co nodes, and from qcow2 for sync top) and create
// jobs (blockdev-create). job-semantics.md §5.1, §5.4, §5.5, §5.7, §6.6, §8.3, §9 traps 2, 11, 19.

import {
  blockJobInfo,
  byVersion,
  call,
  cancelled,
  completed,
  fails,
  generic,
  idleAt,
  jobInfo,
  ok,
  type Scenario,
  type Step,
  send,
  status,
  statuses,
} from '../src/scenario.js';
import { becomesReady, completesReady, MiB, nullCo, qcow2 } from './common.js';

const SIZE = 64 * MiB;
/** Backup's block-copy chunk: what a backup at speed 1 copies before it sleeps (§8.3). */
const CHUNK = MiB;
const nodes = [nullCo('src', SIZE), nullCo('dst', SIZE), nullCo('small', SIZE / 2)];
const backup = (extra: Record<string, unknown> = {}) =>
  send('blockdev-backup', { 'job-id': 'b1', device: 'src', target: 'dst', sync: 'full', ...extra });
/** A backup starts inside its transaction's drained section: running, paused, running (§5.7). */
const backupStarts = (id = 'b1') => statuses(id, 'created', 'running', 'paused', 'running');
/** A blockdev-create the image driver refuses: 7.2 ends the job before the reply, 10.0 after. */
const createRefused = (id: string): Step[] => [
  byVersion({
    '7.2': [...statuses(id, 'created', 'running', 'aborting', 'concluded'), ok()],
    '10.0': [...statuses(id, 'created', 'running'), ok(), ...statuses(id, 'aborting', 'concluded')],
  }),
];

export const backupCreateScenarios: Scenario[] = [
  {
    name: 'backup-instant-before-reply',
    about: 'an unthrottled null-co backup finishes entirely before its creation reply (§5.7)',
    blockdevs: nodes,
    steps: [
      backup(),
      ...backupStarts(),
      ...statuses('b1', 'waiting', 'pending'),
      completed('backup', 'b1', SIZE),
      ...statuses('b1', 'concluded', 'null'),
      ok(),
    ],
  },
  {
    name: 'backup-throttled-set-speed',
    about:
      'a backup at speed 1 copies one 1 MiB chunk and sleeps; pause/resume does not let another through; speed 0 finishes it (§5.7, §8.3)',
    blockdevs: nodes,
    steps: [
      backup({ speed: 1 }),
      ...backupStarts(),
      ok(),
      idleAt('b1', CHUNK),
      send('query-block-jobs'),
      ok([blockJobInfo('backup', 'b1', { len: SIZE, offset: CHUNK, speed: 1 })]),
      send('job-pause', { id: 'b1' }),
      status('b1', 'paused'),
      ok(),
      send('job-resume', { id: 'b1' }),
      status('b1', 'running'),
      ok(),
      idleAt('b1', CHUNK),
      // On null-co the rest of the copy needs no wait, so it all happens inside set-speed.
      send('block-job-set-speed', { device: 'b1', speed: 0 }),
      ...statuses('b1', 'waiting', 'pending'),
      completed('backup', 'b1', SIZE),
      ...statuses('b1', 'concluded', 'null'),
      ok(),
    ],
  },
  {
    name: 'backup-paused-cancel',
    about:
      'cancelling a paused backup: running, aborting, CANCELLED, concluded, null, all before the reply (§6.6)',
    blockdevs: nodes,
    steps: [
      backup({ speed: 1 }),
      ...backupStarts(),
      ok(),
      idleAt('b1', CHUNK),
      send('job-pause', { id: 'b1' }),
      status('b1', 'paused'),
      ok(),
      send('block-job-cancel', { device: 'b1' }),
      generic("The block job for device 'b1' is currently paused"),
      send('block-job-cancel', { device: 'b1', force: true }),
      ...statuses('b1', 'running', 'aborting'),
      cancelled('backup', 'b1', SIZE, CHUNK, 1),
      ...statuses('b1', 'concluded', 'null'),
      ok(),
    ],
  },
  {
    name: 'backup-busy-pause',
    about:
      'pausing a busy job (reads in flight on a null-co with 400 ms latency): the reply first, query shows running/paused:true/busy:true, then paused once the reads complete (§6.5, §7)',
    blockdevs: [
      nullCo('src', 1024 * MiB, { 'latency-ns': 400_000_000 }),
      nullCo('dst', 1024 * MiB),
    ],
    steps: [
      backup(),
      ...backupStarts(),
      ok(),
      ...call('job-pause', { id: 'b1' }),
      send('query-block-jobs'),
      ok([
        blockJobInfo('backup', 'b1', {
          len: 1024 * MiB,
          offset: 0,
          busy: true,
          paused: true,
          status: 'running',
        }),
      ]),
      { expect: { event: 'JOB_STATUS_CHANGE', data: { id: 'b1', status: 'paused' } } },
      send('query-block-jobs'),
      ok([
        blockJobInfo('backup', 'b1', {
          len: 1024 * MiB,
          // The block-copy requests already in flight (64 workers of 1 MiB, plus one) complete.
          offset: 65 * MiB,
          paused: true,
          status: 'paused',
        }),
      ]),
      send('job-cancel', { id: 'b1' }),
      ...statuses('b1', 'running', 'aborting'),
      cancelled('backup', 'b1', 1024 * MiB, 65 * MiB),
      ...statuses('b1', 'concluded', 'null'),
      ok(),
    ],
  },
  {
    name: 'backup-sync-none-runs-until-cancelled',
    about:
      'sync none copies nothing and runs until cancelled; a soft cancel is hard for backup: CANCELLED, offset 0 (§4.3)',
    blockdevs: nodes,
    steps: [
      backup({ sync: 'none', 'auto-dismiss': false }),
      ...backupStarts(),
      ok(),
      idleAt('b1', 0),
      send('block-job-cancel', { device: 'b1' }),
      status('b1', 'aborting'),
      cancelled('backup', 'b1', SIZE, 0),
      status('b1', 'concluded'),
      ok(),
      send('query-jobs'),
      ok([jobInfo('backup', 'b1', 'concluded', 0, SIZE, 'Operation canceled')]),
      send('job-dismiss', { id: 'b1' }),
      status('b1', 'null'),
      ok(),
    ],
  },
  {
    name: 'backup-sync-top',
    about: 'sync top copies what the top layer allocates; the job runs after the reply (§5.1)',
    setup: [
      { qemuImg: ['create', '-q', '-f', 'qcow2', 'base.qcow2', '64M'] },
      { qemuIo: { image: 'base.qcow2', commands: ['write 0 4M'] } },
      { qemuImg: ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2'] },
      { qemuIo: { image: 'top.qcow2', commands: ['write 8M 2M'] } },
    ],
    blockdevs: [
      qcow2('base', 'base.qcow2'),
      qcow2('top', 'top.qcow2', { backing: 'base' }),
      nullCo('dst', SIZE),
    ],
    steps: [
      send('blockdev-backup', { 'job-id': 'b1', device: 'top', target: 'dst', sync: 'top' }),
      ...backupStarts(),
      ok(),
      ...statuses('b1', 'waiting', 'pending'),
      completed('backup', 'b1', 2 * MiB),
      ...statuses('b1', 'concluded', 'null'),
    ],
  },
  {
    name: 'backup-creation-errors',
    about:
      'refused backups: size mismatch, onto itself, incremental without or with an unknown bitmap, compression, unknown node, negative speed (§5.4)',
    blockdevs: nodes,
    steps: [
      backup({ target: 'small' }),
      generic('Source and target image have different sizes'),
      backup({ target: 'src' }),
      generic('Source and target cannot be the same'),
      backup({ sync: 'incremental' }),
      generic("must provide a valid bitmap name for 'incremental' sync mode"),
      backup({ sync: 'incremental', bitmap: 'nobitmap' }),
      generic("Bitmap 'nobitmap' could not be found"),
      backup({ compress: true }),
      generic('Compression is not supported for this drive '),
      backup({ device: 'nope' }),
      generic("Cannot find device='nope' nor node-name='nope'"),
      backup({ speed: -1 }),
      ...statuses('b1', 'created', 'null'),
      generic("Parameter 'speed' expects a non-negative value"),
      send('query-jobs'),
      ok([]),
    ],
  },
  {
    name: 'drive-mirror-and-drive-backup',
    about:
      'the drive-* variants create their target image first: drive-mirror copies only allocated data (ready len 2 MiB), drive-backup (deprecated) runs as a transaction; a missing job-id fails after the image was made (§5.1, §5.3)',
    setup: [
      { qemuImg: ['create', '-q', '-f', 'qcow2', 'src.qcow2', '64M'] },
      { qemuIo: { image: 'src.qcow2', commands: ['write 0 2M'] } },
    ],
    blockdevs: [qcow2('src', 'src.qcow2')],
    steps: [
      send('drive-mirror', {
        'job-id': 'm1',
        device: 'src',
        target: 'dst.qcow2',
        format: 'qcow2',
        sync: 'full',
      }),
      ...statuses('m1', 'created', 'running'),
      ok(),
      ...becomesReady('mirror', 'm1', 2 * MiB),
      ...completesReady('mirror', 'm1', 2 * MiB),
      send('drive-backup', {
        'job-id': 'b1',
        device: 'src',
        target: 'bk.qcow2',
        format: 'qcow2',
        sync: 'full',
      }),
      ...backupStarts(),
      ok(),
      ...statuses('b1', 'waiting', 'pending'),
      completed('backup', 'b1', SIZE),
      ...statuses('b1', 'concluded', 'null'),
      send('drive-mirror', { device: 'src', target: 'dst2.qcow2', format: 'qcow2', sync: 'full' }),
      generic("Invalid job ID ''"),
      send('drive-backup', {
        'job-id': 'b2',
        device: 'src',
        target: 'missing.qcow2',
        format: 'qcow2',
        sync: 'full',
        mode: 'existing',
      }),
      generic("Could not open 'missing.qcow2': No such file or directory"),
    ],
  },
  {
    name: 'create-job-lifecycle',
    about:
      'blockdev-create: only JOB_STATUS_CHANGE, stays concluded (auto-dismiss false), progress 1/1, invisible to block-job-*, holds its id until dismissed (§5.1, §5.2, §4.2)',
    blockdevs: [nullCo('src', SIZE), nullCo('dst', SIZE)],
    steps: [
      send('blockdev-create', {
        'job-id': 'cr1',
        options: { driver: 'file', filename: 'new.img', size: MiB },
      }),
      ...statuses('cr1', 'created', 'running'),
      ok(),
      ...statuses('cr1', 'waiting', 'pending', 'concluded'),
      send('query-jobs'),
      ok([jobInfo('create', 'cr1', 'concluded', 1, 1)]),
      send('query-block-jobs'),
      ok([]),
      send('block-job-dismiss', { id: 'cr1' }),
      fails('DeviceNotActive', "Block job 'cr1' not found"),
      send('block-job-cancel', { device: 'cr1' }),
      fails('DeviceNotActive', "Block job 'cr1' not found"),
      send('job-cancel', { id: 'cr1' }),
      generic("Job 'cr1' in state 'concluded' cannot accept command verb 'cancel'"),
      send('blockdev-mirror', { 'job-id': 'cr1', device: 'src', target: 'dst', sync: 'full' }),
      generic("Job ID 'cr1' already in use"),
      send('job-dismiss', { id: 'cr1' }),
      status('cr1', 'null'),
      ok(),
      send('blockdev-mirror', {
        'job-id': 'cr1',
        device: 'src',
        target: 'dst',
        sync: 'full',
        speed: 1,
      }),
      ...statuses('cr1', 'created', 'running'),
      ok(),
    ],
  },
  {
    name: 'create-job-failures',
    about:
      'a failing blockdev-create ends before its reply (10.0: after it), visible only as JobInfo.error; job-id is required (§5.1)',
    setup: [{ qemuImg: ['create', '-q', '-f', 'raw', 'x.img', '1M'] }],
    blockdevs: [JSON.stringify({ driver: 'file', 'node-name': 'f0', filename: 'x.img' })],
    steps: [
      send('blockdev-create', {
        'job-id': 'cr1',
        options: { driver: 'qcow2', file: 'nonexist', size: MiB },
      }),
      ...createRefused('cr1'),
      send('blockdev-create', {
        'job-id': 'cr2',
        options: { driver: 'qcow2', file: 'f0', size: 1000 },
      }),
      ...createRefused('cr2'),
      send('query-jobs'),
      ok([
        jobInfo('create', 'cr2', 'concluded', 1, 1, 'Image size must be a multiple of 512 bytes'),
        jobInfo(
          'create',
          'cr1',
          'concluded',
          1,
          1,
          "Cannot find device='nonexist' nor node-name='nonexist'",
        ),
      ]),
      send('blockdev-create', { options: { driver: 'file', filename: 'y.img', size: MiB } }),
      generic("Parameter 'job-id' is missing"),
    ],
  },
];
