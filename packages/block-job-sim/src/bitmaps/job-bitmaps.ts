// The anonymous dirty bitmaps a running backup or mirror holds, which query-named-block-nodes
// lists beside the user's own (measured on qemu-storage-daemon 7.2.22 and 10.0.2):
//
// - backup: block-copy's copy bitmap, every cluster still to copy (granularity: the backup's
//   cluster size; recording false). Its copy-before-write filter adds two of its own: the
//   access bitmap (all set) and the done bitmap (empty), both disabled. On 7.2 the copy bitmap
//   sits on the source node; on 10.0 on the filter, after (below) the filter's two.
// - mirror: the dirty bitmap the job copies from (granularity: the mirror's). On 7.2 it sits on
//   the source and records (false in write-blocking mode, where the filter's write path does
//   the work); on 10.0 it sits on the mirror_top filter and never records itself.
//
// Both jobs clear a chunk's bits when the chunk is issued, so the count is what the job has not
// reached yet plus what failed and must be copied again. The bitmaps go with the filter, when
// the job cleans up.

import type { BlockLayer, BlockNode } from '../block-layer.js';
import type { JobRun } from '../jobs/driver.js';
import { BLK_PERM } from '../permissions.js';
import type { QemuProfile } from '../profile/profile.js';
import { DirtyBitmap } from './dirty-bitmap.js';
import { GranuleSet } from './granule-set.js';

/** A device byte range [start, end). */
export interface ByteRange {
  start: number;
  end: number;
}

/** An anonymous bitmap whose bits are the job's work left, read when it is queried. */
class JobBitmap extends DirtyBitmap {
  readonly #dirty: () => readonly ByteRange[];

  constructor(granularity: number, size: number, recording: boolean, dirty: () => ByteRange[]) {
    super(undefined, granularity, size);
    this.disabled = !recording;
    this.#dirty = dirty;
  }

  override get count(): number {
    const granules = new GranuleSet();
    for (const r of this.#dirty()) {
      granules.add(Math.floor(r.start / this.granularity), Math.ceil(r.end / this.granularity));
    }
    return granules.count * this.granularity;
  }
}

/**
 * Device ranges a copy job has not issued yet: the chunks past its frontier and the chunks
 * `failed` names (to be copied again), joined where they touch.
 */
export function uncopiedRanges(d: JobRun, failed: Iterable<number>): ByteRange[] {
  const indices: number[] = [];
  for (let i = d.work.chunkIndexAt(d.frontier); i < d.work.chunkCount; i++) indices.push(i);
  for (const i of failed) if (!indices.includes(i)) indices.push(i);
  const chunks = indices.map((i) => d.work.chunk(i)).sort((a, b) => a.device - b.device);
  const ranges: ByteRange[] = [];
  for (const c of chunks) {
    const last = ranges[ranges.length - 1];
    if (last !== undefined && last.end === c.device) last.end += c.bytes;
    else ranges.push({ start: c.device, end: c.device + c.bytes });
  }
  return ranges;
}

interface JobBitmapsSpec {
  readonly layer: BlockLayer;
  readonly profile: QemuProfile;
  readonly d: JobRun;
  readonly source: BlockNode;
  /** filter-node-name, if given (else a generated `#block` name, as QEMU gives it). */
  readonly filterName: string | undefined;
}

/** A backup's filter and bitmaps; they go when the job lets go of its nodes. */
export function addBackupBitmaps(
  spec: JobBitmapsSpec & {
    readonly cluster: number;
    /** sync=none copies only what guest writes push out first: everything is left. */
    readonly endless: boolean;
    readonly failedChunks: () => Iterable<number>;
  },
): void {
  const { layer, d, source } = spec;
  const size = source.length;
  const left = (): ByteRange[] =>
    spec.endless ? [{ start: 0, end: size }] : uncopiedRanges(d, spec.failedChunks());
  const copy = new JobBitmap(spec.cluster, size, false, left);
  const access = new DirtyBitmap(undefined, spec.cluster, size);
  access.disabled = true;
  access.setBytes(0, size);
  const done = new DirtyBitmap(undefined, spec.cluster, size);
  done.disabled = true;
  const onFilter = spec.profile.jobBitmapsOnFilter;
  if (!onFilter) layer.dirtyBitmaps.adopt(source, copy);
  const removeFilter = layer.addJobFilter(
    {
      nodeName: spec.filterName ?? layer.generatedNodeName(),
      driver: 'copy-before-write',
      child: source,
      bitmaps: onFilter ? [access, done, copy] : [access, done],
    },
    // cbw_child_perm(): its source is not written or resized by others while it copies before
    // writes (a writable export added now is refused; one from before is above the filter).
    { childName: 'file', perm: 0, shared: BLK_PERM.ALL & ~(BLK_PERM.WRITE | BLK_PERM.RESIZE) },
  );
  d.release.push(() => {
    removeFilter();
    if (!onFilter) layer.dirtyBitmaps.release(source, copy);
  });
}

/** A mirror's filter and dirty bitmap; they go when the job lets go of its nodes. */
export function addMirrorBitmaps(
  spec: JobBitmapsSpec & { readonly granularity: number; readonly writeBlocking: boolean },
): void {
  const { layer, d, source } = spec;
  const onFilter = spec.profile.jobBitmapsOnFilter;
  const recording = !onFilter && !spec.writeBlocking;
  const dirty = new JobBitmap(spec.granularity, source.length, recording, () =>
    uncopiedRanges(d, d.unwritten),
  );
  if (!onFilter) layer.dirtyBitmaps.adopt(source, dirty);
  const removeFilter = layer.addJobFilter({
    nodeName: spec.filterName ?? layer.generatedNodeName(),
    driver: 'mirror_top',
    child: source,
    bitmaps: onFilter ? [dirty] : [],
  });
  d.release.push(() => {
    removeFilter();
    if (!onFilter) layer.dirtyBitmaps.release(source, dirty);
  });
}
