// Stream and commit jobs over qcow2 backing chains: a normal run, nothing to do, manual
// finalize/dismiss, throttling and set-speed, cancel while paused, active and non-active commit,
// creation errors. job-semantics.md §5.1, §5.4, §5.6, §6.4, §6.6, §8.3.

import {
  blockJobInfo,
  call,
  cancelled,
  completed,
  fails,
  generic,
  idleAt,
  jobInfo,
  ok,
  pendingEvent,
  type Scenario,
  send,
  status,
  statuses,
} from '../src/scenario.js';
import {
  becomesReady,
  completesReady,
  endsCancelled,
  MiB,
  threeLayerChain,
  twoLayerChain,
} from './common.js';

const SIZE = 64 * MiB;
/** Stream's chunk: what a stream at speed 1 copies before it sleeps (§8.3). */
const STREAM_CHUNK = 512 * 1024;

const stream = (extra: Record<string, unknown> = {}) =>
  send('block-stream', { 'job-id': 's1', device: 'top', ...extra });

const streamFinishes = (speed = 0) => [
  ...statuses('s1', 'waiting', 'pending'),
  completed('stream', 's1', SIZE, SIZE, speed),
  ...statuses('s1', 'concluded', 'null'),
];

export const streamCommitScenarios: Scenario[] = [
  {
    name: 'stream-run',
    about: 'block-stream: created, running, reply, then waiting … null after it (§5.6)',
    ...twoLayerChain,
    steps: [stream(), ...statuses('s1', 'created', 'running'), ok(), ...streamFinishes()],
  },
  {
    name: 'stream-nothing-to-do',
    about:
      'a stream of a node without backing does its whole lifecycle, len 0, before the reply (§5.6)',
    ...twoLayerChain,
    steps: [
      send('block-stream', { 'job-id': 's1', device: 'base' }),
      ...statuses('s1', 'created', 'running', 'waiting', 'pending'),
      completed('stream', 's1', 0),
      ...statuses('s1', 'concluded', 'null'),
      ok(),
    ],
  },
  {
    name: 'stream-manual-finalize-dismiss',
    about:
      'auto-finalize/auto-dismiss false: pending + BLOCK_JOB_PENDING, finalize and dismiss emit before their replies (§6.4)',
    ...twoLayerChain,
    steps: [
      stream({ 'auto-finalize': false, 'auto-dismiss': false }),
      ...statuses('s1', 'created', 'running'),
      ok(),
      ...statuses('s1', 'waiting', 'pending'),
      pendingEvent('stream', 's1'),
      send('query-jobs'),
      ok([jobInfo('stream', 's1', 'pending', SIZE, SIZE)]),
      send('query-block-jobs'),
      ok([
        blockJobInfo('stream', 's1', {
          len: SIZE,
          offset: SIZE,
          status: 'pending',
          'auto-finalize': false,
          'auto-dismiss': false,
        }),
      ]),
      send('job-finalize', { id: 's1' }),
      completed('stream', 's1', SIZE),
      status('s1', 'concluded'),
      ok(),
      send('job-dismiss', { id: 's1' }),
      status('s1', 'null'),
      ok(),
    ],
  },
  {
    name: 'stream-auto-finalize-only-false',
    about:
      'auto-finalize false alone: block-job-finalize emits COMPLETED, concluded and null before its reply (§6.4)',
    ...twoLayerChain,
    steps: [
      stream({ 'auto-finalize': false }),
      ...statuses('s1', 'created', 'running'),
      ok(),
      ...statuses('s1', 'waiting', 'pending'),
      pendingEvent('stream', 's1'),
      send('block-job-finalize', { id: 's1' }),
      completed('stream', 's1', SIZE),
      ...statuses('s1', 'concluded', 'null'),
      ok(),
    ],
  },
  {
    name: 'stream-throttled-set-speed',
    about:
      'a stream at speed 1 copies one chunk and sleeps; a negative speed is refused; speed 0 wakes it and it finishes (§4.3, §8.3)',
    ...twoLayerChain,
    steps: [
      stream({ speed: 1 }),
      ...statuses('s1', 'created', 'running'),
      ok(),
      idleAt('s1', STREAM_CHUNK),
      send('query-block-jobs'),
      ok([blockJobInfo('stream', 's1', { len: SIZE, offset: STREAM_CHUNK, speed: 1 })]),
      send('block-job-set-speed', { device: 's1', speed: -1 }),
      generic("Parameter 'speed' expects a non-negative value"),
      send('block-job-set-speed', { device: 's1', speed: 0 }),
      ok(),
      ...streamFinishes(),
    ],
  },
  {
    name: 'stream-speed-shows-in-events',
    about: 'a raised speed wakes the job; the new speed is reported in BLOCK_JOB_COMPLETED (§4.3)',
    ...twoLayerChain,
    steps: [
      stream({ speed: 1 }),
      ...statuses('s1', 'created', 'running'),
      ok(),
      idleAt('s1', STREAM_CHUNK),
      ...call('block-job-set-speed', { device: 's1', speed: 1024 * MiB }),
      ...streamFinishes(1024 * MiB),
    ],
  },
  {
    name: 'stream-negative-speed-at-creation',
    about: 'a negative speed at creation: created, null, then the error (§5.4)',
    ...twoLayerChain,
    steps: [
      stream({ speed: -1 }),
      ...statuses('s1', 'created', 'null'),
      generic("Parameter 'speed' expects a non-negative value"),
      send('query-jobs'),
      ok([]),
    ],
  },
  {
    name: 'stream-paused-cancel',
    about:
      'job-cancel of an idle paused stream: running, aborting, CANCELLED, concluded, null, all before the reply (§6.9)',
    ...twoLayerChain,
    steps: [
      stream({ speed: 1 }),
      ...statuses('s1', 'created', 'running'),
      ok(),
      idleAt('s1', STREAM_CHUNK),
      send('block-job-pause', { device: 's1' }),
      status('s1', 'paused'),
      ok(),
      send('job-cancel', { id: 's1' }),
      ...statuses('s1', 'running', 'aborting'),
      cancelled('stream', 's1', SIZE, STREAM_CHUNK, 1),
      ...statuses('s1', 'concluded', 'null'),
      ok(),
    ],
  },
  {
    name: 'stream-creation-errors',
    about:
      'refused streams: unknown device, base and base-node together, base-node not below, node busy with another job (§5.4)',
    ...twoLayerChain,
    steps: [
      send('block-stream', { 'job-id': 's1', device: 'nope' }),
      generic("Cannot find device='nope' nor node-name='nope'"),
      stream({ base: 'base.qcow2', 'base-node': 'base' }),
      generic("'base' and 'base-node' cannot be specified at the same time"),
      send('block-stream', { 'job-id': 's1', device: 'base', 'base-node': 'top' }),
      generic("Node 'top' is not a backing image of 'base'"),
      stream({ 'base-node': 'top' }),
      generic("Node 'top' is not a backing image of 'top'"),
      stream({ speed: 1 }),
      ...statuses('s1', 'created', 'running'),
      ok(),
      send('block-stream', { 'job-id': 's2', device: 'top' }),
      generic("Node 'top' is busy: block device is in use by block job: stream"),
      send('block-stream', { 'job-id': 's2', device: 'base' }),
      generic("Node 'base' is busy: block device is in use by block job: stream"),
      // The stream put a filter node above top, so top is no longer a root node.
      send('block-commit', { 'job-id': 'c1', device: 'top' }),
      generic('Need a root block node'),
    ],
  },
  {
    name: 'commit-active',
    about:
      'block-commit of the active layer runs the mirror engine as type commit: ready, then job-complete (§5.1, §6.2)',
    setup: [...twoLayerChain.setup, { qemuIo: { image: 'top.qcow2', commands: ['write 4M 2M'] } }],
    blockdevs: twoLayerChain.blockdevs,
    steps: [
      send('block-commit', { 'job-id': 'c1', device: 'top' }),
      ...statuses('c1', 'created', 'running'),
      ok(),
      ...becomesReady('commit', 'c1', 2 * MiB),
      ...completesReady('commit', 'c1', 2 * MiB),
    ],
  },
  {
    name: 'commit-active-soft-cancel',
    about: 'a soft block-job-cancel of a ready active commit finishes it successfully (§4.3)',
    setup: [...twoLayerChain.setup, { qemuIo: { image: 'top.qcow2', commands: ['write 4M 2M'] } }],
    blockdevs: twoLayerChain.blockdevs,
    steps: [
      send('block-commit', { 'job-id': 'c1', device: 'top' }),
      ...statuses('c1', 'created', 'running'),
      ok(),
      ...becomesReady('commit', 'c1', 2 * MiB),
      ...completesReady('commit', 'c1', 2 * MiB, {
        command: 'block-job-cancel',
        args: { device: 'c1' },
      }),
    ],
  },
  {
    name: 'commit-non-active',
    about: 'committing mid into base runs to completion without ready, like a stream (§5.1, §5.6)',
    ...threeLayerChain,
    steps: [
      send('block-commit', {
        'job-id': 'c1',
        device: 'top',
        'top-node': 'mid',
        'base-node': 'base',
      }),
      ...statuses('c1', 'created', 'running'),
      ok(),
      ...statuses('c1', 'waiting', 'pending'),
      completed('commit', 'c1', SIZE),
      ...statuses('c1', 'concluded', 'null'),
    ],
  },
  {
    name: 'commit-non-active-complete-refused',
    about: 'a non-active commit never becomes ready: complete is refused while it runs (§4.3)',
    ...threeLayerChain,
    steps: [
      send('block-commit', {
        'job-id': 'c1',
        device: 'top',
        'top-node': 'mid',
        'base-node': 'base',
        speed: 1,
      }),
      ...statuses('c1', 'created', 'running'),
      ok(),
      idleAt('c1', 8 * MiB + 512 * 1024),
      send('job-complete', { id: 'c1' }),
      generic("Job 'c1' in state 'running' cannot accept command verb 'complete'"),
      send('job-cancel', { id: 'c1' }),
      ...endsCancelled('commit', 'c1', SIZE, 8 * MiB + 512 * 1024, 1),
      ok(),
    ],
  },
  {
    name: 'commit-creation-errors',
    about:
      'refused commits: unknown device (DeviceNotFound), into itself, not a root node, not in the chain (§5.4)',
    ...threeLayerChain,
    steps: [
      send('block-commit', { 'job-id': 'c1', device: 'nope' }),
      fails('DeviceNotFound', "Device 'nope' not found"),
      send('block-commit', { 'job-id': 'c1', device: 'top', 'base-node': 'top' }),
      generic('cannot commit an image into itself'),
      send('block-commit', { 'job-id': 'c1', device: 'mid' }),
      generic('Need a root block node'),
      send('block-commit', {
        'job-id': 'c1',
        device: 'top',
        'top-node': 'base',
        'base-node': 'mid',
      }),
      generic("'mid' is not in this backing file chain"),
      send('block-commit', {
        'job-id': 'c1',
        device: 'top',
        'top-node': 'mid',
        'base-node': 'top',
      }),
      generic("'top' is not in this backing file chain"),
    ],
  },
];
