// Issue 12/16: the filter node each job puts in while it runs, as query-named-block-nodes lists
// it (first: it is the newest node) — a commit's read-only commit_top above its top node, a
// stream's copy-on-read above its device (shown by its options, a `json:` filename), an active
// commit's mirror_top above the device with the mirror's dirty bitmap (on the device on 7.2, on
// the filter on 10.0) — and what the graph looks like when an active commit completes: the
// filter took the device's parents (an NBD export's BlockBackend names it), and the completion
// puts the base in the device's place (bdrv_replace_node), so the export moves to the base, and
// the top and the image between can be deleted while the base cannot. Expected values:
// qemu-storage-daemon 7.2.22 and 10.0.2 (the filters are named; generated file-node names and
// the sizes of image files, which hold no guest data on qmpkit-server, are not compared).

import { fileNodeInfo, NODE_DEFAULTS, qcow2NodeInfo } from '../src/block-node-info.js';
import {
  anyInt,
  anyString,
  byVersion,
  call,
  cancelled,
  completed,
  generic,
  idle,
  ok,
  type Pattern,
  ready,
  type Scenario,
  type Step,
  send,
  status,
  statuses,
} from '../src/scenario.js';
import { bitmapInfo } from './bitmaps.js';
import { MiB, qcow2 } from './common.js';

const SIZE = 64 * MiB;
const SOCKET = 'nbd.sock';

/** base (empty) ← mid (8 MiB of data) ← top (1 MiB): throttled jobs stay running. */
const chain = {
  setup: [
    { qemuImg: ['create', '-q', '-f', 'qcow2', 'base.qcow2', '64M'] },
    { qemuImg: ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'mid.qcow2'] },
    { qemuIo: { image: 'mid.qcow2', commands: ['write 0 8M'] } },
    { qemuImg: ['create', '-q', '-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2', 'top.qcow2'] },
    { qemuIo: { image: 'top.qcow2', commands: ['write 0 1M'] } },
  ],
  blockdevs: [
    qcow2('base', 'base.qcow2'),
    qcow2('mid', 'mid.qcow2', { backing: 'base' }),
    qcow2('top', 'top.qcow2', { backing: 'mid' }),
  ],
};

const fileSize = anyInt('the image file holds no guest data on qmpkit-server');

/** A qcow2 node of the chain (flat), with the dirty bitmaps it carries. */
function qcow2Node(name: string, backing?: string, bitmaps?: readonly Pattern[]): Pattern {
  return qcow2NodeInfo({
    nodeName: name,
    filename: `${name}.qcow2`,
    size: SIZE,
    actualSize: fileSize,
    ...(backing === undefined ? {} : { backing: `${backing}.qcow2` }),
    ...(bitmaps === undefined ? {} : { bitmaps }),
  });
}

/** The file node under a qcow2 node (its generated name is not compared). */
function fileNode(filename: string): Pattern {
  return fileNodeInfo({ nodeName: anyString('a generated node name'), filename, size: fileSize });
}

/** A job's filter node (flat): its child's filename, size and cluster size under its driver. */
function filterNode(
  name: string,
  driver: string,
  filename: string,
  options: { ro?: boolean; bitmaps?: readonly Pattern[] } = {},
): Pattern {
  return {
    ...NODE_DEFAULTS,
    'node-name': name,
    drv: driver,
    ro: options.ro ?? false,
    file: filename,
    ...(options.bitmaps === undefined ? {} : { 'dirty-bitmaps': options.bitmaps }),
    image: {
      'virtual-size': SIZE,
      filename,
      'cluster-size': 65536,
      format: driver,
      'actual-size': fileSize,
      'dirty-flag': false,
    },
  };
}

/** query-named-block-nodes (flat): `first` (a job's filter), then the chain, top first. */
function nodes(first: readonly Pattern[], top: { bitmaps?: readonly Pattern[] } = {}): Step[] {
  return [
    send('query-named-block-nodes', { flat: true }),
    ok([
      ...first,
      qcow2Node('top', 'mid', top.bitmaps),
      fileNode('top.qcow2'),
      qcow2Node('mid', 'base'),
      fileNode('mid.qcow2'),
      qcow2Node('base'),
      fileNode('base.qcow2'),
    ]),
  ];
}

const COR_FILENAME =
  'json:{"driver": "copy-on-read", "file": {"driver": "qcow2", "file": {"driver": "file", "filename": "top.qcow2"}}}';

/** Active commit a1 (unthrottled) reaches READY, having copied what top holds above base. */
const becomesReady: Step[] = [
  status('a1', 'ready'),
  ready('commit', 'a1', anyInt('what the commit copied'), anyInt('what the commit copied')),
];

/** The active commit's dirty bitmap: nothing left to copy once it is ready. */
const commitBitmap = (recording: boolean) => bitmapInfo(undefined, { recording, count: 0 });

export const jobFilterNodeScenarios: Scenario[] = [
  {
    name: 'commit-stream-and-active-commit-filter-nodes-while-they-run',
    about:
      'while a throttled commit of mid into base runs, its read-only commit_top filter (named cf) is listed first with mid’s filename; a throttled stream of top shows its copy-on-read filter (sf) by its options; a ready active commit its mirror_top filter (af) with the mirror’s bitmap (7.2: on top, recording; 10.0: on the filter); each goes with its job',
    ...chain,
    steps: [
      send('block-commit', {
        'job-id': 'c1',
        device: 'top',
        'top-node': 'mid',
        'base-node': 'base',
        speed: 1,
        'filter-node-name': 'cf',
      }),
      ...statuses('c1', 'created', 'running'),
      ok(),
      idle('c1'),
      ...nodes([filterNode('cf', 'commit_top', 'mid.qcow2', { ro: true })]),
      send('job-cancel', { id: 'c1' }),
      status('c1', 'aborting'),
      cancelled('commit', 'c1', SIZE, anyInt('progress at the cancel'), 1),
      ...statuses('c1', 'concluded', 'null'),
      ok(),
      ...nodes([]),
      send('block-stream', { 'job-id': 's1', device: 'top', speed: 1, 'filter-node-name': 'sf' }),
      ...statuses('s1', 'created', 'running'),
      ok(),
      idle('s1'),
      ...nodes([filterNode('sf', 'copy-on-read', COR_FILENAME)]),
      send('job-cancel', { id: 's1' }),
      status('s1', 'aborting'),
      cancelled('stream', 's1', SIZE, anyInt('progress at the cancel'), 1),
      ...statuses('s1', 'concluded', 'null'),
      ok(),
      send('block-commit', { 'job-id': 'a1', device: 'top', 'filter-node-name': 'af' }),
      ...statuses('a1', 'created', 'running'),
      ok(),
      ...becomesReady,
      byVersion({
        '7.2': nodes([filterNode('af', 'mirror_top', 'top.qcow2')], {
          bitmaps: [commitBitmap(true)],
        }),
        '10.0': nodes([
          filterNode('af', 'mirror_top', 'top.qcow2', { bitmaps: [commitBitmap(false)] }),
        ]),
      }),
      ...call('job-complete', { id: 'a1' }),
      ...statuses('a1', 'waiting', 'pending'),
      completed('commit', 'a1', anyInt('copied'), anyInt('copied')),
      ...statuses('a1', 'concluded', 'null'),
      ...nodes([]),
    ],
  },
  {
    name: 'active-commit-completion-puts-the-base-in-the-top-s-place',
    about:
      'an NBD export of top: while an active commit runs, the export’s BlockBackend sits on its mirror_top filter (query-block-exports names it); job-complete puts the base in top’s place, so the export now uses base: top and mid can be deleted, base is in use',
    ...chain,
    steps: [
      ...call('nbd-server-start', { addr: { type: 'unix', data: { path: SOCKET } } }),
      ...call('block-export-add', { type: 'nbd', id: 'e0', 'node-name': 'top' }),
      send('block-commit', { 'job-id': 'a1', device: 'top', 'filter-node-name': 'af' }),
      ...statuses('a1', 'created', 'running'),
      ok(),
      ...becomesReady,
      send('query-block-exports'),
      ok([{ 'node-name': 'af', 'shutting-down': false, type: 'nbd', id: 'e0' }]),
      ...call('job-complete', { id: 'a1' }),
      ...statuses('a1', 'waiting', 'pending'),
      completed('commit', 'a1', anyInt('copied'), anyInt('copied')),
      ...statuses('a1', 'concluded', 'null'),
      send('query-block-exports'),
      ok([{ 'node-name': 'base', 'shutting-down': false, type: 'nbd', id: 'e0' }]),
      send('blockdev-del', { 'node-name': 'base' }),
      generic('Node base is in use'),
      ...call('blockdev-del', { 'node-name': 'top' }),
      ...call('blockdev-del', { 'node-name': 'mid' }),
      send('block-stream', { 'job-id': 's1', device: 'top' }),
      generic("Cannot find device='top' nor node-name='top'"),
    ],
  },
];
