// blockdev-mirror and drive-mirror (blockdev.c blockdev_mirror_common, mirror.c mirror_start):
// argument checks in QEMU's order, the dirty bitmap the mirror starts from, then the job.

import type { BlockdevMirrorArgs, DriveMirror, QmpEmpty } from '@qmpkit/qapi-types/7.2';
import { addMirrorBitmaps } from '../../bitmaps/job-bitmaps.js';
import type { BlockNode } from '../../block-layer.js';
import { BLK_PERM, type Permissions } from '../../permissions.js';
import type { GraphChanges } from '../../runtime/drain.js';
import { allocatedInChain, allocatedInNode, copyOnly } from '../io.js';
import { mirrorDriver, mirrorState } from '../mirror.js';
import { type Extent, WorkList } from '../schedule.js';
import { MIRROR_BUFFER_SIZE } from '../sizes.js';
import { blockNode, generic, invalidValue, type JobFactory, nodeByName } from './context.js';
import { closeImage, createImage, hasZeroInit, openImage } from './images.js';

const MiB = 1024 * 1024;

/**
 * mirror_start_job(), also behind an active commit: its mirror_top filter goes above the
 * source (two graph changes), block_job_create attaches the filter and the target to the job
 * (two more); a job refused by block_job_create takes the filter out again (two). Measured on
 * qemu-storage-daemon 10.0.2, where each drains every other job.
 */
export const MIRROR_GRAPH_CHANGES: GraphChanges = { beforeJob: 2, afterJob: 2, onRefusal: 2 };

export function blockdevMirror(jobs: JobFactory, a: BlockdevMirrorArgs): QmpEmpty {
  const bs = jobs.rootNode(a.device);
  const target = blockNode(jobs.layer, a.target);
  mirrorCommon(jobs, a, bs, target, a.sync === 'full', undefined);
  return {};
}

/**
 * drive-mirror: like blockdev-mirror, but the target is an image file, created first (unless
 * `mode: existing`) and opened as a node of its own, which goes away with the job.
 */
export function driveMirror(jobs: JobFactory, a: DriveMirror): QmpEmpty {
  const layer = jobs.layer;
  const bs = jobs.rootNode(a.device);
  // Early check to avoid creating the target.
  layer.assertNotBusy(bs);
  const mode = a.mode ?? 'absolute-paths';
  const format = a.format ?? (mode === 'existing' ? undefined : bs.driver);
  let sync = a.sync;
  let targetBacking = bs.backing;
  if (targetBacking === undefined && sync === 'top') sync = 'full';
  if (sync === 'none') targetBacking = bs;
  if (a.replaces !== undefined && a['node-name'] === undefined) {
    throw generic('a node-name must be provided when replacing a named node of the graph');
  }
  if ((sync === 'full' || targetBacking === undefined) && mode !== 'existing') {
    createImage(jobs, a.target, format as string, bs.length, undefined);
  } else if (mode === 'absolute-paths' && targetBacking !== undefined) {
    createImage(jobs, a.target, format as string, bs.length, targetBacking);
  }
  const target = openImage(jobs, a.target, format, a['node-name']);
  try {
    const zeroTarget = sync === 'full' && (mode === 'existing' || !hasZeroInit(target));
    mirrorCommon(jobs, { ...a, sync }, bs, target, zeroTarget, () => closeImage(jobs, target));
  } catch (error) {
    closeImage(jobs, target);
    throw error;
  }
  return {};
}

/**
 * mirror_start_job(): the job writes its target and lets others only write what is there
 * already (an NBD export of the target is refused, read-only or not).
 */
const MIRROR_TARGET_PERMISSIONS: Permissions = {
  perm: BLK_PERM.WRITE,
  shared: BLK_PERM.WRITE_UNCHANGED,
};

/** blockdev_mirror_common() and mirror_start(). */
function mirrorCommon(
  jobs: JobFactory,
  a: BlockdevMirrorArgs | DriveMirror,
  bs: BlockNode,
  target: BlockNode,
  zeroTarget: boolean,
  onRelease: (() => void) | undefined,
): void {
  const layer = jobs.layer;
  const granularity = a.granularity ?? 0;
  if (granularity !== 0 && (granularity < 512 || granularity > 64 * MiB)) {
    throw invalidValue('granularity', 'a value in range [512B, 64MB]');
  }
  if ((granularity & (granularity - 1)) !== 0) {
    throw invalidValue('granularity', 'a power of 2');
  }
  layer.assertNotBusy(bs);
  layer.assertNotBusy(target);
  let sync = a.sync;
  if (bs.backing === undefined && sync === 'top') sync = 'full';
  if (a.replaces !== undefined) {
    const replaced = nodeByName(layer, a.replaces);
    if (replaced.length !== bs.length) {
      throw generic('cannot replace image with a mirror image of different size');
    }
  }
  if (sync === 'incremental' || sync === 'bitmap') {
    throw generic(`Sync mode '${sync}' not supported`);
  }
  const bufSize = a['buf-size'] ?? 0;
  if (bufSize < 0) throw generic("Invalid parameter 'buf-size'");
  if (bs === target) throw generic("Can't mirror node into itself");
  const filterName = 'filter-node-name' in a ? a['filter-node-name'] : undefined;
  if (filterName !== undefined) {
    try {
      layer.checkNewNodeName(filterName);
    } catch (e) {
      // The half-made filter node is closed again (one graph change).
      jobs.graphChange();
      throw e;
    }
  }
  // The job's BlockBackend on the target must go in beside the target's users. QEMU inserts it
  // right after creating the job and then drops the job again; checked here, before the job
  // exists, a refusal leaves nothing behind (its place after the job-id check is not kept).
  layer.attachBackend(target, MIRROR_TARGET_PERMISSIONS)();
  const gran = granularity !== 0 ? granularity : defaultGranularity(target);
  const chunk = Math.ceil((bufSize === 0 ? MIRROR_BUFFER_SIZE : bufSize) / gran) * gran;
  const id = jobs.createJob({
    id: a['job-id'],
    type: 'mirror',
    autoFinalize: a['auto-finalize'],
    autoDismiss: a['auto-dismiss'],
    speed: a.speed,
    graphChanges: MIRROR_GRAPH_CHANGES,
  });
  // mirror_dirty_init(): a target that must be zeroed (and cannot unmap) gets every byte;
  // otherwise only what the source chain (sync full) or its top (sync top) holds.
  let dirty: Extent[];
  if (sync === 'none') dirty = [];
  else if (sync === 'full' && zeroTarget) {
    dirty = bs.length > 0 ? [{ copy: true, length: bs.length }] : [];
  } else if (sync === 'full') dirty = copyOnly(allocatedInChain(layer, bs, undefined), bs.length);
  else dirty = copyOnly(allocatedInNode(layer, bs), bs.length);
  const work = new WorkList(dirty, chunk);
  const d = jobs.newDriver(id, mirrorDriver, {
    state: mirrorState({
      startError:
        bs.length !== target.length ? 'Source and target image have different sizes' : undefined,
      replaces: a.replaces,
      writeBlocking: a['copy-mode'] === 'write-blocking',
      granularity: gran,
    }),
    work,
    read: { node: bs, policy: a['on-source-error'] ?? 'report' },
    write: { node: target, policy: a['on-target-error'] ?? 'report' },
    readsOnlyData: true,
    attached: [
      { node: bs },
      { node: target, backend: true, permissions: MIRROR_TARGET_PERMISSIONS },
    ],
    filterOn: bs,
  });
  if (onRelease !== undefined) d.release.push(onRelease);
  addMirrorBitmaps({
    layer,
    profile: jobs.profile,
    d,
    source: bs,
    filterName,
    granularity: gran,
    writeBlocking: a['copy-mode'] === 'write-blocking',
  });
  jobs.start(id);
}

/** The granularity a mirror's dirty bitmap has by default: the target's cluster size. */
export function defaultGranularity(target: BlockNode): number {
  const cluster = target.qcow2?.clusterSize;
  if (cluster !== undefined) return Math.max(4096, cluster);
  return 65536;
}
