// Found by the differential tester (helper "difftest", finding mirror-converges-on-wake): a
// throttled mirror that has copied everything sleeps the rate-limit delay of its last chunk
// before its loop sees the source clean. Whatever wakes it early — a resume, a drain's end, a
// faster speed — runs the loop on to that check at once: READY comes inside the waking command,
// before its reply. Expected values: QEMU 7.2.22.
//
// QEMU 10.0 (block_job_ratelimit_sleep) makes a woken job sleep again until the whole delay it
// owes has passed, so a resume, a drain's end or a slightly faster speed copies nothing: the
// mirror stays asleep at its first chunk. Only lifting the limit (speed 0) lets it go on; it
// copies the three buffers left, yielding between them, and is ready after that command's reply. Expected values of
// the 10.0 steps: QEMU 10.0.2.

import {
  byVersion,
  call,
  idleAt,
  ok,
  ready,
  type Scenario,
  type Step,
  send,
  status,
  statuses,
} from '../src/scenario.js';
import { becomesReady, completesReady, MiB, nullCo } from './common.js';

const SIZE = 64 * MiB;
/** The mirror's buffer: the one chunk a throttled mirror copies each time it is woken. */
const CHUNK = 16 * MiB;
/** Slow enough that the delay after a chunk never runs out during a scenario. */
const SPEED = 512;
const nodes = [nullCo('src', SIZE), nullCo('dst', SIZE)];

/** Start m1 throttled; pause and resume it until every chunk is copied (it sleeps after each). */
const copyAllThrottled = () => [
  send('blockdev-mirror', {
    'job-id': 'm1',
    device: 'src',
    target: 'dst',
    sync: 'full',
    speed: SPEED,
  }),
  ...statuses('m1', 'created', 'running'),
  ok(),
  idleAt('m1', CHUNK),
  ...[2, 3, 4].flatMap((chunks) => [
    send('job-pause', { id: 'm1' }),
    status('m1', 'paused'),
    ok(),
    send('job-resume', { id: 'm1' }),
    status('m1', 'running'),
    ok(),
    idleAt('m1', chunks * CHUNK),
  ]),
];

/** QEMU 10.0: the woken mirror copied nothing more; speed 0 lets it copy the rest, READY after the reply. */
const owedDelayThenUnthrottled = (): Step[] => [
  idleAt('m1', CHUNK),
  ...call('block-job-set-speed', { device: 'm1', speed: 0 }),
  ...becomesReady('mirror', 'm1', SIZE),
  ...cancelReady(0),
];

/** QEMU 10.0: start m1 throttled; it copies its first chunk and sleeps for the rest. */
const firstChunkThrottled = (): Step[] => [
  send('blockdev-mirror', {
    'job-id': 'm1',
    device: 'src',
    target: 'dst',
    sync: 'full',
    speed: SPEED,
  }),
  ...statuses('m1', 'created', 'running'),
  ok(),
  idleAt('m1', CHUNK),
];

/** A soft cancel of the ready mirror completes it without a pivot, after the reply. */
const cancelReady = (speed: number) =>
  completesReady('mirror', 'm1', SIZE, {
    command: 'block-job-cancel',
    args: { device: 'm1' },
    speed,
  });

export const mirrorConvergesOnWakeScenarios: Scenario[] = [
  {
    name: 'mirror-copied-all-resumed-is-ready-before-the-reply',
    about:
      'a throttled mirror asleep after its last chunk, paused and resumed: running, ready and BLOCK_JOB_READY before job-resume’s reply (§8.3)',
    blockdevs: nodes,
    steps: [
      byVersion({
        '7.2': [
          ...copyAllThrottled(),
          send('job-pause', { id: 'm1' }),
          status('m1', 'paused'),
          ok(),
          send('job-resume', { id: 'm1' }),
          ...statuses('m1', 'running', 'ready'),
          ready('mirror', 'm1', SIZE, SIZE, SPEED),
          ok(),
          ...cancelReady(SPEED),
        ],
        '10.0': [
          ...firstChunkThrottled(),
          send('job-pause', { id: 'm1' }),
          status('m1', 'paused'),
          ok(),
          send('job-resume', { id: 'm1' }),
          status('m1', 'running'),
          ok(),
          ...owedDelayThenUnthrottled(),
        ],
      }),
    ],
  },
  {
    name: 'mirror-copied-all-drained-is-ready-before-the-reply',
    about:
      'a throttled mirror asleep after its last chunk, woken by a drain (empty transaction): paused, running, ready and BLOCK_JOB_READY before the reply (§8.3)',
    blockdevs: nodes,
    steps: [
      byVersion({
        '7.2': [
          ...copyAllThrottled(),
          send('transaction', { actions: [] }),
          ...statuses('m1', 'paused', 'running', 'ready'),
          ready('mirror', 'm1', SIZE, SIZE, SPEED),
          ok(),
          ...cancelReady(SPEED),
        ],
        '10.0': [
          ...firstChunkThrottled(),
          send('transaction', { actions: [] }),
          ...statuses('m1', 'paused', 'running'),
          ok(),
          ...owedDelayThenUnthrottled(),
        ],
      }),
    ],
  },
  {
    name: 'mirror-copied-all-faster-is-ready-before-the-reply',
    about:
      'a throttled mirror asleep after its last chunk, given a higher speed: ready and BLOCK_JOB_READY before block-job-set-speed’s reply (§8.3)',
    blockdevs: nodes,
    steps: [
      byVersion({
        '7.2': [
          ...copyAllThrottled(),
          send('block-job-set-speed', { device: 'm1', speed: 2 * SPEED }),
          ...becomesReady('mirror', 'm1', SIZE, 2 * SPEED),
          ok(),
          ...cancelReady(2 * SPEED),
        ],
        '10.0': [
          ...firstChunkThrottled(),
          ...call('block-job-set-speed', { device: 'm1', speed: 2 * SPEED }),
          ...owedDelayThenUnthrottled(),
        ],
      }),
    ],
  },
  {
    name: 'mirror-last-chunk-left-unthrottled-is-ready-before-the-reply',
    about:
      'a throttled mirror with one buffer left, set to speed 0: it copies that chunk and is ready before block-job-set-speed’s reply (§8.3)',
    blockdevs: nodes,
    steps: [
      byVersion({
        '7.2': [
          send('blockdev-mirror', {
            'job-id': 'm1',
            device: 'src',
            target: 'dst',
            sync: 'full',
            speed: SPEED,
          }),
          ...statuses('m1', 'created', 'running'),
          ok(),
          idleAt('m1', CHUNK),
          ...[2, 3].flatMap((chunks) => [
            send('job-pause', { id: 'm1' }),
            status('m1', 'paused'),
            ok(),
            send('job-resume', { id: 'm1' }),
            status('m1', 'running'),
            ok(),
            idleAt('m1', chunks * CHUNK),
          ]),
          send('block-job-set-speed', { device: 'm1', speed: 0 }),
          ...becomesReady('mirror', 'm1', SIZE),
          ok(),
          ...cancelReady(0),
        ],
        // Three buffers left: the mirror yields between them, READY comes after the reply.
        '10.0': [...firstChunkThrottled(), ...owedDelayThenUnthrottled()],
      }),
    ],
  },
];
