// Guest data (issue 16): what a guest writes through an export reaches the node's raw image file,
// and jobs copy it to their targets, so the real qemu-io, qemu-img compare and qemu-img map see
// the same files and the same export contents on qmpkit-server as on QEMU. A backup's target
// holds what the source held when the job started: guest writes go through the backup's
// copy-before-write filter (an export added before the job follows the graph onto the filter; a
// writable export added while the backup runs is refused by QEMU, the filter sharing no write
// permission). Expected values: qemu-storage-daemon 7.2.22.

import {
  blockJobInfo,
  byVersion,
  completed,
  fails,
  idleAt,
  ok,
  pollBlockJob,
  run,
  type Scenario,
  type Step,
  send,
  since,
  statuses,
} from '../src/scenario.js';
import { becomesReady, MiB } from './common.js';

const SIZE = 16 * MiB;
const SOCKET = 'nbd.sock';
const uri = (name: string) => `nbd+unix:///${name}?socket=${SOCKET}`;

/** Runs `qemu-io` with these commands on a target; it must print these lines (timing left out). */
export const qemuIoPrints = (
  target: string,
  options: readonly string[],
  commands: readonly string[],
  lines: readonly string[],
): Step =>
  run(
    'bash',
    [
      '-o',
      'pipefail',
      '-c',
      `qemu-io ${options.join(' ')} ${commands.map((c) => `-c '${c}'`).join(' ')} '${target}' | grep -v ' ops; '`,
    ],
    { stdout: lines.map((l) => `${l}\n`).join('') },
  );

const wrote = (bytes: number, offset: number) =>
  `wrote ${bytes}/${bytes} bytes at offset ${offset}`;
const read = (bytes: number, offset: number) => `read ${bytes}/${bytes} bytes at offset ${offset}`;
const K64 = 65536;

const rawFiles = (...names: string[]) =>
  names.map((n) => ({ qemuImg: ['create', '-q', '-f', 'raw', `${n}.raw`, String(SIZE)] }));
const fileNode = (name: string) =>
  JSON.stringify({ driver: 'file', 'node-name': name, filename: `${name}.raw` });
const exportNode = (id: string, node: string, name: string, writable: boolean): Step[] => [
  send('block-export-add', { type: 'nbd', id, 'node-name': node, name, writable }),
  ok(),
];

export const guestDataScenarios: Scenario[] = [
  {
    name: 'guest-data-backup-target-holds-the-source-as-at-start',
    about:
      "writes through an export reach the raw image file; a throttled full backup's target then holds what the source held at the start, also where the guest overwrote the source before the job copied it (copy-before-write) or after; qemu-io reads the target over NBD and the source from its file, qemu-img compare finds the first difference, qemu-img map sees the same allocation",
    setup: rawFiles('src', 'tgt'),
    blockdevs: [fileNode('src'), fileNode('tgt')],
    steps: [
      send('nbd-server-start', { addr: { type: 'unix', data: { path: SOCKET } } }),
      ok(),
      ...exportNode('e0', 'src', 'above', true),
      qemuIoPrints(
        uri('above'),
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
      qemuIoPrints(
        uri('above'),
        ['-f', 'raw'],
        ['write -P 0x33 8M 64k', 'write -P 0x55 0 64k', 'write -P 0x44 12M 64k'],
        [wrote(K64, 8 * MiB), wrote(K64, 0), wrote(K64, 12 * MiB)],
      ),
      send('block-job-set-speed', { device: 'j', speed: 0 }),
      ok(),
      ...statuses('j', 'waiting', 'pending'),
      completed('backup', 'j', SIZE),
      ...statuses('j', 'concluded', 'null'),
      ...exportNode('e2', 'tgt', 'target', false),
      qemuIoPrints(
        uri('target'),
        ['-r', '-f', 'raw'],
        [
          'read -P 0x11 0 64k',
          'read -P 0x11 1M 1M',
          'read -P 0x22 8M 1M',
          'read -P 0x66 12M 64k',
          'read -P 0 2M 6M',
        ],
        [
          read(K64, 0),
          read(MiB, MiB),
          read(MiB, 8 * MiB),
          read(K64, 12 * MiB),
          read(6 * MiB, 2 * MiB),
        ],
      ),
      qemuIoPrints(
        'src.raw',
        ['-r', '-U', '-f', 'raw'],
        ['read -P 0x55 0 64k', 'read -P 0x33 8M 64k', 'read -P 0x22 9371648 64k'],
        [read(K64, 0), read(K64, 8 * MiB), read(K64, 9 * MiB - K64)],
      ),
      run('qemu-img', ['compare', '-U', '-f', 'raw', '-F', 'raw', 'src.raw', 'tgt.raw'], {
        exitCode: 1,
        stdout: 'Content mismatch at offset 0!\n',
      }),
      run(
        'bash',
        [
          '-o',
          'pipefail',
          '-c',
          "qemu-img map -U -f raw --output=json tgt.raw | jq -c '.[] | [.start, .length, .data, .zero]'",
        ],
        {
          stdout: [
            [0, 2 * MiB, true, false],
            [2 * MiB, 6 * MiB, false, true],
            [8 * MiB, MiB, true, false],
            [9 * MiB, 3 * MiB, false, true],
            [12 * MiB, K64, true, false],
            [12 * MiB + K64, 4 * MiB - K64, false, true],
          ]
            .map((r) => `${JSON.stringify(r)}\n`)
            .join(''),
        },
      ),
    ],
  },
];

/** Polls until the block job is done with all it knows of: offset = len = `len`. */
const caughtUpAt = (device: string, len: number): Step =>
  pollBlockJob(device, `caught up at ${len}`, (j) => j.offset === len && j.len === len);

const mirrorWithGuestWrites = (mode: 'background' | 'write-blocking'): Scenario => {
  // Where the write below the filter is copied: a 7.2 background mirror only.
  const after = (v: '7.2' | '10.0') =>
    SIZE + K64 + (v === '7.2' && mode === 'background' ? K64 : 0);
  const tail = (v: '7.2' | '10.0'): Step[] => [
    caughtUpAt('j', after(v)),
    send('query-block-jobs'),
    ok([
      blockJobInfo('mirror', 'j', {
        len: after(v),
        offset: after(v),
        status: 'ready',
        ready: true,
        ...(mode === 'write-blocking' ? { 'actively-synced': since('10.0', true) } : {}),
      }),
    ]),
    send('job-complete', { id: 'j' }),
    ok(),
    ...statuses('j', 'waiting', 'pending'),
    completed('mirror', 'j', after(v)),
    ...statuses('j', 'concluded', 'null'),
    after(v) === SIZE + 2 * K64
      ? run('qemu-img', ['compare', '-U', '-f', 'raw', '-F', 'raw', 'src.raw', 'tgt.raw'], {
          stdout: 'Images are identical.\n',
        })
      : run('qemu-img', ['compare', '-U', '-f', 'raw', '-F', 'raw', 'src.raw', 'tgt.raw'], {
          exitCode: 1,
          stdout: `Content mismatch at offset ${8 * MiB}!\n`,
        }),
  ];
  const addBelow = send('block-export-add', {
    type: 'nbd',
    id: 'e1',
    'node-name': 'src',
    name: 'below',
    writable: true,
  });
  return {
    name: `guest-data-ready-${mode}-mirror-copies-guest-writes`,
    about: `a ready ${mode} mirror of a raw file: a guest write through an export added before the job (which follows the graph onto mirror_top) grows len and offset by its 64 KiB and reaches the target; a write through an export added while it runs (below the filter) is copied only in 7.2's background mode (its dirty bitmap is on the source; 10.0's is on the filter); qemu-img compare after completion; 10.0 drains the job for block-export-add`,
    setup: rawFiles('src', 'tgt'),
    blockdevs: [fileNode('src'), fileNode('tgt')],
    steps: [
      send('nbd-server-start', { addr: { type: 'unix', data: { path: SOCKET } } }),
      ok(),
      ...exportNode('e0', 'src', 'above', true),
      qemuIoPrints(uri('above'), ['-f', 'raw'], ['write -P 0x11 0 1M'], [wrote(MiB, 0)]),
      send('blockdev-mirror', {
        'job-id': 'j',
        device: 'src',
        target: 'tgt',
        sync: 'full',
        'copy-mode': mode,
      }),
      ...statuses('j', 'created', 'running'),
      ok(),
      ...becomesReady('mirror', 'j', SIZE),
      qemuIoPrints(uri('above'), ['-f', 'raw'], ['write -P 0x22 4M 64k'], [wrote(K64, 4 * MiB)]),
      caughtUpAt('j', SIZE + K64),
      byVersion({
        '7.2': [addBelow, ok()],
        '10.0': [addBelow, ...statuses('j', 'standby', 'ready'), ok()],
      }),
      qemuIoPrints(uri('below'), ['-f', 'raw'], ['write -P 0x33 8M 64k'], [wrote(K64, 8 * MiB)]),
      byVersion({ '7.2': tail('7.2'), '10.0': tail('10.0') }),
    ],
  };
};

guestDataScenarios.push(
  mirrorWithGuestWrites('background'),
  mirrorWithGuestWrites('write-blocking'),
);

const K4 = 4096;

/**
 * `block-job-change` (QEMU 8.2 on) switching a ready mirror to write-blocking: from then on a guest
 * write through mirror_top is written to the target before the guest's write completes, and the
 * job counts the bytes written (block/mirror.c, active mirroring), where a background mirror
 * marks the write's granules dirty and copies whole granules. Measured on qemu-storage-daemon
 * 10.0.2 and 7.2.22 (which has no block-job-change).
 */
const ENDS_AT = { '7.2': SIZE + 2 * K64, '10.0': SIZE + K64 + K4 } as const;
const changedReadyMirror = (v: '7.2' | '10.0'): Step[] => [
  ...(v === '10.0'
    ? [
        send('block-job-change', { id: 'j', type: 'mirror', 'copy-mode': 'write-blocking' }),
        ok(),
        pollBlockJob('j', 'actively synced', (j) => j['actively-synced'] === true),
      ]
    : [
        send('block-job-change', { id: 'j', type: 'mirror', 'copy-mode': 'write-blocking' }),
        fails('CommandNotFound', 'The command block-job-change has not been found'),
      ]),
  qemuIoPrints(uri('above'), ['-f', 'raw'], ['write -P 0x33 8M 4k'], [wrote(K4, 8 * MiB)]),
  ...(v === '10.0'
    ? [
        // Synchronous: counted before the guest's write returned, so no wait is needed.
        send('query-block-jobs'),
        ok([
          blockJobInfo('mirror', 'j', {
            len: ENDS_AT[v],
            offset: ENDS_AT[v],
            status: 'ready',
            ready: true,
            'actively-synced': true,
          }),
        ]),
      ]
    : [caughtUpAt('j', ENDS_AT[v])]),
  send('job-complete', { id: 'j' }),
  ok(),
  ...statuses('j', 'waiting', 'pending'),
  completed('mirror', 'j', ENDS_AT[v]),
  ...statuses('j', 'concluded', 'null'),
  run('qemu-img', ['compare', '-U', '-f', 'raw', '-F', 'raw', 'src.raw', 'tgt.raw'], {
    stdout: 'Images are identical.\n',
  }),
];

guestDataScenarios.push({
  name: 'guest-data-mirror-changed-to-write-blocking-counts-the-bytes-written',
  about:
    'a ready background mirror of a raw file, written through an export added before the job: a 4 KiB guest write dirties its 64 KiB granule, which the mirror copies (len and offset grow by 64 KiB, actively-synced false); block-job-change to write-blocking (10.0) makes it actively synced at its next ready-loop wake, and a 4 KiB write is then written to the target synchronously and counted as 4 KiB, already in query-block-jobs when the write returns; 7.2 has no block-job-change (CommandNotFound) and copies the granule again; the target is identical to the source after completion',
  setup: rawFiles('src', 'tgt'),
  blockdevs: [fileNode('src'), fileNode('tgt')],
  steps: [
    send('nbd-server-start', { addr: { type: 'unix', data: { path: SOCKET } } }),
    ok(),
    ...exportNode('e0', 'src', 'above', true),
    qemuIoPrints(uri('above'), ['-f', 'raw'], ['write -P 0x11 0 1M'], [wrote(MiB, 0)]),
    send('blockdev-mirror', { 'job-id': 'j', device: 'src', target: 'tgt', sync: 'full' }),
    ...statuses('j', 'created', 'running'),
    ok(),
    ...becomesReady('mirror', 'j', SIZE),
    qemuIoPrints(uri('above'), ['-f', 'raw'], ['write -P 0x22 4M 4k'], [wrote(K4, 4 * MiB)]),
    caughtUpAt('j', SIZE + K64),
    send('query-block-jobs'),
    ok([
      blockJobInfo('mirror', 'j', {
        len: SIZE + K64,
        offset: SIZE + K64,
        status: 'ready',
        ready: true,
      }),
    ]),
    byVersion({ '7.2': changedReadyMirror('7.2'), '10.0': changedReadyMirror('10.0') }),
  ],
});

guestDataScenarios.push({
  name: 'guest-data-export-follows-a-mirror-pivot',
  about:
    "an export of a mirror's source follows the graph onto the target when the mirror completes (its BlockBackend's root is replaced): later guest writes through it reach the target's file and the source's file keeps what it had; qemu-io reads both files and the export",
  setup: rawFiles('src', 'tgt'),
  blockdevs: [fileNode('src'), fileNode('tgt')],
  steps: [
    send('nbd-server-start', { addr: { type: 'unix', data: { path: SOCKET } } }),
    ok(),
    ...exportNode('e0', 'src', 'disk', true),
    qemuIoPrints(uri('disk'), ['-f', 'raw'], ['write -P 0x11 0 1M'], [wrote(MiB, 0)]),
    send('blockdev-mirror', { 'job-id': 'j', device: 'src', target: 'tgt', sync: 'full' }),
    ...statuses('j', 'created', 'running'),
    ok(),
    ...becomesReady('mirror', 'j', SIZE),
    send('job-complete', { id: 'j' }),
    ok(),
    ...statuses('j', 'waiting', 'pending'),
    completed('mirror', 'j', SIZE),
    ...statuses('j', 'concluded', 'null'),
    qemuIoPrints(
      uri('disk'),
      ['-f', 'raw'],
      ['write -P 0x44 2M 64k', 'read -P 0x11 0 1M', 'read -P 0x44 2M 64k'],
      [wrote(K64, 2 * MiB), read(MiB, 0), read(K64, 2 * MiB)],
    ),
    qemuIoPrints(
      'tgt.raw',
      ['-r', '-U', '-f', 'raw'],
      ['read -P 0x11 0 1M', 'read -P 0x44 2M 64k'],
      [read(MiB, 0), read(K64, 2 * MiB)],
    ),
    qemuIoPrints(
      'src.raw',
      ['-r', '-U', '-f', 'raw'],
      ['read -P 0x11 0 1M', 'read -P 0 2M 64k'],
      [read(MiB, 0), read(K64, 2 * MiB)],
    ),
  ],
});
