// What a stream or commit that succeeded does to the backing chain (block.c
// bdrv_set_backing_hd, bdrv_drop_intermediate, bdrv_change_backing_file): the overlay's backing
// child becomes the base (or nothing, when streaming the whole chain), its image header names the
// base's file, and the images in between leave the chain. So a second stream of the same node
// has nothing to do, and query-named-block-nodes shows the shorter chain.

import type { BlockNode } from '../block-layer.js';
import type { JobRuntime } from '../runtime/job-runtime.js';
import type { JobRun } from './driver.js';

/**
 * The chain below `overlay` ends at `base` (undefined: `overlay` has no backing file any more).
 * `backingFile` is the name to write into the overlay's header (the command's `backing-file`);
 * by default the base's own filename. The job keeps the images it drops until it is freed.
 */
export function shortenChain(
  rt: JobRuntime,
  d: JobRun,
  overlay: BlockNode,
  base: BlockNode | undefined,
  backingFile: string | undefined,
): void {
  const layer = rt.blockLayer;
  if (!d.released) {
    for (let n = overlay.backing; n !== undefined && n !== base; n = n.backing) {
      d.release.push(layer.hold(n));
    }
  }
  const name =
    base === undefined ? undefined : (backingFile ?? layer.blockDeviceInfo(base, true).file);
  layer.setBacking(overlay, base, name, base?.driver);
}
