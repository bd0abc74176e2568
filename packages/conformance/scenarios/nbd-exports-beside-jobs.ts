// NBD exports beside a throttled backup and a ready mirror, found by the differential tester's io
// family (fuzz:diff --family io): the drains of letting go of an export, 10.0's graph changes at
// attach and detach, permission conflicts with the jobs' users of the node, and the order of
// query-block-exports and of the jobs' filter nodes. Expected values: qemu-storage-daemon 7.2.22
// and 10.0.2.

import { bitmapInfo, filterNodeInfo, nullCoInfo } from '../src/block-node-info.js';
import {
  byVersion,
  cancelled,
  event,
  generic,
  idleAt,
  ok,
  ready,
  type Scenario,
  type Step,
  send,
  status,
  statuses,
} from '../src/scenario.js';
import { MiB, nullCo } from './common.js';

const SIZE = 64 * MiB;
const NODES = ['src1', 'dst1', 'msrc', 'mdst', 'src2'];

/** b1 (backup of src1) drained and resumed once. */
const b1Pair = statuses('b1', 'paused', 'running');
/** 10.0: one change of the graph under the write lock, with b1 running and m1 ready. */
const allPair = [
  ...statuses('b1', 'paused'),
  status('m1', 'standby'),
  status('b1', 'running'),
  status('m1', 'ready'),
];
/** Per version: 7.2's steps, or 10.0's. */
const v = (on72: readonly Step[], on10: readonly Step[]): Step =>
  byVersion({ '7.2': on72, '10.0': on10 });
const add = (args: Record<string, unknown>): Step =>
  send('block-export-add', { type: 'nbd', ...args });
const conflict = (node: string, perms: string, by: string): Step =>
  generic(
    `Permission conflict on node '${node}': permissions '${perms}' are both required by an unnamed block device (uses node '${node}' as 'root' child) and unshared by ${by}.`,
  );
const exportInfo = (id: string, node: string) => ({
  id,
  type: 'nbd',
  'node-name': node,
  'shutting-down': false,
});
const anonymous = (count: number, recording = false) => bitmapInfo(undefined, { recording, count });

export const nbdExportsBesideJobsScenarios: Scenario[] = [
  {
    name: 'nbd-exports-beside-a-backup-and-a-mirror',
    about:
      "block-export-add/-del and nbd-server-stop beside a throttled backup (filter f1) and a ready mirror (filter f2): attaching drains nothing on 7.2 and changes the graph once on 10.0; letting go of an export (del, server stop, a refusal by the NBD server) drains its node twice (10.0: then a graph change); permission conflicts with the backup's filter (writable source) and the mirror's target; query-block-exports newest first; query-named-block-nodes with both filters, newest first; nbd-server-stop's BLOCK_EXPORT_DELETED oldest first after each export's drains (7.2) or all at the end newest first (10.0)",
    blockdevs: NODES.map((n) => nullCo(n, SIZE)),
    steps: [
      send('blockdev-backup', {
        'job-id': 'b1',
        device: 'src1',
        target: 'dst1',
        sync: 'full',
        speed: 1,
        'filter-node-name': 'f1',
      }),
      ...statuses('b1', 'created', 'running', 'paused', 'running'),
      ok(),
      idleAt('b1', MiB),
      send('blockdev-mirror', {
        'job-id': 'm1',
        device: 'msrc',
        target: 'mdst',
        sync: 'full',
        'filter-node-name': 'f2',
      }),
      v([], [...b1Pair, ...b1Pair]),
      status('m1', 'created'),
      v([], [...b1Pair, ...b1Pair]),
      status('m1', 'running'),
      ok(),
      status('m1', 'ready'),
      ready('mirror', 'm1', SIZE),
      // Refused by the NBD server after the export was attached to src1: let go again.
      add({ id: 'e1', 'node-name': 'src1' }),
      v([...b1Pair, ...b1Pair], [...allPair, ...b1Pair, ...b1Pair, ...allPair]),
      generic('NBD server not running'),
      // A mirror's target shares nothing: refused before the NBD server is asked.
      add({ id: 'e1', 'node-name': 'mdst' }),
      v([], allPair),
      conflict(
        'mdst',
        'consistent read',
        "an unnamed block device (uses node 'mdst' as 'root' child)",
      ),
      send('nbd-server-start', { addr: { type: 'unix', data: { path: 'nbd.sock' } } }),
      ok(),
      add({ id: 'e1', 'node-name': 'mdst', writable: true }),
      v([], allPair),
      conflict(
        'mdst',
        'consistent read, write',
        "an unnamed block device (uses node 'mdst' as 'root' child)",
      ),
      // The backup's copy-before-write filter does not share `write` on its source.
      add({ id: 'e1', 'node-name': 'src1', writable: true }),
      v([], allPair),
      conflict('src1', 'write', "node 'f1' (uses node 'src1' as 'file' child)"),
      add({ id: 'e1', 'node-name': 'src1' }),
      v([], allPair),
      ok(),
      add({ id: 'e2', 'node-name': 'msrc', writable: true }),
      v([], allPair),
      ok(),
      add({ id: 'e3', 'node-name': 'dst1', writable: true, name: 'd1' }),
      v([], allPair),
      ok(),
      send('query-block-exports'),
      // Newest first; an export added after a job's filter uses the node below the filter.
      ok([exportInfo('e3', 'dst1'), exportInfo('e2', 'msrc'), exportInfo('e1', 'src1')]),
      send('query-named-block-nodes', { flat: true }),
      v(
        [
          ok([
            filterNodeInfo('f2', 'mirror_top', SIZE, []),
            filterNodeInfo('f1', 'copy-before-write', SIZE, [anonymous(SIZE), anonymous(0)]),
            nullCoInfo('src2', SIZE),
            nullCoInfo('mdst', SIZE),
            nullCoInfo('msrc', SIZE, [anonymous(0, true)]),
            nullCoInfo('dst1', SIZE),
            nullCoInfo('src1', SIZE, [anonymous(SIZE - MiB)]),
          ]),
        ],
        [
          ok([
            filterNodeInfo('f2', 'mirror_top', SIZE, [anonymous(0)]),
            filterNodeInfo('f1', 'copy-before-write', SIZE, [
              anonymous(SIZE),
              anonymous(0),
              anonymous(SIZE - MiB),
            ]),
            ...['src2', 'mdst', 'msrc', 'dst1', 'src1'].map((n) => nullCoInfo(n, SIZE)),
          ]),
        ],
      ),
      send('block-export-del', { id: 'e1' }),
      v([...b1Pair, ...b1Pair], [...b1Pair, ...b1Pair, ...allPair]),
      event('BLOCK_EXPORT_DELETED', { id: 'e1' }),
      ok(),
      // Oldest export first: e2 (msrc, the mirror's source), then e3 (dst1, the backup's target).
      send('nbd-server-stop'),
      v(
        [
          ...statuses('m1', 'standby', 'ready', 'standby', 'ready'),
          event('BLOCK_EXPORT_DELETED', { id: 'e2' }),
          ...b1Pair,
          ...b1Pair,
          event('BLOCK_EXPORT_DELETED', { id: 'e3' }),
        ],
        [
          ...statuses('m1', 'standby', 'ready', 'standby', 'ready'),
          ...allPair,
          ...b1Pair,
          ...b1Pair,
          ...allPair,
          event('BLOCK_EXPORT_DELETED', { id: 'e3' }),
          event('BLOCK_EXPORT_DELETED', { id: 'e2' }),
        ],
      ),
      ok(),
      send('query-block-exports'),
      ok([]),
      send('job-cancel', { id: 'b1' }),
      status('b1', 'aborting'),
      v([], statuses('m1', 'standby', 'ready', 'standby', 'ready', 'standby', 'ready')),
      cancelled('backup', 'b1', SIZE, MiB, 1),
      ...statuses('b1', 'concluded', 'null'),
      v([], statuses('m1', 'standby', 'ready')),
      ok(),
      send('job-cancel', { id: 'm1' }),
      ok(),
      status('m1', 'aborting'),
      cancelled('mirror', 'm1', SIZE, SIZE),
      ...statuses('m1', 'concluded', 'null'),
    ],
  },
];
