// A throttled active commit (block-commit of the device itself: the mirror engine, type commit).
// Its dirty areas are the separate stretches the images above the base hold; each mirror
// iteration copies one contiguous stretch, then sleeps. Converging needs a flush of the base
// image file, which completes in a later main-loop turn: READY comes after the reply of the
// command that woke it. Expected values: QEMU 7.2.22.
//
// QEMU 10.0 makes a woken job wait out the rate-limit delay it owes (block_job_ratelimit_sleep),
// so the wake copies nothing; lifting the limit (speed 0) lets it copy the second stretch and
// converge, READY again after that command's reply. Expected values of the 10.0 steps: QEMU
// 10.0.2.

import {
  byVersion,
  call,
  completed,
  idleAt,
  ok,
  ready,
  type Scenario,
  send,
  status,
  statuses,
} from '../src/scenario.js';
import { MiB, qcow2, spreadChainSetup } from './common.js';

/** base holds [0, 4M), mid [8M, 12M), top [16M, 17M): 5 MiB above the base, in two stretches. */
const chain = {
  setup: spreadChainSetup,
  blockdevs: [
    qcow2('base', 'base.qcow2'),
    qcow2('mid', 'mid.qcow2', { backing: 'base' }),
    qcow2('top', 'top.qcow2', { backing: 'mid' }),
  ],
};
const LEN = 5 * MiB;

/** Pause and resume c1: it copies one more stretch (or converges) after the reply. */
const wake = [
  send('job-pause', { id: 'c1' }),
  status('c1', 'paused'),
  ok(),
  send('job-resume', { id: 'c1' }),
  status('c1', 'running'),
  ok(),
];

export const activeCommitScenarios: Scenario[] = [
  {
    name: 'active-commit-throttled-copies-one-stretch-per-wake',
    about:
      'an active commit at speed 1: the first iteration copies mid’s 4 MiB stretch and sleeps; woken, it copies top’s 1 MiB; woken again it converges, READY after the reply; job-complete ends it',
    ...chain,
    steps: [
      send('block-commit', { 'job-id': 'c1', device: 'top', speed: 1 }),
      ...statuses('c1', 'created', 'running'),
      ok(),
      idleAt('c1', 4 * MiB),
      ...wake,
      byVersion({
        '7.2': [
          idleAt('c1', LEN),
          ...wake,
          status('c1', 'ready'),
          ready('commit', 'c1', LEN, LEN, 1),
          ...call('job-complete', { id: 'c1' }),
          ...statuses('c1', 'waiting', 'pending'),
          completed('commit', 'c1', LEN, LEN, 1),
        ],
        '10.0': [
          idleAt('c1', 4 * MiB),
          ...call('block-job-set-speed', { device: 'c1', speed: 0 }),
          status('c1', 'ready'),
          ready('commit', 'c1', LEN, LEN, 0),
          ...call('job-complete', { id: 'c1' }),
          ...statuses('c1', 'waiting', 'pending'),
          completed('commit', 'c1', LEN, LEN, 0),
        ],
      }),
      ...statuses('c1', 'concluded', 'null'),
    ],
  },
];
