// Persistent dirty bitmaps in qcow2 images (issue 16): the image's bitmaps are loaded when its
// node opens and flagged in-use in the file while it is open, stored when the node closes, and
// taken out of the file when removed. Real QEMU tools read and write the same image between the
// daemon's opens: qemu-img/qemu-io make the first bitmap and its bits, qemu-img info and check
// read what the daemon stored, qemu-io writes through the stored bitmaps. Expected values:
// qemu-storage-daemon 7.2.22 (and 10.0.2 where marked).

import { fileNodeInfo, qcow2NodeInfo } from '../src/block-node-info.js';
import {
  anyInt,
  call,
  event,
  generic,
  ok,
  type Pattern,
  run,
  type Scenario,
  type Step,
  send,
} from '../src/scenario.js';
import { bitmapInfo } from './bitmaps.js';
import { MiB } from './common.js';

const SIZE = 64 * MiB;
const IMAGE = 'img.qcow2';
const layout = anyInt('the image file grows by what the daemon allocated: guest data on QEMU');

/** What `qemu-img info` (or, with `-U`, while the daemon has it open) says of the bitmaps. */
const imageBitmaps = (json: string, forceShare = false): Step =>
  run(
    'bash',
    [
      '-o',
      'pipefail',
      '-c',
      `qemu-img info ${forceShare ? '-U ' : ''}--output=json ${IMAGE} | jq -c '.["format-specific"].data.bitmaps'`,
    ],
    { stdout: `${json}\n` },
  );

/** `qemu-img check`: errors, corruptions, leaks (the offsets and cluster counts vary). */
const imageChecks = run(
  'bash',
  [
    '-o',
    'pipefail',
    '-c',
    `qemu-img check --output=json ${IMAGE} | jq -c '[.["check-errors"], .corruptions // 0, .leaks // 0]'`,
  ],
  { stdout: '[0,0,0]\n' },
);

type StoredFlags = ReadonlyArray<'in-use' | 'auto'>;
const stored = (name: string, granularity: number, flags: StoredFlags) => ({
  name,
  granularity,
  flags: [...flags],
});

/** The qcow2 node q0 over file node f0, as query-named-block-nodes shows them (q0 first). */
function nodes(
  bitmaps: readonly Pattern[],
  inImage: readonly ReturnType<typeof stored>[],
  q0 = 'q0',
  f0 = 'f0',
  readOnly = false,
): Pattern[] {
  return [
    qcow2NodeInfo({
      nodeName: q0,
      filename: IMAGE,
      size: SIZE,
      actualSize: layout,
      readOnly,
      bitmaps,
      bitmapsInImage: inImage,
    }),
    fileNodeInfo({ nodeName: f0, filename: IMAGE, size: layout, readOnly }),
  ];
}

const persistent = (
  name: string,
  options: { granularity?: number; recording?: boolean; count?: number } = {},
) => ({ ...bitmapInfo(name, options), persistent: true });

const query = (...expected: Pattern[]): Step[] => [
  send('query-named-block-nodes', { flat: true }),
  ok(expected),
];

const sha256 = (name: string, hash: string): Step[] => [
  send('x-debug-block-dirty-bitmap-sha256', { node: 'q0', name }),
  ok({ sha256: hash }),
];

const qcow2Node = { driver: 'qcow2', 'node-name': 'q0', file: 'f0' };

export const persistentBitmapScenarios: Scenario[] = [
  {
    name: 'persistent-bitmaps-stored-on-close-loaded-on-open',
    about:
      "a bitmap qemu-img and qemu-io made is loaded with its bits and flagged in-use in the image while the node is open; new persistent bitmaps reach the image only when the node closes (blockdev-del), appended to the directory in the node's order (newest first), `auto` when recording; qemu-img check finds the image clean; qemu-io loads the stored bitmaps and adds its writes; reopened, the node has them back newest first in directory order reversed; a removed persistent bitmap leaves the image at once",
    setup: [
      { qemuImg: ['create', '-q', '-f', 'qcow2', IMAGE, '64M'] },
      { qemuImg: ['bitmap', '--add', IMAGE, 'b0'] },
      { qemuIo: { image: IMAGE, commands: ['write 0 64k', 'write 5M 4k'] } },
    ],
    blockdevs: [
      JSON.stringify({ driver: 'file', 'node-name': 'f0', filename: IMAGE }),
      JSON.stringify(qcow2Node),
    ],
    steps: [
      ...query(
        ...nodes(
          [persistent('b0', { count: 2 * 65536 })],
          [stored('b0', 65536, ['in-use', 'auto'])],
        ),
      ),
      ...call('block-dirty-bitmap-add', { node: 'q0', name: 'b1', persistent: true }),
      ...call('block-dirty-bitmap-add', {
        node: 'q0',
        name: 'b2',
        persistent: true,
        disabled: true,
        granularity: 4096,
      }),
      ...call('block-dirty-bitmap-add', { node: 'q0', name: 'b3' }),
      imageBitmaps('[{"flags":["in-use","auto"],"name":"b0","granularity":65536}]', true),
      ...call('nbd-server-start', { addr: { type: 'unix', data: { path: 'nbd.sock' } } }),
      ...call('block-export-add', { type: 'nbd', id: 'e0', 'node-name': 'q0', writable: true }),
      run(
        'bash',
        [
          '-o',
          'pipefail',
          '-c',
          "qemu-io -f raw -c 'write 1M 4k' -c 'write 10M 1M' 'nbd+unix:///q0?socket=nbd.sock' | grep -v ' ops; '",
        ],
        {
          stdout:
            'wrote 4096/4096 bytes at offset 1048576\nwrote 1048576/1048576 bytes at offset 10485760\n',
        },
      ),
      ...call('block-dirty-bitmap-merge', { node: 'q0', target: 'b2', bitmaps: ['b0'] }),
      send('block-export-del', { id: 'e0' }),
      event('BLOCK_EXPORT_DELETED', { id: 'e0' }),
      ok(),
      ...query(
        ...nodes(
          [
            bitmapInfo('b3', { count: 17 * 65536 }),
            persistent('b2', { granularity: 4096, recording: false, count: 304 * 4096 }),
            persistent('b1', { count: 17 * 65536 }),
            persistent('b0', { count: 19 * 65536 }),
          ],
          [stored('b0', 65536, ['in-use', 'auto'])],
        ),
      ),
      ...sha256('b0', '060e5709f4d1233c8f52f1e5b53da9f22cd88a843a51de1efdaae9963b5785f0'),
      ...sha256('b2', 'ee68c8b00a2a73ac2c49c2cda6ac2ca4439cc539d1719a1b23dcd77c1bca4464'),
      ...call('blockdev-del', { 'node-name': 'q0' }),
      imageBitmaps(
        '[{"flags":["auto"],"name":"b0","granularity":65536},{"flags":[],"name":"b2","granularity":4096},{"flags":["auto"],"name":"b1","granularity":65536}]',
        true,
      ),
      ...call('blockdev-del', { 'node-name': 'f0' }),
      imageChecks,
      run('bash', ['-c', `qemu-io -c 'write 20M 64k' ${IMAGE} | grep -v ' ops; '`], {
        stdout: 'wrote 65536/65536 bytes at offset 20971520\n',
      }),
      ...call('blockdev-add', { driver: 'file', 'node-name': 'f0', filename: IMAGE }),
      ...call('blockdev-add', qcow2Node),
      ...query(
        ...nodes(
          [
            persistent('b1', { count: 18 * 65536 }),
            persistent('b2', { granularity: 4096, recording: false, count: 304 * 4096 }),
            persistent('b0', { count: 20 * 65536 }),
          ],
          [
            stored('b0', 65536, ['in-use', 'auto']),
            stored('b2', 4096, ['in-use']),
            stored('b1', 65536, ['in-use', 'auto']),
          ],
        ),
      ),
      ...sha256('b2', 'ee68c8b00a2a73ac2c49c2cda6ac2ca4439cc539d1719a1b23dcd77c1bca4464'),
      ...call('block-dirty-bitmap-remove', { node: 'q0', name: 'b2' }),
      imageBitmaps(
        '[{"flags":["in-use","auto"],"name":"b0","granularity":65536},{"flags":["in-use","auto"],"name":"b1","granularity":65536}]',
        true,
      ),
    ],
  },
  {
    name: 'persistent-bitmap-in-use-in-the-image-loads-inconsistent',
    about:
      'while a writable node has the image open its bitmaps are in-use in the file, so a second, read-only open of the same file (locking off) loads them inconsistent: count 0, only removal allowed, and removal is refused as the bitmap is read-only',
    setup: [
      { qemuImg: ['create', '-q', '-f', 'qcow2', IMAGE, '64M'] },
      { qemuImg: ['bitmap', '--add', IMAGE, 'b0'] },
      { qemuIo: { image: IMAGE, commands: ['write 0 64k'] } },
    ],
    blockdevs: [
      JSON.stringify({ driver: 'file', 'node-name': 'f0', filename: IMAGE }),
      JSON.stringify(qcow2Node),
    ],
    steps: [
      ...call('blockdev-add', {
        driver: 'file',
        'node-name': 'f1',
        filename: IMAGE,
        'read-only': true,
        locking: 'off',
      }),
      ...call('blockdev-add', {
        driver: 'qcow2',
        'node-name': 'q1',
        file: 'f1',
        'read-only': true,
      }),
      ...query(
        ...nodes(
          [{ ...persistent('b0', { recording: false }), inconsistent: true }],
          [stored('b0', 65536, ['in-use', 'auto'])],
          'q1',
          'f1',
          true,
        ),
        ...nodes([persistent('b0', { count: 65536 })], [stored('b0', 65536, ['in-use', 'auto'])]),
      ),
      send('x-debug-block-dirty-bitmap-sha256', { node: 'q1', name: 'b0' }),
      ok({ sha256: '38723a2e5e8a17aa7950dc008209944e898f69a7bd10a23c839d341e935fd5ca' }),
      send('block-dirty-bitmap-enable', { node: 'q1', name: 'b0' }),
      generic("Bitmap 'b0' is inconsistent and cannot be used"),
      send('block-dirty-bitmap-remove', { node: 'q1', name: 'b0' }),
      generic("Bitmap 'b0' is readonly and cannot be modified"),
      ...call('blockdev-del', { 'node-name': 'q1' }),
      ...call('blockdev-del', { 'node-name': 'q0' }),
      imageBitmaps('[{"flags":["auto"],"name":"b0","granularity":65536}]'),
    ],
  },
];
