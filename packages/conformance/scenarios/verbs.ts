// Every job verb in every reachable status, allowed and refused, with QEMU's exact texts and
// check order; lookup and argument errors; pause nesting. job-semantics.md §3, §4.2, §4.3, §7,
// §9 traps 5-7, 10, 27.

import {
  blockJobInfo,
  byVersion,
  call,
  cancelled,
  completed,
  fails,
  generic,
  idleAt,
  ok,
  pendingEvent,
  type Scenario,
  type Step,
  send,
  status,
  statuses,
  verbRefused,
} from '../src/scenario.js';
import { becomesReady, endsCancelled, MiB, nullCo, twoLayerChain } from './common.js';

const SIZE = 64 * MiB;
const STREAM_CHUNK = 512 * 1024;

const throttledStream = (extra: Record<string, unknown> = {}): Step[] => [
  send('block-stream', { 'job-id': 's1', device: 'top', speed: 1, ...extra }),
  ...statuses('s1', 'created', 'running'),
  ok(),
  idleAt('s1', STREAM_CHUNK),
];

const finishedStream = (extra: Record<string, unknown>): Step[] => [
  send('block-stream', { 'job-id': 's1', device: 'top', ...extra }),
  ...statuses('s1', 'created', 'running'),
  ok(),
  ...statuses('s1', 'waiting', 'pending'),
];

const readyMirror: Step[] = [
  send('blockdev-mirror', { 'job-id': 'm1', device: 'src', target: 'dst', sync: 'full' }),
  ...statuses('m1', 'created', 'running'),
  ok(),
  ...becomesReady('mirror', 'm1', SIZE),
];

const notPaused = "Can't resume a job that was not paused";
const refused = (command: string, args: Record<string, unknown>, result: Step): Step[] => [
  send(command, args),
  result,
];

/** The refusals a job in `jobStatus` gives to each verb the table forbids there. */
const refusals = (id: string, jobStatus: string, verbs: readonly string[]): Step[] =>
  verbs.flatMap((verb) => {
    switch (verb) {
      case 'cancel':
        return refused('job-cancel', { id }, verbRefused(id, jobStatus, 'cancel'));
      case 'pause':
        return [
          ...refused('job-pause', { id }, verbRefused(id, jobStatus, 'pause')),
          ...refused('block-job-pause', { device: id }, verbRefused(id, jobStatus, 'pause')),
        ];
      case 'complete':
        return [
          ...refused('job-complete', { id }, verbRefused(id, jobStatus, 'complete')),
          ...refused('block-job-complete', { device: id }, verbRefused(id, jobStatus, 'complete')),
        ];
      case 'finalize':
        return [
          ...refused('job-finalize', { id }, verbRefused(id, jobStatus, 'finalize')),
          ...refused('block-job-finalize', { id }, verbRefused(id, jobStatus, 'finalize')),
        ];
      case 'dismiss':
        return [
          ...refused('job-dismiss', { id }, verbRefused(id, jobStatus, 'dismiss')),
          ...refused('block-job-dismiss', { id }, verbRefused(id, jobStatus, 'dismiss')),
        ];
      case 'set-speed':
        // The verb check comes before the negative-speed check (§9 trap 7).
        return refused(
          'block-job-set-speed',
          { device: id, speed: -1 },
          verbRefused(id, jobStatus, 'set-speed'),
        );
      case 'resume':
        // "not paused" comes before the verb check (§4.3).
        return [
          ...refused('job-resume', { id }, generic(notPaused)),
          ...refused('block-job-resume', { device: id }, generic(notPaused)),
        ];
      default:
        throw new Error(`no refusal for verb ${verb}`);
    }
  });

export const verbScenarios: Scenario[] = [
  {
    name: 'verbs-in-running',
    about:
      'a running (throttled, idle) stream refuses complete/finalize/dismiss and resume; accepts set-speed; job-cancel ends it before the reply',
    ...twoLayerChain,
    steps: [
      ...throttledStream(),
      ...refusals('s1', 'running', ['complete', 'finalize', 'dismiss', 'resume']),
      // The same speed does not wake the job (§4.3).
      ...call('block-job-set-speed', { device: 's1', speed: 1 }),
      send('job-cancel', { id: 's1' }),
      ...endsCancelled('stream', 's1', SIZE, STREAM_CHUNK, 1),
      ok(),
    ],
  },
  {
    name: 'verbs-in-paused',
    about:
      'a user-paused stream: pause again is "already paused" (both families), complete/finalize/dismiss refused, set-speed allowed (then the negative check), resume works once (§4.3, §7)',
    ...twoLayerChain,
    steps: [
      ...throttledStream(),
      send('job-pause', { id: 's1' }),
      status('s1', 'paused'),
      ok(),
      send('job-pause', { id: 's1' }),
      generic('Job is already paused'),
      send('block-job-pause', { device: 's1' }),
      generic('Job is already paused'),
      ...refusals('s1', 'paused', ['complete', 'finalize', 'dismiss']),
      ...call('block-job-set-speed', { device: 's1', speed: 1 }),
      send('block-job-set-speed', { device: 's1', speed: -1 }),
      generic("Parameter 'speed' expects a non-negative value"),
      send('query-block-jobs'),
      ok([
        blockJobInfo('stream', 's1', {
          len: SIZE,
          offset: STREAM_CHUNK,
          speed: 1,
          paused: true,
          status: 'paused',
        }),
      ]),
      send('block-job-resume', { device: 's1' }),
      status('s1', 'running'),
      ok(),
      byVersion({
        // Waking the throttled stream lets one more chunk through (§8.3).
        '7.2': [idleAt('s1', 2 * STREAM_CHUNK)],
        // 10.0 waits out the rate-limit delay it still owes: no further chunk.
        '10.0': [idleAt('s1', STREAM_CHUNK)],
      }),
      send('job-resume', { id: 's1' }),
      generic(notPaused),
      send('job-cancel', { id: 's1' }),
      status('s1', 'aborting'),
      byVersion({
        '7.2': [cancelled('stream', 's1', SIZE, 2 * STREAM_CHUNK, 1)],
        '10.0': [cancelled('stream', 's1', SIZE, STREAM_CHUNK, 1)],
      }),
      ...statuses('s1', 'concluded', 'null'),
      ok(),
    ],
  },
  {
    name: 'verbs-in-ready-and-standby',
    about:
      'a ready mirror refuses finalize/dismiss/resume and accepts set-speed; in standby pause is "already paused", finalize/dismiss refused, set-speed and complete accepted (§3, §7)',
    blockdevs: [nullCo('src', SIZE), nullCo('dst', SIZE)],
    steps: [
      ...readyMirror,
      ...refusals('m1', 'ready', ['finalize', 'dismiss', 'resume']),
      ...call('block-job-set-speed', { device: 'm1', speed: 1 }),
      send('job-pause', { id: 'm1' }),
      status('m1', 'standby'),
      ok(),
      send('block-job-pause', { device: 'm1' }),
      generic('Job is already paused'),
      ...refusals('m1', 'standby', ['finalize', 'dismiss']),
      ...call('block-job-set-speed', { device: 'm1', speed: 0 }),
      send('job-resume', { id: 'm1' }),
      status('m1', 'ready'),
      ok(),
      ...call('job-cancel', { id: 'm1' }),
      ...endsCancelled('mirror', 'm1', SIZE, SIZE),
    ],
  },
  {
    name: 'verbs-in-pending',
    about:
      'a pending stream refuses pause, set-speed (before the negative check), complete, dismiss, and resume as "not paused"; job-cancel aborts it before the reply (§4.3, §6.4)',
    ...twoLayerChain,
    steps: [
      ...finishedStream({ 'auto-finalize': false }),
      pendingEvent('stream', 's1'),
      ...refusals('s1', 'pending', ['pause', 'resume', 'set-speed', 'complete', 'dismiss']),
      send('job-cancel', { id: 's1' }),
      ...endsCancelled('stream', 's1', SIZE, SIZE),
      ok(),
    ],
  },
  {
    name: 'verbs-in-concluded',
    about:
      'a concluded stream refuses every verb but dismiss (resume as "not paused"); after dismiss the id is gone (§3, §9 trap 27)',
    ...twoLayerChain,
    steps: [
      ...finishedStream({ 'auto-dismiss': false }),
      completed('stream', 's1', SIZE),
      status('s1', 'concluded'),
      ...refusals('s1', 'concluded', [
        'cancel',
        'pause',
        'resume',
        'set-speed',
        'complete',
        'finalize',
      ]),
      send('block-job-cancel', { device: 's1' }),
      verbRefused('s1', 'concluded', 'cancel'),
      send('block-job-dismiss', { id: 's1' }),
      status('s1', 'null'),
      ok(),
      send('job-dismiss', { id: 's1' }),
      generic('Job not found'),
    ],
  },
  {
    name: 'verbs-in-waiting',
    about:
      'a grouped-transaction member that finished waits for the other: it refuses pause, set-speed, complete, finalize, dismiss; cancelling it aborts the whole transaction before the reply (§6.8)',
    blockdevs: [
      nullCo('src1', SIZE),
      nullCo('dst1', SIZE),
      nullCo('src2', SIZE),
      nullCo('dst2', SIZE),
    ],
    steps: [
      send('transaction', {
        actions: [
          {
            type: 'blockdev-backup',
            data: { 'job-id': 'fast', device: 'src1', target: 'dst1', sync: 'full', speed: 1 },
          },
          {
            type: 'blockdev-backup',
            data: { 'job-id': 'slow', device: 'src2', target: 'dst2', sync: 'full', speed: 1 },
          },
        ],
        properties: { 'completion-mode': 'grouped' },
      }),
      ...statuses('fast', 'created'),
      ...statuses('slow', 'created'),
      // Each starts inside the drain of its source and resumes when that section ends: in action
      // order on 7.2, newest first on 10.0 (which commits and cleans up the actions in reverse).
      byVersion({
        '7.2': [
          ...statuses('fast', 'running', 'paused'),
          ...statuses('slow', 'running', 'paused'),
          status('fast', 'running'),
          status('slow', 'running'),
        ],
        '10.0': [
          ...statuses('slow', 'running', 'paused'),
          ...statuses('fast', 'running', 'paused'),
          status('slow', 'running'),
          status('fast', 'running'),
        ],
      }),
      ok(),
      idleAt('fast', MiB),
      idleAt('slow', MiB),
      send('block-job-set-speed', { device: 'fast', speed: 0 }),
      status('fast', 'waiting'),
      ok(),
      ...refusals('fast', 'waiting', [
        'pause',
        'resume',
        'set-speed',
        'complete',
        'finalize',
        'dismiss',
      ]),
      send('job-cancel', { id: 'fast' }),
      ...endsCancelled('backup', 'slow', SIZE, MiB, 1),
      ...endsCancelled('backup', 'fast', SIZE, SIZE),
      ok(),
    ],
  },
  {
    name: 'verbs-unknown-job',
    about:
      'lookup errors: job-* say GenericError "Job not found", block-job-* say DeviceNotActive; lookup precedes the speed check (§4.2)',
    blockdevs: [],
    steps: [
      ...[
        'job-pause',
        'job-resume',
        'job-cancel',
        'job-complete',
        'job-finalize',
        'job-dismiss',
      ].flatMap((command) => [send(command, { id: 'nope' }), generic('Job not found')]),
      ...['block-job-pause', 'block-job-resume', 'block-job-cancel', 'block-job-complete'].flatMap(
        (command) => [
          send(command, { device: 'nope' }),
          fails('DeviceNotActive', "Block job 'nope' not found"),
        ],
      ),
      ...['block-job-finalize', 'block-job-dismiss'].flatMap((command) => [
        send(command, { id: 'nope' }),
        fails('DeviceNotActive', "Block job 'nope' not found"),
      ]),
      send('block-job-set-speed', { device: 'nope', speed: -1 }),
      fails('DeviceNotActive', "Block job 'nope' not found"),
      send('query-jobs'),
      ok([]),
      send('query-block-jobs'),
      ok([]),
    ],
  },
  {
    name: 'verbs-argument-errors',
    about: 'QAPI argument errors of the job commands, and an unknown command (§4.3)',
    blockdevs: [],
    steps: [
      send('job-pause', {}),
      generic("Parameter 'id' is missing"),
      send('job-pause', { id: 1 }),
      generic("Invalid parameter type for 'id', expected: string"),
      send('job-cancel', { id: 'x', foo: 1 }),
      generic("Parameter 'foo' is unexpected"),
      send('block-job-set-speed', { device: 'x', speed: 1.5 }),
      generic("Invalid parameter type for 'speed', expected: integer"),
      send('block-job-set-speed', { device: 'x' }),
      generic("Parameter 'speed' is missing"),
      send('block-job-cancel', { device: 'x', force: 'yes' }),
      generic("Invalid parameter type for 'force', expected: boolean"),
      send('transaction', { actions: [], properties: { 'completion-mode': 'bogus' } }),
      generic("Parameter 'completion-mode' does not accept value 'bogus'"),
      send('job-foo', { id: 'x' }),
      fails('CommandNotFound', 'The command job-foo has not been found'),
      // Any id is echoed, on errors too.
      { send: 'job-dismiss', arguments: { id: 'x' }, id: 'dismiss-x' },
      generic('Job not found'),
      { send: 'query-jobs', id: 0 },
      ok([]),
    ],
  },
  {
    name: 'pause-nesting-and-drains',
    about:
      'one user pause at a time; a drain (empty transaction) pauses and resumes a running job but leaves a user-paused one silent; resume needs a user pause (§5.5, §7)',
    ...twoLayerChain,
    steps: [
      ...throttledStream(),
      send('transaction', { actions: [] }),
      ...statuses('s1', 'paused', 'running'),
      ok(),
      // 7.2: the end of the drain wakes the throttled stream for one more chunk; 10.0 waits out
      // the rate-limit delay it still owes (so does the resume below).
      byVersion({ '7.2': [idleAt('s1', 2 * STREAM_CHUNK)], '10.0': [idleAt('s1', STREAM_CHUNK)] }),
      send('job-pause', { id: 's1' }),
      status('s1', 'paused'),
      ok(),
      send('block-job-pause', { device: 's1' }),
      generic('Job is already paused'),
      send('transaction', { actions: [] }),
      ok(),
      send('job-resume', { id: 's1' }),
      status('s1', 'running'),
      ok(),
      byVersion({ '7.2': [idleAt('s1', 3 * STREAM_CHUNK)], '10.0': [idleAt('s1', STREAM_CHUNK)] }),
      send('block-job-resume', { device: 's1' }),
      generic(notPaused),
      ...call('block-job-set-speed', { device: 's1', speed: 0 }),
      ...statuses('s1', 'waiting', 'pending'),
      completed('stream', 's1', SIZE),
      ...statuses('s1', 'concluded', 'null'),
    ],
  },
];
