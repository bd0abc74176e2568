// NBD exports and guest writes (issue 16): nbd-server-start / -stop, block-export-add / -del,
// query-block-exports and BLOCK_EXPORT_DELETED; writes through a writable export made by the
// real qemu-io dirty the node's bitmaps (discards do not, QEMU's default discard=ignore), and an
// incremental backup copies what they dirtied. Expected values: qemu-storage-daemon 7.2.22.

import {
  call,
  completed,
  event,
  generic,
  ok,
  run,
  type Scenario,
  type Step,
  send,
  statuses,
} from '../src/scenario.js';
import { bitmapInfo, nullCoInfo } from './bitmaps.js';
import { MiB, nullCo } from './common.js';

const SIZE = 64 * MiB;
const SOCKET = 'nbd.sock';
const uri = (name: string) => `nbd+unix:///${name}?socket=${SOCKET}`;
/**
 * qemu-io on an NBD URI with these commands; it must print these lines (its timing lines, which
 * vary, are left out).
 */
const qemuIo = (target: string, commands: readonly string[], lines: readonly string[]): Step =>
  run(
    'bash',
    [
      '-o',
      'pipefail',
      '-c',
      `qemu-io -f raw ${commands.map((c) => `-c '${c}'`).join(' ')} '${target}' | grep -v ' ops; '`,
    ],
    { stdout: lines.map((l) => `${l}\n`).join('') },
  );
const startServer = call('nbd-server-start', { addr: { type: 'unix', data: { path: SOCKET } } });

const n0Bitmaps = (...bitmaps: ReturnType<typeof bitmapInfo>[]): Step[] => [
  send('query-named-block-nodes', { flat: true }),
  ok([nullCoInfo('n0', SIZE, bitmaps.length === 0 ? undefined : bitmaps)]),
];

export const nbdExportScenarios: Scenario[] = [
  {
    name: 'nbd-exports-and-refusals',
    about:
      'nbd-server-start/-stop and block-export-add/-del with their refusals; an exported bitmap is busy until its export is deleted; an exported node is in use; BLOCK_EXPORT_DELETED comes before the reply when no client is connected',
    blockdevs: [nullCo('n0', SIZE)],
    steps: [
      send('block-export-add', { type: 'nbd', id: 'e0', 'node-name': 'n0' }),
      generic('NBD server not running'),
      send('nbd-server-stop'),
      generic('NBD server not running'),
      ...startServer,
      send('nbd-server-start', { addr: { type: 'unix', data: { path: 'other.sock' } } }),
      generic('NBD server already running'),
      ...call('block-dirty-bitmap-add', { node: 'n0', name: 'b0' }),
      ...call('block-dirty-bitmap-add', { node: 'n0', name: 'bd', disabled: true }),
      send('block-export-add', { type: 'nbd', id: 'e0', 'node-name': 'nx' }),
      generic("Cannot find device='' nor node-name='nx'"),
      send('block-export-add', { type: 'nbd', id: '1e', 'node-name': 'n0' }),
      generic('Invalid block export id'),
      send('block-export-add', { type: 'nbd', id: 'e0', 'node-name': 'n0', bitmaps: ['b0'] }),
      generic("Enabled bitmap 'b0' incompatible with readonly export"),
      send('block-export-add', { type: 'nbd', id: 'e0', 'node-name': 'n0', bitmaps: ['nob'] }),
      generic("Bitmap 'nob' is not found"),
      ...call('block-export-add', { type: 'nbd', id: 'e0', 'node-name': 'n0', bitmaps: ['bd'] }),
      send('block-export-add', { type: 'nbd', id: 'e0', 'node-name': 'n0', name: 'other' }),
      generic("Block export id 'e0' is already in use"),
      send('block-export-add', { type: 'nbd', id: 'e1', 'node-name': 'n0' }),
      generic("NBD server already has export named 'n0'"),
      send('query-block-exports'),
      ok([{ id: 'e0', type: 'nbd', 'node-name': 'n0', 'shutting-down': false }]),
      ...n0Bitmaps(bitmapInfo('bd', { recording: false, busy: true }), bitmapInfo('b0')),
      send('block-dirty-bitmap-remove', { node: 'n0', name: 'bd' }),
      generic("Bitmap 'bd' is currently in use by another operation and cannot be used"),
      send('blockdev-del', { 'node-name': 'n0' }),
      generic('Node n0 is in use'),
      send('block-export-del', { id: 'ex' }),
      generic("Export 'ex' is not found"),
      send('block-export-del', { id: 'e0' }),
      event('BLOCK_EXPORT_DELETED', { id: 'e0' }),
      ok(),
      send('query-block-exports'),
      ok([]),
      ...n0Bitmaps(bitmapInfo('bd', { recording: false }), bitmapInfo('b0')),
      ...call('block-export-add', { type: 'nbd', id: 'e1', 'node-name': 'n0', name: 'x' }),
      send('nbd-server-stop'),
      event('BLOCK_EXPORT_DELETED', { id: 'e1' }),
      ok(),
      send('query-block-exports'),
      ok([]),
    ],
  },
  {
    name: 'nbd-guest-writes-dirty-bitmaps',
    about:
      'writes and write-zeroes by qemu-io through a writable export dirty every enabled bitmap of the node, one 64 KiB granule each (a discard dirties nothing); a disabled bitmap stays clean; an incremental backup then copies the dirty granules and leaves its bitmap clean',
    blockdevs: [nullCo('n0', SIZE), nullCo('t0', SIZE)],
    steps: [
      ...startServer,
      ...call('block-dirty-bitmap-add', { node: 'n0', name: 'b0' }),
      ...call('block-dirty-bitmap-add', { node: 'n0', name: 'bd', disabled: true }),
      ...call('block-export-add', { type: 'nbd', id: 'e0', 'node-name': 'n0', writable: true }),
      qemuIo(
        uri('n0'),
        ['write -P 0xab 0 64k', 'write 1M 4k', 'write -z 2M 64k', 'discard 4M 64k'],
        [
          'wrote 65536/65536 bytes at offset 0',
          'wrote 4096/4096 bytes at offset 1048576',
          'wrote 65536/65536 bytes at offset 2097152',
          'discard 65536/65536 bytes at offset 4194304',
        ],
      ),
      send('x-debug-block-dirty-bitmap-sha256', { node: 'n0', name: 'b0' }),
      ok({ sha256: '4abe9616e3d7e9eaf97e1f3ce53b08ce9dbc4011887ea0b66f7471cf3c8f2e4b' }),
      send('query-named-block-nodes', { flat: true }),
      ok([
        nullCoInfo('t0', SIZE),
        nullCoInfo('n0', SIZE, [
          bitmapInfo('bd', { recording: false }),
          bitmapInfo('b0', { count: 3 * 65536 }),
        ]),
      ]),
      send('blockdev-backup', {
        'job-id': 'j',
        device: 'n0',
        target: 't0',
        sync: 'incremental',
        bitmap: 'b0',
      }),
      ...statuses('j', 'created', 'running', 'paused', 'running', 'waiting', 'pending'),
      completed('backup', 'j', 3 * 65536),
      ...statuses('j', 'concluded', 'null'),
      ok(),
      send('query-named-block-nodes', { flat: true }),
      ok([
        nullCoInfo('t0', SIZE),
        nullCoInfo('n0', SIZE, [bitmapInfo('b0'), bitmapInfo('bd', { recording: false })]),
      ]),
      send('block-export-del', { id: 'e0' }),
      event('BLOCK_EXPORT_DELETED', { id: 'e0' }),
      ok(),
    ],
  },
  {
    name: 'nbd-dirty-bitmap-block-status',
    about:
      'a bitmap served by an export as the qemu:dirty-bitmap meta context: nbdinfo --map shows the granules qemu-io dirtied through an earlier writable export, and base:allocation of null-co',
    blockdevs: [nullCo('n0', SIZE)],
    steps: [
      ...startServer,
      ...call('block-dirty-bitmap-add', { node: 'n0', name: 'b0', granularity: 4096 }),
      ...call('block-export-add', { type: 'nbd', id: 'e0', 'node-name': 'n0', writable: true }),
      qemuIo(
        uri('n0'),
        ['write 8k 4k', 'write 1M 12k'],
        ['wrote 4096/4096 bytes at offset 8192', 'wrote 12288/12288 bytes at offset 1048576'],
      ),
      send('block-export-del', { id: 'e0' }),
      event('BLOCK_EXPORT_DELETED', { id: 'e0' }),
      ok(),
      ...call('block-dirty-bitmap-disable', { node: 'n0', name: 'b0' }),
      ...call('block-export-add', {
        type: 'nbd',
        id: 'e1',
        'node-name': 'n0',
        name: 'ro',
        bitmaps: ['b0'],
      }),
      run('nbdinfo', ['--map=qemu:dirty-bitmap:b0', uri('ro')], {
        stdout: [
          '         0        8192    0  clean',
          '      8192        4096    1  dirty',
          '     12288     1036288    0  clean',
          '   1048576       12288    1  dirty',
          '   1060864    66048000    0  clean',
          '',
        ].join('\n'),
      }),
      run('nbdinfo', ['--map', uri('ro')], { stdout: '         0    67108864    1  hole\n' }),
    ],
  },
];
