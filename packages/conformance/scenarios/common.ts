// Building blocks shared by the scenario files: block node definitions, sizes, and the step runs
// many scenarios share (a backup starting, a job becoming ready, a ready job completing, a
// cancelled job ending).

import {
  byVersion,
  call,
  cancelled,
  completed,
  ok,
  ready,
  type Step,
  send,
  status,
  statuses,
  type Volatile,
} from '../src/scenario.js';

export const MiB = 1024 * 1024;

/** A `null-co` node (no data, instant I/O unless `latency-ns` is given). */
export function nullCo(
  nodeName: string,
  size: number,
  extra: Record<string, unknown> = {},
): string {
  return JSON.stringify({ driver: 'null-co', 'node-name': nodeName, size, ...extra });
}

/** A qcow2 node over a file in the scenario directory; `backing: null` cuts the chain there. */
export function qcow2(
  nodeName: string,
  filename: string,
  extra: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    driver: 'qcow2',
    'node-name': nodeName,
    file: { driver: 'file', filename },
    ...extra,
  });
}

/** A blkdebug node over `image` (a node name) with error injection rules. */
export function blkdebug(
  nodeName: string,
  image: string,
  injectError: ReadonlyArray<Record<string, unknown>>,
): string {
  return JSON.stringify({
    driver: 'blkdebug',
    'node-name': nodeName,
    image,
    'inject-error': injectError,
  });
}

/**
 * base.qcow2 (64 MiB, 4 MiB of data at 0) ← top.qcow2 (empty): nodes `base` and `top`. A stream
 * counts unallocated ranges as free progress, so a throttled stream of this chain copies 8 chunks
 * of 512 KiB and then finishes at once: each pause/resume or drain lets one chunk through (§8.3).
 */
export const twoLayerChain = {
  setup: [
    { qemuImg: ['create', '-q', '-f', 'qcow2', 'base.qcow2', '64M'] },
    { qemuIo: { image: 'base.qcow2', commands: ['write 0 4M'] } },
    { qemuImg: ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2'] },
  ],
  blockdevs: [qcow2('base', 'base.qcow2'), qcow2('top', 'top.qcow2', { backing: 'base' })],
} as const;

/**
 * base.qcow2 (1 MiB at 0) ← mid.qcow2 (1 MiB at 8M) ← top.qcow2 (1 MiB at 16M), 64 MiB each:
 * nodes `base`, `mid`, `top`.
 */
export const threeLayerChain = {
  setup: [
    { qemuImg: ['create', '-q', '-f', 'qcow2', 'base.qcow2', '64M'] },
    { qemuIo: { image: 'base.qcow2', commands: ['write 0 1M'] } },
    { qemuImg: ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'mid.qcow2'] },
    { qemuIo: { image: 'mid.qcow2', commands: ['write 8M 1M'] } },
    { qemuImg: ['create', '-q', '-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2', 'top.qcow2'] },
    { qemuIo: { image: 'top.qcow2', commands: ['write 16M 1M'] } },
  ],
  blockdevs: [
    qcow2('base', 'base.qcow2'),
    qcow2('mid', 'mid.qcow2', { backing: 'base' }),
    qcow2('top', 'top.qcow2', { backing: 'mid' }),
  ],
} as const;

/**
 * A three-image qcow2 chain whose layers hold separate stretches: base [0, 4M), mid [8M, 12M),
 * top [16M, 17M) (images base.qcow2, mid.qcow2, top.qcow2; open them as the scenario needs).
 */
export const spreadChainSetup = [
  { qemuImg: ['create', '-q', '-f', 'qcow2', 'base.qcow2', '64M'] },
  { qemuIo: { image: 'base.qcow2', commands: ['write 0 4M'] } },
  { qemuImg: ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'mid.qcow2'] },
  { qemuIo: { image: 'mid.qcow2', commands: ['write 8M 4M'] } },
  { qemuImg: ['create', '-q', '-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2', 'top.qcow2'] },
  { qemuIo: { image: 'top.qcow2', commands: ['write 16M 1M'] } },
];

/**
 * What `times` graph changes show of another job on QEMU 10.0: each takes the block graph's
 * write lock, which drains every node, so a running job pauses and resumes (a ready mirror goes
 * to standby and back) once per change. 7.2's graph lock drains nothing.
 */
export function graphChanges(id: string, times: number, ready = false): Step[] {
  const pair = ready ? (['standby', 'ready'] as const) : (['paused', 'running'] as const);
  return Array.from({ length: times }, () => statuses(id, ...pair)).flat();
}

/** A job reaching ready: JOB_STATUS_CHANGE ready, then BLOCK_JOB_READY with all of `len` done. */
export function becomesReady(type: string, id: string, len: number, speed = 0): Step[] {
  return [status(id, 'ready'), ready(type, id, len, len, speed)];
}

/**
 * A job's successful end once it has nothing left to do: waiting, pending, BLOCK_JOB_COMPLETED
 * with all of `len` done, concluded, null (auto-finalize and auto-dismiss on, §5.6).
 */
export function concludesOk(type: string, id: string, len: number, speed = 0): Step[] {
  return [
    ...statuses(id, 'waiting', 'pending'),
    completed(type, id, len, len, speed),
    ...statuses(id, 'concluded', 'null'),
  ];
}

/**
 * A ready job finished by `command` — job-complete by default; block-job-complete, or a soft
 * block-job-cancel, which completes without a pivot (§6.2, §6.3): the reply `{}` comes first,
 * then the successful end.
 */
export function completesReady(
  type: string,
  id: string,
  len: number,
  options: { command?: string; args?: Record<string, unknown>; speed?: number } = {},
): Step[] {
  return [
    ...call(options.command ?? 'job-complete', options.args ?? { id }),
    ...concludesOk(type, id, len, options.speed),
  ];
}

/**
 * A cancelled job's end (auto-dismiss on): aborting, BLOCK_JOB_CANCELLED with `offset` of `len`
 * done, concluded, null (§6.3).
 */
export function endsCancelled(
  type: string,
  id: string,
  len: number | Volatile,
  offset: number | Volatile,
  speed = 0,
): Step[] {
  return [
    status(id, 'aborting'),
    cancelled(type, id, len, offset, speed),
    ...statuses(id, 'concluded', 'null'),
  ];
}

/**
 * blockdev-backup `args` accepted: the job is created and runs inside the command's drained
 * section, so it shows a paused/running pair before the reply `{}` (§5.7).
 */
export function backupStarts(
  args: { readonly 'job-id': string } & Record<string, unknown>,
): Step[] {
  return [
    send('blockdev-backup', args),
    ...statuses(args['job-id'], 'created', 'running', 'paused', 'running'),
    ok(),
  ];
}

/**
 * The events of a backup `id` accepted while the job `other` runs, before the reply: on 7.2 the
 * command's drained section pauses `other` once, then `id` starts inside its own (§5.7); on 10.0
 * bdrv_drain_all() and `id`'s filter put in (four graph changes) drain `other` before `id` is
 * created, and attaching the filter (one more) after.
 */
export function backupStartsBeside(other: string, id: string): Step {
  return byVersion({
    '7.2': [
      ...statuses(other, 'paused', 'running'),
      ...statuses(id, 'created', 'running', 'paused', 'running'),
    ],
    '10.0': [
      ...graphChanges(other, 5),
      status(id, 'created'),
      ...graphChanges(other, 1),
      ...statuses(id, 'running', 'paused', 'running'),
    ],
  });
}

/**
 * The end of a backup `id` while the job `other` runs: `end` (its BLOCK_JOB_CANCELLED or
 * BLOCK_JOB_COMPLETED), concluded, null; on 10.0 `id`'s filter going (three graph changes)
 * drains `other` before, and `id` being freed (one) after.
 */
export function backupEndsBeside(other: string, id: string, end: Step): Step {
  return byVersion({
    '7.2': [end, ...statuses(id, 'concluded', 'null')],
    '10.0': [
      ...graphChanges(other, 3),
      end,
      ...statuses(id, 'concluded', 'null'),
      ...graphChanges(other, 1),
    ],
  });
}
