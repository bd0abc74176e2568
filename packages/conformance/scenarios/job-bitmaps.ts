// The anonymous dirty bitmaps a running backup or mirror holds (issue 16), as
// query-named-block-nodes lists them with the job's filter node: a backup's copy bitmap counts
// what it has still to copy, its copy-before-write filter has an access bitmap (all set) and a
// done bitmap (empty); a mirror's bitmap counts what is still dirty. QEMU 7.2 keeps the job's
// bitmap on the source (a background mirror's records), 10.0 on the filter (never recording).
// All of them are gone with the filter when the job ends. Expected values: qemu-storage-daemon
// 7.2.22 and 10.0.2 (the filters are named, so no generated `#block` name is compared).

import { filterNodeInfo } from '../src/block-node-info.js';
import {
  byVersion,
  call,
  cancelled,
  completed,
  idleAt,
  ok,
  type Pattern,
  ready,
  type Scenario,
  type Step,
  send,
  status,
  statuses,
} from '../src/scenario.js';
import { bitmapInfo, nullCoInfo } from './bitmaps.js';
import { MiB, nullCo } from './common.js';

const SIZE = 64 * MiB;
const nodes = [nullCo('n0', SIZE), nullCo('t0', SIZE)];

/** A filter node above null-co n0, as query-named-block-nodes (flat) lists it. */
const filterInfo = (name: string, driver: string, bitmaps: readonly Pattern[]): Pattern =>
  filterNodeInfo(name, driver, SIZE, bitmaps);

const anonymous = (count: number, options: { granularity?: number; recording?: boolean } = {}) =>
  bitmapInfo(undefined, { recording: false, count, ...options });

/** The nodes with the job's filter on top; each version's bitmaps. */
function nodesWithFilter(
  filter: { name: string; driver: string; bitmaps: readonly Pattern[] },
  n0: readonly Pattern[],
): Step[] {
  return [
    send('query-named-block-nodes', { flat: true }),
    ok([
      filterInfo(filter.name, filter.driver, filter.bitmaps),
      nullCoInfo('t0', SIZE),
      nullCoInfo('n0', SIZE, n0.length === 0 ? undefined : n0),
    ]),
  ];
}

const withoutFilter = (n0: readonly Pattern[]): Step[] => [
  send('query-named-block-nodes', { flat: true }),
  ok([nullCoInfo('t0', SIZE), nullCoInfo('n0', SIZE, n0.length === 0 ? undefined : n0)]),
];

const b0 = bitmapInfo('b0');
const access = anonymous(SIZE);
const done = anonymous(0);

/** A backup's nodes while `left` bytes are still to copy (b0: the user's bitmap on n0). */
const backupNodes = (left: number): Step =>
  byVersion({
    '7.2': nodesWithFilter({ name: 'cbw', driver: 'copy-before-write', bitmaps: [access, done] }, [
      anonymous(left),
      b0,
    ]),
    '10.0': nodesWithFilter(
      { name: 'cbw', driver: 'copy-before-write', bitmaps: [access, done, anonymous(left)] },
      [b0],
    ),
  });

/** A mirror's nodes while `dirty` bytes are dirty; `recording72`: its bitmap records on 7.2. */
const mirrorNodes = (dirty: number, granularity: number, recording72: boolean): Step =>
  byVersion({
    '7.2': nodesWithFilter({ name: 'mt', driver: 'mirror_top', bitmaps: [] }, [
      anonymous(dirty, { granularity, recording: recording72 }),
      b0,
    ]),
    '10.0': nodesWithFilter(
      { name: 'mt', driver: 'mirror_top', bitmaps: [anonymous(dirty, { granularity })] },
      [b0],
    ),
  });

const backup = (extra: Record<string, unknown>): Step =>
  send('blockdev-backup', {
    'job-id': 'j',
    device: 'n0',
    target: 't0',
    'filter-node-name': 'cbw',
    speed: 1,
    ...extra,
  });

const mirror = (extra: Record<string, unknown>): Step =>
  send('blockdev-mirror', {
    'job-id': 'm',
    device: 'n0',
    target: 't0',
    sync: 'full',
    'filter-node-name': 'mt',
    speed: 1,
    ...extra,
  });

export const jobBitmapScenarios: Scenario[] = [
  {
    name: 'backup-job-bitmaps',
    about:
      "a throttled full backup after its first 1 MiB chunk: block-copy's copy bitmap counts the 63 MiB left (7.2: on the source, ahead of the user's bitmap; 10.0: on the filter, after its access and done bitmaps); set free, the backup completes and every anonymous bitmap is gone with its filter; a sync=none backup has everything left",
    blockdevs: nodes,
    steps: [
      ...call('block-dirty-bitmap-add', { node: 'n0', name: 'b0' }),
      backup({ sync: 'full' }),
      ...statuses('j', 'created', 'running', 'paused', 'running'),
      ok(),
      idleAt('j', MiB),
      backupNodes(SIZE - MiB),
      // No named BlockBackends on qemu-storage-daemon: query-block has nothing to list.
      send('query-block'),
      ok([]),
      send('block-job-set-speed', { device: 'j', speed: 0 }),
      ...statuses('j', 'waiting', 'pending'),
      completed('backup', 'j', SIZE, SIZE, 0),
      ...statuses('j', 'concluded', 'null'),
      ok(),
      ...withoutFilter([b0]),
      backup({ sync: 'none' }),
      ...statuses('j', 'created', 'running', 'paused', 'running'),
      ok(),
      backupNodes(SIZE),
      send('job-cancel', { id: 'j' }),
      ...statuses('j', 'aborting'),
      cancelled('backup', 'j', SIZE, 0, 1),
      ...statuses('j', 'concluded', 'null'),
      ok(),
      ...withoutFilter([b0]),
    ],
  },
  {
    name: 'mirror-job-bitmaps',
    about:
      'a throttled full mirror after its first 16 MiB chunk: its dirty bitmap counts the 48 MiB left (7.2: on the source, recording; 10.0: on mirror_top, not recording), 0 once READY; in write-blocking mode with granularity 1 MiB it has that granularity and does not record on 7.2 either; gone with the filter when the job ends',
    blockdevs: nodes,
    steps: [
      ...call('block-dirty-bitmap-add', { node: 'n0', name: 'b0' }),
      mirror({}),
      ...statuses('m', 'created', 'running'),
      ok(),
      idleAt('m', 16 * MiB),
      mirrorNodes(48 * MiB, 65536, true),
      ...call('block-job-set-speed', { device: 'm', speed: 0 }),
      status('m', 'ready'),
      ready('mirror', 'm', SIZE),
      mirrorNodes(0, 65536, true),
      ...call('job-cancel', { id: 'm' }),
      ...statuses('m', 'aborting'),
      cancelled('mirror', 'm', SIZE, SIZE, 0),
      ...statuses('m', 'concluded', 'null'),
      ...withoutFilter([b0]),
      mirror({ 'copy-mode': 'write-blocking', granularity: MiB }),
      ...statuses('m', 'created', 'running'),
      ok(),
      idleAt('m', 16 * MiB),
      mirrorNodes(48 * MiB, MiB, false),
      ...call('job-cancel', { id: 'm' }),
      ...statuses('m', 'aborting'),
      cancelled('mirror', 'm', SIZE, 16 * MiB, 1),
      ...statuses('m', 'concluded', 'null'),
      ...withoutFilter([b0]),
    ],
  },
];
