// Backups that use dirty bitmaps (issue 16): sync=bitmap / incremental and bitmap-mode
// on-success / always / never, what the bitmap holds after success, failure and cancel, the busy
// bitmap while the job runs, and the refusals of do_backup_common. Without guest writes a
// bitmap gets bits from a failed or cancelled backup in mode `always`: what the job did not copy.
// Expected values: qemu-storage-daemon 7.2.22.

import {
  call,
  cancelled,
  completed,
  generic,
  ok,
  type Pattern,
  type Scenario,
  type Step,
  send,
  statuses,
} from '../src/scenario.js';
import { bitmapInfo, nullCoInfo } from './bitmaps.js';
import { MiB, nullCo } from './common.js';

const SIZE = 64 * MiB;
const nodes = [nullCo('n0', SIZE), nullCo('t0', SIZE)];

const bitmaps = (n0: readonly Pattern[], t0: readonly Pattern[] = []): Step[] => [
  send('query-named-block-nodes', { flat: true }),
  ok([nullCoInfo('t0', SIZE, t0.length === 0 ? undefined : t0), nullCoInfo('n0', SIZE, n0)]),
];

const backup = (extra: Record<string, unknown>): Step =>
  send('blockdev-backup', { 'job-id': 'j', device: 'n0', target: 't0', ...extra });
const backupStarts = statuses('j', 'created', 'running', 'paused', 'running');
/** An unthrottled null-co backup: done before its reply. */
const backupDone = (len: number): Step[] => [
  ...backupStarts,
  ...statuses('j', 'waiting', 'pending'),
  completed('backup', 'j', len),
  ...statuses('j', 'concluded', 'null'),
  ok(),
];
/** A backup at speed 1 copies one 1 MiB chunk and waits; cancelled, it has copied that. */
const throttledThenCancelled = (extra: Record<string, unknown>, len = SIZE): Step[] => [
  backup({ ...extra, speed: 1 }),
  ...backupStarts,
  ok(),
  send('job-cancel', { id: 'j' }),
  ...statuses('j', 'aborting'),
  cancelled('backup', 'j', len, MiB, 1),
  ...statuses('j', 'concluded', 'null'),
  ok(),
];

export const bitmapBackupScenarios: Scenario[] = [
  {
    name: 'bitmap-backup-modes-and-counts',
    about:
      'a full backup with bitmap-mode on-success leaves its bitmap empty and first in the list (its successor took the name); a cancelled one in mode always leaves dirty what it did not copy (63 MiB); sync=bitmap never copies those bytes and keeps them; sync=incremental copies them and clears the bitmap',
    blockdevs: nodes,
    steps: [
      ...call('block-dirty-bitmap-add', { node: 'n0', name: 'b0' }),
      ...call('block-dirty-bitmap-add', { node: 'n0', name: 'b1' }),
      ...call('block-dirty-bitmap-add', { node: 'n0', name: 'b2', disabled: true }),
      backup({ sync: 'full', bitmap: 'b1', 'bitmap-mode': 'on-success' }),
      ...backupDone(SIZE),
      ...bitmaps([bitmapInfo('b1'), bitmapInfo('b2', { recording: false }), bitmapInfo('b0')]),
      ...throttledThenCancelled({ sync: 'full', bitmap: 'b2', 'bitmap-mode': 'always' }),
      ...bitmaps([
        bitmapInfo('b2', { recording: false, count: SIZE - MiB }),
        bitmapInfo('b1'),
        bitmapInfo('b0'),
      ]),
      send('x-debug-block-dirty-bitmap-sha256', { node: 'n0', name: 'b2' }),
      ok({ sha256: '1e941a92c6a017b93da9a92078c830532602e541336afdd137159e3b18f7cc2b' }),
      backup({ sync: 'bitmap', bitmap: 'b2', 'bitmap-mode': 'never' }),
      ...backupDone(SIZE - MiB),
      ...bitmaps([
        bitmapInfo('b2', { recording: false, count: SIZE - MiB }),
        bitmapInfo('b1'),
        bitmapInfo('b0'),
      ]),
      ...call('block-dirty-bitmap-merge', { node: 'n0', target: 'b0', bitmaps: ['b2'] }),
      backup({ sync: 'incremental', bitmap: 'b2' }),
      ...backupDone(SIZE - MiB),
      ...bitmaps([
        bitmapInfo('b2', { recording: false }),
        bitmapInfo('b1'),
        bitmapInfo('b0', { count: SIZE - MiB }),
      ]),
      ...throttledThenCancelled({ sync: 'incremental', bitmap: 'b0' }, SIZE - MiB),
      ...bitmaps([
        bitmapInfo('b2', { recording: false }),
        bitmapInfo('b1'),
        bitmapInfo('b0', { count: SIZE - MiB }),
      ]),
    ],
  },
  {
    name: 'bitmap-backup-refusals',
    about:
      "do_backup_common's bitmap checks in QEMU's order: incremental without a bitmap or with another mode, an unknown bitmap, a bitmap without a mode, a mode without a bitmap, sync=none with a bitmap, mode never without sync=bitmap",
    blockdevs: nodes,
    steps: [
      ...call('block-dirty-bitmap-add', { node: 'n0', name: 'b0' }),
      backup({ sync: 'incremental' }),
      generic("must provide a valid bitmap name for 'incremental' sync mode"),
      backup({ sync: 'bitmap' }),
      generic("must provide a valid bitmap name for 'bitmap' sync mode"),
      backup({ sync: 'incremental', bitmap: 'nob', 'bitmap-mode': 'never' }),
      generic("Bitmap sync mode must be 'on-success' when using sync mode 'incremental'"),
      backup({ sync: 'bitmap', bitmap: 'nob' }),
      generic("Bitmap 'nob' could not be found"),
      backup({ sync: 'bitmap', bitmap: 'b0' }),
      generic('Bitmap sync mode must be given when providing a bitmap'),
      backup({ sync: 'full', 'bitmap-mode': 'never' }),
      generic('Cannot specify bitmap sync mode without a bitmap'),
      backup({ sync: 'none', bitmap: 'b0', 'bitmap-mode': 'always' }),
      generic("sync mode 'none' does not produce meaningful bitmap outputs"),
      backup({ sync: 'full', bitmap: 'b0', 'bitmap-mode': 'never' }),
      generic(
        "Bitmap sync mode 'never' has no meaningful effect when combined with sync mode 'full'",
      ),
      backup({ sync: 'top', bitmap: 'b0', 'bitmap-mode': 'never' }),
      generic(
        "Bitmap sync mode 'never' has no meaningful effect when combined with sync mode 'top'",
      ),
      ...bitmaps([bitmapInfo('b0')]),
    ],
  },
  {
    name: 'bitmap-busy-while-backup-runs',
    about:
      'the bitmap a running backup syncs is busy: every command that would change or use it is refused (sha256 still answers; a merge into it once it has found a source), a second backup with it is refused after its transaction drained the first job; cancelled in mode on-success, the bitmap is as before and usable again',
    blockdevs: nodes,
    steps: [
      ...call('block-dirty-bitmap-add', { node: 'n0', name: 'b0' }),
      ...call('block-dirty-bitmap-add', { node: 'n0', name: 'b1' }),
      backup({ sync: 'full', bitmap: 'b1', 'bitmap-mode': 'on-success', speed: 1 }),
      ...backupStarts,
      ok(),
      ...[
        send('block-dirty-bitmap-remove', { node: 'n0', name: 'b1' }),
        send('block-dirty-bitmap-clear', { node: 'n0', name: 'b1' }),
        send('block-dirty-bitmap-enable', { node: 'n0', name: 'b1' }),
        send('block-dirty-bitmap-disable', { node: 'n0', name: 'b1' }),
        send('block-dirty-bitmap-merge', { node: 'n0', target: 'b1', bitmaps: ['b0'] }),
        send('block-dirty-bitmap-merge', { node: 'n0', target: 'b0', bitmaps: ['b1'] }),
      ].flatMap((s) => [
        s,
        generic("Bitmap 'b1' is currently in use by another operation and cannot be used"),
      ]),
      // A merge checks its busy target once it has found a source: a missing first source is
      // named, a missing later one is not reached (fuzz 7.2 seed 4450).
      send('block-dirty-bitmap-merge', { node: 'n0', target: 'b1', bitmaps: ['nope', 'b0'] }),
      generic("Dirty bitmap 'nope' not found"),
      send('block-dirty-bitmap-merge', { node: 'n0', target: 'b1', bitmaps: ['b0', 'nope'] }),
      generic("Bitmap 'b1' is currently in use by another operation and cannot be used"),
      send('block-dirty-bitmap-add', { node: 'n0', name: 'b1' }),
      generic('Bitmap already exists: b1'),
      send('x-debug-block-dirty-bitmap-sha256', { node: 'n0', name: 'b1' }),
      ok({ sha256: '38723a2e5e8a17aa7950dc008209944e898f69a7bd10a23c839d341e935fd5ca' }),
      send('blockdev-backup', {
        'job-id': 'k',
        device: 'n0',
        target: 't0',
        sync: 'bitmap',
        bitmap: 'b1',
        'bitmap-mode': 'never',
      }),
      ...statuses('j', 'paused', 'running', 'paused', 'running'),
      generic("Bitmap 'b1' is currently in use by another operation and cannot be used"),
      send('job-cancel', { id: 'j' }),
      ...statuses('j', 'aborting'),
      cancelled('backup', 'j', SIZE, MiB, 1),
      ...statuses('j', 'concluded', 'null'),
      ok(),
      ...bitmaps([bitmapInfo('b1'), bitmapInfo('b0')]),
      ...call('block-dirty-bitmap-remove', { node: 'n0', name: 'b1' }),
    ],
  },
];
