// Guest data in qcow2 image files (issue 16): what a guest writes through an export reaches the
// qcow2 file as QEMU puts it there — new clusters allocated from the start of the file after
// their L2 table, written in place once held, zero clusters for zero writes (keeping their host
// cluster unless the writer allows a hole, which frees it for the next allocation) — so that
// `qemu-img map` (host offsets included), `qemu-img check` and `qemu-io` on the file agree with
// QEMU's. QEMU 10.0 frees a zeroed cluster only on a node opened with discard=unmap; 7.2 with the
// default discard=ignore too. Expected values: qemu-storage-daemon 7.2.22 and 10.0.2 (and the
// same writes by their qemu-io on a file).

import {
  byVersion,
  completed,
  idleAt,
  ok,
  run,
  type Scenario,
  type Step,
  send,
  statuses,
} from '../src/scenario.js';
import { MiB } from './common.js';
import { qemuIoPrints } from './guest-data.js';

const SOCKET = 'nbd.sock';
const uri = (name: string) => `nbd+unix:///${name}?socket=${SOCKET}`;
const K64 = 65536;
const wrote = (bytes: number, offset: number) =>
  `wrote ${bytes}/${bytes} bytes at offset ${offset}`;
const read = (bytes: number, offset: number) => `read ${bytes}/${bytes} bytes at offset ${offset}`;

/** `qemu-img map` of a qcow2 file: [start, length, present, data, zero, host offset] lines. */
const mapPrints = (file: string, lines: ReadonlyArray<readonly unknown[]>): Step =>
  run(
    'bash',
    [
      '-o',
      'pipefail',
      '-c',
      `qemu-img map -U -f qcow2 --output=json ${file} | jq -c '.[] | [.start, .length, .present, .data, .zero, .offset]'`,
    ],
    { stdout: lines.map((l) => `${JSON.stringify(l)}\n`).join('') },
  );

const checkPrints = (file: string, lines: readonly string[]): Step =>
  run('qemu-img', ['check', '-U', '-f', 'qcow2', file], {
    stdout: lines.map((l) => `${l}\n`).join(''),
  });

/** Map lines when the unmapping zero write freed cluster 0's host cluster (5M took it). */
const FREED: ReadonlyArray<readonly unknown[]> = [
  [0, K64, true, false, true, null],
  [K64, K64, true, true, false, 458752],
  [2 * K64, MiB - 2 * K64, false, false, true, null],
  [MiB, K64, true, false, true, 327680],
  [MiB + K64, MiB - K64, false, false, true, null],
  [2 * MiB, K64, true, false, true, null],
  [2 * MiB + K64, 2 * MiB - K64, false, false, true, null],
  [4 * MiB, K64, true, false, true, null],
  [4 * MiB + K64, MiB - K64, false, false, true, null],
  [5 * MiB, K64, true, true, false, 393216],
  [5 * MiB + K64, 595 * MiB - K64, false, false, true, null],
  [600 * MiB, K64, true, true, false, 589824],
  [600 * MiB + K64, 424 * MiB - K64, false, false, true, null],
];
const FREED_CHECK = [
  'No errors were found on the image.',
  '4/16384 = 0.02% allocated, 25.00% fragmented, 0.00% compressed clusters',
  'Image end offset: 655360',
];
/** …and when it kept it (a zero cluster at 393216; 5M got a new one). */
const KEPT: ReadonlyArray<readonly unknown[]> = FREED.map((line) =>
  line[0] === 0
    ? [0, K64, true, false, true, 393216]
    : line[0] === 5 * MiB
      ? [5 * MiB, K64, true, true, false, 655360]
      : line,
);
const KEPT_CHECK = [
  'No errors were found on the image.',
  '5/16384 = 0.03% allocated, 40.00% fragmented, 0.00% compressed clusters',
  'Image end offset: 720896',
];

const writesReachTheImage = (discard: 'unmap' | undefined): Scenario => ({
  name: `guest-data-qcow2-writes-reach-the-image-file${discard === undefined ? '' : '-discard-unmap'}`,
  about:
    'guest writes through an export of a qcow2 node land in its image file: a partial write allocates a whole cluster after a new L2 table, a write beyond the first L2 table allocates a second one, zero writes make zero clusters (the one allowing a hole frees its host cluster, which the next write takes), a partial zero write into a data cluster writes zeroes; qemu-img map, qemu-img check and qemu-io see the file as QEMU left it',
  setup: [{ qemuImg: ['create', '-q', '-f', 'qcow2', 'img.qcow2', String(1024 * MiB)] }],
  blockdevs: [
    JSON.stringify({
      driver: 'qcow2',
      'node-name': 'img',
      ...(discard === undefined ? {} : { discard }),
      file: { driver: 'file', filename: 'img.qcow2' },
    }),
  ],
  steps: [
    send('nbd-server-start', { addr: { type: 'unix', data: { path: SOCKET } } }),
    ok(),
    send('block-export-add', {
      type: 'nbd',
      id: 'e0',
      'node-name': 'img',
      name: 'img',
      writable: true,
    }),
    ok(),
    qemuIoPrints(
      uri('img'),
      ['-f', 'raw'],
      [
        'write -P 0x11 1M 4k',
        'write -P 0x22 0 128k',
        'write -z 4M 64k',
        'write -P 0x33 600M 64k',
        'write -z 1M 64k',
        'write -z -u 0 64k',
        'write -P 0x44 5M 64k',
        'write -z 2M 4k',
        'write -z 68k 4k',
      ],
      [
        wrote(4096, MiB),
        wrote(2 * K64, 0),
        wrote(K64, 4 * MiB),
        wrote(K64, 600 * MiB),
        wrote(K64, MiB),
        wrote(K64, 0),
        wrote(K64, 5 * MiB),
        wrote(4096, 2 * MiB),
        wrote(4096, 68 * 1024),
      ],
    ),
    discard === 'unmap'
      ? mapPrints('img.qcow2', FREED)
      : byVersion({
          '7.2': [mapPrints('img.qcow2', FREED)],
          '10.0': [mapPrints('img.qcow2', KEPT)],
        }),
    discard === 'unmap'
      ? checkPrints('img.qcow2', FREED_CHECK)
      : byVersion({
          '7.2': [checkPrints('img.qcow2', FREED_CHECK)],
          '10.0': [checkPrints('img.qcow2', KEPT_CHECK)],
        }),
    qemuIoPrints(
      'img.qcow2',
      ['-r', '-U', '-f', 'qcow2'],
      [
        'read -P 0 0 64k',
        'read -P 0x22 64k 4k',
        'read -P 0 68k 4k',
        'read -P 0x22 72k 56k',
        'read -P 0 1M 64k',
        'read -P 0x44 5M 64k',
        'read -P 0x33 600M 64k',
      ],
      [
        read(K64, 0),
        read(4096, K64),
        read(4096, 68 * 1024),
        read(56 * 1024, 72 * 1024),
        read(K64, MiB),
        read(K64, 5 * MiB),
        read(K64, 600 * MiB),
      ],
    ),
  ],
});

const SIZE = 16 * MiB;

const backupIntoQcow2: Scenario = {
  name: 'guest-data-backup-into-a-qcow2-target-reaches-its-file-at-close',
  about:
    "a full backup of a raw file the guest wrote into a qcow2 target: once the target node is closed its file holds the copy — data clusters for the source's data, zero clusters for its holes — and qemu-img compare, map and check see it as QEMU left it",
  setup: [
    { qemuImg: ['create', '-q', '-f', 'raw', 'src.raw', String(SIZE)] },
    { qemuImg: ['create', '-q', '-f', 'qcow2', 'tgt.qcow2', String(SIZE)] },
  ],
  blockdevs: [
    JSON.stringify({ driver: 'file', 'node-name': 'src', filename: 'src.raw' }),
    JSON.stringify({
      driver: 'qcow2',
      'node-name': 'tgt',
      file: { driver: 'file', filename: 'tgt.qcow2' },
    }),
  ],
  steps: [
    send('nbd-server-start', { addr: { type: 'unix', data: { path: SOCKET } } }),
    ok(),
    send('block-export-add', {
      type: 'nbd',
      id: 'e0',
      'node-name': 'src',
      name: 'src',
      writable: true,
    }),
    ok(),
    qemuIoPrints(
      uri('src'),
      ['-f', 'raw'],
      ['write -P 0x11 0 2M', 'write -P 0x22 8M 1M', 'write -P 0x66 12M 64k'],
      [wrote(2 * MiB, 0), wrote(MiB, 8 * MiB), wrote(K64, 12 * MiB)],
    ),
    send('blockdev-backup', {
      'job-id': 'j',
      device: 'src',
      target: 'tgt',
      sync: 'full',
      speed: 4096,
    }),
    ...statuses('j', 'created', 'running', 'paused', 'running'),
    ok(),
    idleAt('j', MiB),
    send('block-job-set-speed', { device: 'j', speed: 0 }),
    ok(),
    ...statuses('j', 'waiting', 'pending'),
    completed('backup', 'j', SIZE),
    ...statuses('j', 'concluded', 'null'),
    send('blockdev-del', { 'node-name': 'tgt' }),
    ok(),
    run('qemu-img', ['compare', '-U', '-f', 'raw', '-F', 'qcow2', 'src.raw', 'tgt.qcow2'], {
      stdout: 'Images are identical.\n',
    }),
    // Where block-copy's parallel requests allocate differs from run to run: no host offsets, and
    // neighbouring extents of one kind are merged (QEMU splits them where the offsets jump).
    run(
      'bash',
      [
        '-o',
        'pipefail',
        '-c',
        "qemu-img map -U -f qcow2 --output=json tgt.qcow2 | jq -c 'reduce .[] as $e ([]; if length > 0 and .[-1][2:] == [$e.present, $e.data, $e.zero] then .[-1][1] += $e.length else . + [[$e.start, $e.length, $e.present, $e.data, $e.zero]] end) | .[]'",
      ],
      {
        stdout: [
          [0, 2 * MiB, true, true, false],
          [2 * MiB, 6 * MiB, true, false, true],
          [8 * MiB, MiB, true, true, false],
          [9 * MiB, 3 * MiB, true, false, true],
          [12 * MiB, K64, true, true, false],
          [12 * MiB + K64, 4 * MiB - K64, true, false, true],
        ]
          .map((l) => `${JSON.stringify(l)}\n`)
          .join(''),
      },
    ),
    run(
      'bash',
      ['-o', 'pipefail', '-c', 'qemu-img check -U -f qcow2 tgt.qcow2 | grep -v fragmented'],
      {
        stdout: 'No errors were found on the image.\nImage end offset: 3538944\n',
      },
    ),
  ],
};

const compressedClusters: Scenario = {
  name: 'guest-data-qcow2-compressed-clusters-read-and-rewritten',
  about:
    "an export reads a qcow2 image's compressed clusters (zlib) as written; a guest write into one allocates a new cluster holding the rest of the decompressed data and drops one reference to the compressed data's host cluster; qemu-img map and check and qemu-io on the file agree with QEMU's",
  setup: [
    { qemuImg: ['create', '-q', '-f', 'qcow2', 'img.qcow2', String(16 * MiB)] },
    {
      qemuIo: {
        image: 'img.qcow2',
        commands: ['write -c -P 0x55 0 64k', 'write -c -P 0x66 1M 128k', 'write -P 0x77 2M 64k'],
      },
    },
  ],
  blockdevs: [
    JSON.stringify({
      driver: 'qcow2',
      'node-name': 'img',
      file: { driver: 'file', filename: 'img.qcow2' },
    }),
  ],
  steps: [
    send('nbd-server-start', { addr: { type: 'unix', data: { path: SOCKET } } }),
    ok(),
    send('block-export-add', {
      type: 'nbd',
      id: 'e0',
      'node-name': 'img',
      name: 'img',
      writable: true,
    }),
    ok(),
    qemuIoPrints(
      uri('img'),
      ['-f', 'raw'],
      [
        'read -P 0x55 0 64k',
        'read -P 0x66 1M 128k',
        'read -P 0x77 2M 64k',
        'write -P 0x88 4k 4k',
        'read -P 0x55 0 4k',
        'read -P 0x88 4k 4k',
        'read -P 0x55 8k 56k',
      ],
      [
        read(K64, 0),
        read(2 * K64, MiB),
        read(K64, 2 * MiB),
        wrote(4096, 4096),
        read(4096, 0),
        read(4096, 4096),
        read(56 * 1024, 8192),
      ],
    ),
    mapPrints('img.qcow2', [
      [0, K64, true, true, false, 458752],
      [K64, MiB - K64, false, false, true, null],
      [MiB, 2 * K64, true, true, false, null],
      [MiB + 2 * K64, MiB - 2 * K64, false, false, true, null],
      [2 * MiB, K64, true, true, false, 393216],
      [2 * MiB + K64, 14 * MiB - K64, false, false, true, null],
    ]),
    checkPrints('img.qcow2', [
      'No errors were found on the image.',
      '4/256 = 1.56% allocated, 75.00% fragmented, 50.00% compressed clusters',
      'Image end offset: 524288',
    ]),
    qemuIoPrints(
      'img.qcow2',
      ['-r', '-U', '-f', 'qcow2'],
      ['read -P 0x55 0 4k', 'read -P 0x88 4k 4k', 'read -P 0x66 1M 128k'],
      [read(4096, 0), read(4096, 4096), read(2 * K64, MiB)],
    ),
  ],
};

export const qcow2GuestDataScenarios: Scenario[] = [
  writesReachTheImage(undefined),
  writesReachTheImage('unmap'),
  backupIntoQcow2,
  compressedClusters,
];
