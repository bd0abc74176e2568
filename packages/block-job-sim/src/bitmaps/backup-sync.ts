// The bitmap side of a backup (blockdev.c do_backup_common, block/backup.c backup_job_create
// and backup_cleanup_sync_bitmap): which bitmap a backup uses and how, its successor while the
// job runs, what it copies for sync=bitmap, and what the bitmap holds afterwards.
//
// - on-success: the bitmap ends up holding only what was written while the job ran if the job
//   succeeded (its successor takes over), and everything it had plus those writes if not.
// - always: as on-success, and on failure what the job did not copy is dirty again.
// - never: the bitmap keeps everything and gains what was written while the job ran.

import type { BackupCommon, BitmapSyncMode } from '@qmpkit/qapi-types/7.2';
import type { BlockLayer, BlockNode } from '../block-layer.js';
import { genericError } from '../errors.js';
import { BITMAP_ALLOW_RO, BITMAP_DEFAULT, type DirtyBitmap } from './dirty-bitmap.js';

/** The bitmap a backup job uses. */
export interface BackupSyncBitmap {
  readonly node: BlockNode;
  readonly bitmap: DirtyBitmap;
  readonly mode: BitmapSyncMode;
  /** Set once the bitmap got its final content. */
  done: boolean;
}

/**
 * do_backup_common()'s bitmap checks in QEMU's order. Returns the sync mode the job runs
 * (incremental becomes bitmap) and the bitmap with its mode, if any.
 */
export function resolveBackupBitmap(
  layer: BlockLayer,
  bs: BlockNode,
  b: BackupCommon,
): { sync: BackupCommon['sync']; bitmap?: { bitmap: DirtyBitmap; mode: BitmapSyncMode } } {
  let sync = b.sync;
  let mode = b['bitmap-mode'];
  if ((sync === 'bitmap' || sync === 'incremental') && b.bitmap === undefined) {
    throw genericError(`must provide a valid bitmap name for '${sync}' sync mode`);
  }
  if (sync === 'incremental') {
    if (mode !== undefined && mode !== 'on-success') {
      throw genericError(
        "Bitmap sync mode must be 'on-success' when using sync mode 'incremental'",
      );
    }
    mode = 'on-success';
    sync = 'bitmap';
  }
  if (b.bitmap === undefined) {
    if (mode !== undefined) throw genericError('Cannot specify bitmap sync mode without a bitmap');
    return { sync };
  }
  const bitmap = layer.dirtyBitmaps.find(bs, b.bitmap);
  if (bitmap === undefined) throw genericError(`Bitmap '${b.bitmap}' could not be found`);
  if (mode === undefined) {
    throw genericError('Bitmap sync mode must be given when providing a bitmap');
  }
  bitmap.check(BITMAP_ALLOW_RO);
  if (sync === 'none') {
    throw genericError("sync mode 'none' does not produce meaningful bitmap outputs");
  }
  if (mode === 'never' && sync !== 'bitmap') {
    throw genericError(
      `Bitmap sync mode 'never' has no meaningful effect when combined with sync mode '${sync}'`,
    );
  }
  return { sync, bitmap: { bitmap, mode } };
}

/**
 * backup_job_create(): a bitmap the job will change must be changeable; it gets its successor
 * (and is busy from now on).
 */
export function beginBackupBitmap(
  layer: BlockLayer,
  node: BlockNode,
  bitmap: DirtyBitmap,
  mode: BitmapSyncMode,
): BackupSyncBitmap {
  if (mode !== 'never') bitmap.check(BITMAP_DEFAULT);
  layer.dirtyBitmaps.createSuccessor(node, bitmap);
  return { node, bitmap, mode, done: false };
}

/**
 * backup_cleanup_sync_bitmap(): abdicate (the successor takes the name, and the node's list
 * head) on success or always; reclaim otherwise. On failure with `always`, `uncopied` (byte
 * ranges the job did not copy) becomes dirty again.
 */
export function endBackupBitmap(
  layer: BlockLayer,
  sync: BackupSyncBitmap,
  succeeded: boolean,
  uncopied: () => ReadonlyArray<{ start: number; end: number }>,
): void {
  if (sync.done) return;
  sync.done = true;
  const bitmaps = layer.dirtyBitmaps;
  const adopt = (succeeded || sync.mode === 'always') && sync.mode !== 'never';
  const result = adopt
    ? bitmaps.abdicate(sync.node, sync.bitmap)
    : bitmaps.reclaim(sync.node, sync.bitmap);
  if (!succeeded && sync.mode === 'always') {
    for (const r of uncopied()) result.setBytes(r.start, r.end - r.start);
  }
}

/** An aborted job creation: the successor goes back into the bitmap. */
export function abandonBackupBitmap(layer: BlockLayer, sync: BackupSyncBitmap): void {
  if (sync.done) return;
  sync.done = true;
  layer.dirtyBitmaps.reclaim(sync.node, sync.bitmap);
}

/**
 * What sync=bitmap copies: the bitmap's dirty bytes widened to whole backup clusters (block-copy
 * keeps its own bitmap at the cluster size), as copy extents at their device offsets.
 */
export function bitmapCopyExtents(
  bitmap: DirtyBitmap,
  cluster: number,
  length: number,
): Array<{ copy: true; length: number; device: number }> {
  const extents: Array<{ copy: true; length: number; device: number }> = [];
  let pos = 0;
  for (const r of bitmap.byteRuns()) {
    const start = Math.max(pos, Math.floor(r.start / cluster) * cluster);
    const end = Math.min(length, Math.ceil(r.end / cluster) * cluster);
    if (end <= start) continue;
    const last = extents[extents.length - 1];
    if (last !== undefined && last.device + last.length === start) last.length += end - start;
    else extents.push({ copy: true, length: end - start, device: start });
    pos = end;
  }
  return extents;
}
