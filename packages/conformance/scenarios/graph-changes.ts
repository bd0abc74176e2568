// Issue 15: block-graph changes made by commands other than the job commands — blockdev-add and
// blockdev-del, drive-mirror and drive-backup creating and opening their target image — as a job
// that is running (a throttled backup) and a mirror that is ready beside them see them, and the
// errors of a job's refused filter-node-name. Expected values: QEMU 7.2.22; the 10.0 steps:
// QEMU 10.0.2, where each graph change takes the graph's write lock and so drains every node
// (common.ts graphChanges): both x and m take an internal pause per change.

import {
  byVersion,
  call,
  cancelled,
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
import { backupStarts, becomesReady, MiB, nullCo } from './common.js';

const SIZE = 64 * MiB;
/** 34 characters: node names are at most 31. */
const LONG_NAME = 'a234567890123456789012345678901234';

/** The nodes of job x (src → dst), mirror m (msrc → mdst) and d, e for the commands tried. */
const blockdevs = [
  nullCo('src', SIZE),
  nullCo('dst', SIZE),
  nullCo('msrc', SIZE),
  nullCo('mdst', SIZE),
  nullCo('d', SIZE),
  nullCo('e', SIZE),
];

/** Job x (throttled backup src → dst) running at 1 MiB, mirror m (msrc → mdst) ready. */
const xRunningMReady: Step[] = [
  ...backupStarts({ 'job-id': 'x', device: 'src', target: 'dst', sync: 'full', speed: 1 }),
  idleAt('x', MiB),
  send('blockdev-mirror', { 'job-id': 'm', device: 'msrc', target: 'mdst', sync: 'full' }),
  byVersion({
    '7.2': statuses('m', 'created', 'running'),
    '10.0': [
      ...statuses('x', 'paused', 'running', 'paused', 'running'),
      status('m', 'created'),
      ...statuses('x', 'paused', 'running', 'paused', 'running'),
      status('m', 'running'),
    ],
  }),
  ok(),
  ...becomesReady('mirror', 'm', SIZE),
];

/** `times` drains of every node: x pauses, m goes to standby, x resumes, m is ready again. */
function drainsAll(times: number): Step[] {
  return Array.from({ length: times }, () => [
    status('x', 'paused'),
    status('m', 'standby'),
    status('x', 'running'),
    status('m', 'ready'),
  ]).flat();
}

/** The same drains on 7.2 and `times10` of them on 10.0. */
function drains(times72: number, times10: number): Step {
  return byVersion({ '7.2': drainsAll(times72), '10.0': drainsAll(times10) });
}

export const graphChangeScenarios: Scenario[] = [
  {
    name: 'job-filter-node-name-refused-beside-jobs',
    about:
      "a refused filter-node-name: backup inserts its filter with bdrv_insert_node, whose errors start 'Could not create node: ' (invalid, duplicate or too long a name), mirror's do not; both after the drains their half-made filter causes",
    blockdevs,
    steps: [
      ...xRunningMReady,
      send('blockdev-backup', {
        'job-id': 'b1',
        device: 'd',
        target: 'e',
        sync: 'full',
        'filter-node-name': 'src',
      }),
      drains(1, 2),
      generic("Could not create node: Duplicate nodes with node-name='src'"),
      send('blockdev-backup', {
        'job-id': 'b2',
        device: 'd',
        target: 'e',
        sync: 'full',
        'filter-node-name': 'f b',
      }),
      drains(1, 2),
      generic("Could not create node: Invalid node-name: 'f b'"),
      send('blockdev-mirror', {
        'job-id': 'm1',
        device: 'd',
        target: 'e',
        sync: 'full',
        'filter-node-name': 'src',
      }),
      drains(0, 1),
      generic("Duplicate nodes with node-name='src'"),
      send('blockdev-mirror', {
        'job-id': 'm2',
        device: 'd',
        target: 'e',
        sync: 'full',
        'filter-node-name': 'f b',
      }),
      drains(0, 1),
      generic("Invalid node-name: 'f b'"),
      send('blockdev-mirror', {
        'job-id': 'm3',
        device: 'd',
        target: 'e',
        sync: 'full',
        'filter-node-name': LONG_NAME,
      }),
      drains(0, 1),
      generic('Node name too long'),
      send('blockdev-backup', {
        'job-id': 'b3',
        device: 'd',
        target: 'e',
        sync: 'full',
        'filter-node-name': LONG_NAME,
      }),
      drains(1, 2),
      generic('Could not create node: Node name too long'),
      send('query-jobs'),
      ok([
        jobInfo('mirror', 'm', 'ready', SIZE, SIZE),
        jobInfo('backup', 'x', 'running', MiB, SIZE),
      ]),
    ],
  },
  {
    name: 'graph-changes-blockdev-add-del-beside-jobs',
    about:
      'blockdev-add of a qcow2 image (its file child opened too: three graph changes on 10.0), of a raw node over it (three), of a file node (none), failing ones (duplicate name: one; missing file: three; image locked: five) and blockdev-del (one per node closed), beside a running backup and a ready mirror',
    setup: [{ qemuImg: ['create', '-q', '-f', 'qcow2', 'img.qcow2', '64M'] }],
    blockdevs,
    steps: [
      ...xRunningMReady,
      send('blockdev-add', {
        driver: 'qcow2',
        'node-name': 'q',
        file: { driver: 'file', filename: 'img.qcow2' },
      }),
      drains(0, 3),
      ok(),
      send('blockdev-add', { driver: 'null-co', 'node-name': 'q', size: MiB }),
      drains(0, 1),
      generic("Duplicate nodes with node-name='q'"),
      send('blockdev-add', {
        driver: 'qcow2',
        'node-name': 'q2',
        file: { driver: 'file', filename: 'missing.qcow2' },
      }),
      drains(0, 3),
      generic("Could not open 'missing.qcow2': No such file or directory"),
      send('blockdev-add', { driver: 'raw', 'node-name': 'q4', file: 'q' }),
      drains(0, 3),
      ok(),
      ...call('blockdev-add', { driver: 'file', 'node-name': 'f5', filename: 'img.qcow2' }),
      send('blockdev-add', { driver: 'qcow2', 'node-name': 'q5', file: 'f5' }),
      drains(0, 5),
      generic('Failed to get "write" lock'),
      send('blockdev-del', { 'node-name': 'q4' }),
      drains(0, 1),
      ok(),
      send('blockdev-del', { 'node-name': 'q' }),
      drains(0, 2),
      ok(),
      send('blockdev-del', { 'node-name': 'f5' }),
      drains(0, 1),
      ok(),
    ],
  },
  {
    name: 'graph-changes-drive-mirror-backup-beside-jobs',
    about:
      'drive-mirror and drive-backup create their qcow2 target and open it (about twenty graph changes on 10.0 before the job exists), and close it at the end; failing ones (missing image, job id in use, duplicate filter name) drain as often up to the error; beside a running backup and a ready mirror',
    blockdevs,
    steps: [
      ...xRunningMReady,
      send('drive-mirror', {
        'job-id': 'dm',
        device: 'd',
        target: 'dm.qcow2',
        format: 'qcow2',
        sync: 'full',
        speed: 1,
      }),
      byVersion({
        '7.2': [status('dm', 'created')],
        '10.0': [...drainsAll(20), status('dm', 'created'), ...drainsAll(2)],
      }),
      status('dm', 'running'),
      // A null-co source and a new qcow2 target both read as zeros: nothing to copy.
      ...becomesReady('mirror', 'dm', 0, 1),
      ok(),
      ...call('job-cancel', { id: 'dm' }),
      status('dm', 'aborting'),
      drains(0, 6),
      cancelled('mirror', 'dm', 0, 0, 1),
      ...statuses('dm', 'concluded', 'null'),
      drains(0, 1),
      send('drive-backup', {
        'job-id': 'db',
        device: 'd',
        target: 'db.qcow2',
        format: 'qcow2',
        sync: 'full',
        speed: 1,
      }),
      byVersion({
        '7.2': [...drainsAll(1), status('db', 'created')],
        '10.0': [...drainsAll(23), status('db', 'created'), ...drainsAll(1)],
      }),
      ...statuses('db', 'running', 'paused', 'running'),
      ok(),
      idleAt('db', MiB),
      send('job-cancel', { id: 'db' }),
      status('db', 'aborting'),
      drains(0, 5),
      cancelled('backup', 'db', SIZE, MiB, 1),
      ...statuses('db', 'concluded', 'null'),
      drains(0, 1),
      ok(),
      send('drive-backup', {
        'job-id': 'db2',
        device: 'd',
        target: 'missing.qcow2',
        format: 'qcow2',
        sync: 'full',
        mode: 'existing',
      }),
      drains(1, 4),
      generic("Could not open 'missing.qcow2': No such file or directory"),
      send('drive-mirror', {
        'job-id': 'x',
        device: 'd',
        target: 'dm2.qcow2',
        format: 'qcow2',
        sync: 'full',
      }),
      drains(0, 24),
      generic("Job ID 'x' already in use"),
      send('drive-backup', {
        'job-id': 'db3',
        device: 'd',
        target: 'db3.qcow2',
        format: 'qcow2',
        sync: 'full',
        'filter-node-name': 'src',
      }),
      drains(1, 22),
      generic("Could not create node: Duplicate nodes with node-name='src'"),
    ],
  },
];
