// block-commit and block-stream (blockdev.c qmp_block_commit, qmp_block_stream): the chain
// between top and base resolved and checked in QEMU's order, then the job.

import { CommandError } from '@qmpkit/protocol';
import type { BlockCommitArgs, BlockStreamArgs, QmpEmpty } from '@qmpkit/qapi-types/7.2';
import { addMirrorBitmaps } from '../../bitmaps/job-bitmaps.js';
import type { BlockLayer, BlockNode } from '../../block-layer.js';
import type { GraphChanges } from '../../runtime/drain.js';
import { commitDriver, commitState } from '../commit.js';
import type { JobRun } from '../driver.js';
import { allocatedInChain, allocatedInNode, copyOnly, extentsOf, subtractRanges } from '../io.js';
import { mirrorDriver, mirrorState } from '../mirror.js';
import { WorkList } from '../schedule.js';
import { COMMIT_CHUNK_SIZE, MIRROR_BUFFER_SIZE, STREAM_CHUNK_SIZE } from '../sizes.js';
import { streamDriver, streamState } from '../stream.js';
import {
  blockNode,
  bottomOf,
  chainContains,
  commandError,
  generic,
  type JobFactory,
  nodeByName,
  overlayOf,
} from './context.js';
import { defaultGranularity, MIRROR_GRAPH_CHANGES } from './mirror.js';

/**
 * commit_start(): block_job_create puts the job's BlockBackend on the device first (one graph
 * change); then the commit_top filter goes in and the chain's nodes are attached to the job
 * (four). Measured on qemu-storage-daemon 10.0.2, where each drains every other job.
 */
const COMMIT_GRAPH_CHANGES: GraphChanges = { beforeJob: 1, afterJob: 4, onRefusal: 0 };

/**
 * stream_start(): its copy-on-read filter goes above the device (three graph changes), then the
 * job's nodes are attached (two); a job refused by block_job_create drops the filter (two).
 * Measured on qemu-storage-daemon 10.0.2.
 */
const STREAM_GRAPH_CHANGES: GraphChanges = { beforeJob: 3, afterJob: 2, onRefusal: 2 };

export function blockCommit(jobs: JobFactory, a: BlockCommitArgs): QmpEmpty {
  const layer = jobs.layer;
  let bs: BlockNode;
  try {
    bs = jobs.rootNode(a.device);
  } catch (error) {
    if (layer.findNode(a.device) === undefined) {
      throw commandError('DeviceNotFound', `Device '${a.device}' not found`);
    }
    throw error;
  }
  layer.assertNotBusy(bs);
  let top: BlockNode | undefined = bs;
  if (a['top-node'] !== undefined && a.top !== undefined) {
    throw generic("'top-node' and 'top' are mutually exclusive");
  } else if (a['top-node'] !== undefined) {
    top = nodeByName(layer, a['top-node']);
    if (!chainContains(bs, top)) {
      throw generic(`'${a['top-node']}' is not in this backing file chain`);
    }
  } else if (a.top !== undefined) {
    top = findBackingImage(jobs.layer, bs, a.top, true);
  }
  if (top === undefined) throw generic(`Top image file ${a.top ?? 'NULL'} not found`);
  let base: BlockNode | undefined;
  if (a['base-node'] !== undefined && a.base !== undefined) {
    throw generic("'base-node' and 'base' are mutually exclusive");
  } else if (a['base-node'] !== undefined) {
    base = nodeByName(layer, a['base-node']);
    if (!chainContains(top, base)) {
      throw generic(`'${a['base-node']}' is not in this backing file chain`);
    }
  } else if (a.base !== undefined) {
    base = findBackingImage(jobs.layer, top, a.base, false);
    if (base === undefined) throw generic(`Can't find '${a.base}' in the backing chain`);
  } else {
    base = bottomOf(top);
  }
  for (let n: BlockNode | undefined = top; n !== undefined && n !== base.backing; n = n.backing) {
    jobs.assertOpenToJobs(n);
  }
  if (top === base) throw generic('cannot commit an image into itself');
  const speed = a.speed;
  if (top === bs) {
    if (a['backing-file'] !== undefined) {
      throw generic("'backing-file' specified, but 'top' is the active layer");
    }
    // Active commit: the mirror engine, type commit, with a ready phase.
    checkFilterName(jobs, a['filter-node-name'], false);
    const id = jobs.createJob({
      id: a['job-id'],
      type: 'commit',
      activeCommit: true,
      autoFinalize: a['auto-finalize'],
      autoDismiss: a['auto-dismiss'],
      speed,
      graphChanges: MIRROR_GRAPH_CHANGES,
    });
    const dirty = copyOnly(allocatedInChain(layer, top, base), top.length);
    const intermediates: { node: BlockNode }[] = [];
    for (let n = top.backing; n !== undefined && n !== base; n = n.backing) {
      intermediates.push({ node: n });
    }
    const d = jobs.newDriver(id, mirrorDriver, {
      state: mirrorState({}),
      work: new WorkList(dirty, MIRROR_BUFFER_SIZE),
      readsOnlyData: true,
      read: { node: top, policy: a['on-error'] ?? 'report' },
      write: { node: base, policy: a['on-error'] ?? 'report' },
      attached: [{ node: top }, { node: base, backend: true }, ...intermediates],
      filterOn: top,
    });
    // The mirror engine's mirror_top filter and dirty bitmap, as a mirror has them.
    addMirrorBitmaps({
      layer,
      profile: jobs.profile,
      d,
      source: top,
      filterName: a['filter-node-name'],
      granularity: defaultGranularity(base),
      writeBlocking: false,
    });
    jobs.start(id);
    return {};
  }
  const overlay = overlayOf(bs, top);
  if (overlay === undefined) throw new Error(`no overlay above '${top.nodeName}'`);
  jobs.assertOpenToJobs(overlay);
  const id = jobs.createJob({
    id: a['job-id'],
    type: 'commit',
    autoFinalize: a['auto-finalize'],
    autoDismiss: a['auto-dismiss'],
    speed,
    graphChanges: { ...COMMIT_GRAPH_CHANGES, afterJob: 0 },
  });
  // commit_start makes its commit_top filter once the job exists: refused, the half-made node is
  // closed again (one graph change) and the job goes at once (job_early_fail: `null`, and one
  // more graph change as it is freed); the error has no prefix.
  const filterName = a['filter-node-name'];
  if (filterName !== undefined) {
    try {
      layer.checkNewNodeName(filterName);
    } catch (e) {
      jobs.graphChange();
      jobs.applyEffects(jobs.engine.earlyFail(id).effects);
      jobs.graphChange();
      throw e;
    }
  }
  jobs.graphChange(COMMIT_GRAPH_CHANGES.afterJob);
  const copy = allocatedInChain(layer, top, base);
  const chain: { node: BlockNode; backend?: boolean }[] = [];
  for (let n: BlockNode | undefined = top; n !== undefined && n !== base; n = n.backing) {
    chain.push(n === top ? { node: n, backend: true } : { node: n });
  }
  const d = jobs.newDriver(id, commitDriver, {
    state: commitState({ overlay, base, backingFile: a['backing-file'] }),
    work: new WorkList(extentsOf(top.length, copy), COMMIT_CHUNK_SIZE),
    read: { node: top, policy: a['on-error'] ?? 'report' },
    write: { node: base, policy: a['on-error'] ?? 'report' },
    attached: [{ node: bs }, ...chain, { node: base, backend: true }],
    // The job's own BlockBackend sits on the device until the job is freed: no root node.
    filterOn: bs,
  });
  addJobFilter(jobs, d, 'commit_top', top, a['filter-node-name']);
  jobs.start(id);
  return {};
}

/**
 * A job filter's name, checked before the job exists (stream's copy-on-read filter, active
 * commit's mirror_top): refused, the half-made filter node is closed again (one graph change).
 * Stream puts its filter in with bdrv_insert_node, which prefixes the error (`inserted`).
 */
function checkFilterName(jobs: JobFactory, name: string | undefined, inserted: boolean): void {
  if (name === undefined) return;
  try {
    jobs.layer.checkNewNodeName(name);
  } catch (e) {
    jobs.graphChange();
    if (!inserted || !CommandError.isInstance(e)) throw e;
    throw generic(`Could not create node: ${e.desc}`);
  }
}

/** bdrv_find_backing_image() by the displayed filename (or node name) of a chain member. */
export function findBackingImage(
  layer: BlockLayer,
  top: BlockNode,
  name: string,
  includeTop: boolean,
): BlockNode | undefined {
  for (let n: BlockNode | undefined = includeTop ? top : top.backing; n; n = n.backing) {
    if (n.nodeName === name || layer.blockDeviceInfo(n, true).file === name) return n;
    if (n.file?.filename === name) return n;
  }
  return undefined;
}

export function blockStream(jobs: JobFactory, a: BlockStreamArgs): QmpEmpty {
  const layer = jobs.layer;
  if (a.base !== undefined && a['base-node'] !== undefined) {
    throw generic("'base' and 'base-node' cannot be specified at the same time");
  }
  if (a.base !== undefined && a.bottom !== undefined) {
    throw generic("'base' and 'bottom' cannot be specified at the same time");
  }
  if (a.bottom !== undefined && a['base-node'] !== undefined) {
    throw generic("'bottom' and 'base-node' cannot be specified at the same time");
  }
  const bs = blockNode(layer, a.device);
  let base: BlockNode | undefined;
  if (a.base !== undefined) {
    base = findBackingImage(jobs.layer, bs, a.base, false);
    if (base === undefined) throw generic(`Can't find '${a.base}' in the backing chain`);
  }
  if (a['base-node'] !== undefined) {
    base = nodeByName(layer, a['base-node']);
    if (bs === base || !chainContains(bs, base)) {
      throw generic(`Node '${a['base-node']}' is not a backing image of '${a.device}'`);
    }
  }
  let bottom: BlockNode | undefined;
  if (a.bottom !== undefined) {
    bottom = nodeByName(layer, a.bottom);
    if (!chainContains(bs, bottom)) {
      throw generic(`Node '${a.bottom}' is not in a chain starting from '${a.device}'`);
    }
    base = bottom.backing;
  }
  for (let n: BlockNode | undefined = bs; n !== undefined && n !== base; n = n.backing) {
    jobs.assertOpenToJobs(n);
  }
  if (base === undefined && a['backing-file'] !== undefined) {
    throw generic('backing file specified, but streaming the entire chain');
  }
  checkFilterName(jobs, a['filter-node-name'], true);
  const id = jobs.createJob({
    id: a['job-id'],
    type: 'stream',
    autoFinalize: a['auto-finalize'],
    autoDismiss: a['auto-dismiss'],
    speed: a.speed,
    graphChanges: STREAM_GRAPH_CHANGES,
  });
  // Nothing between the device and the base: stream_run returns at once.
  const immediate = bs.backing === base;
  const intermediates = allocatedInChain(layer, bs.backing, base);
  const copy = subtractRanges(intermediates, allocatedInNode(layer, bs));
  const attached: { node: BlockNode }[] = [{ node: bs }];
  for (let n = bs.backing; n !== undefined && n !== base; n = n.backing) attached.push({ node: n });
  const d = jobs.newDriver(id, streamDriver, {
    state: streamState({ immediate, base, backingFile: a['backing-file'] }),
    work: immediate
      ? new WorkList([], STREAM_CHUNK_SIZE)
      : new WorkList(extentsOf(bs.length, copy), STREAM_CHUNK_SIZE),
    ...(immediate ? { total: 0 } : {}),
    read: { node: bs, policy: a['on-error'] ?? 'report' },
    // Copy-on-read: what it copies is written into the top node itself (a failed write is
    // reported as a read, under the same policy).
    write: { node: bs, policy: a['on-error'] ?? 'report' },
    // Its loop first sleeps (job_sleep_ns(0)): copying starts after the reply.
    lazyStart: true,
    attached,
    filterOn: bs,
  });
  addJobFilter(jobs, d, 'copy-on-read', bs, a['filter-node-name']);
  jobs.start(id);
  return {};
}

/**
 * The filter node a commit (commit_top, read-only, above its top node) or a stream
 * (copy-on-read, above its device) puts in for its run; query-named-block-nodes lists it, and
 * the node's parents reach the node through it, until the job's end drops it.
 */
function addJobFilter(
  jobs: JobFactory,
  d: JobRun,
  driver: 'commit_top' | 'copy-on-read',
  child: BlockNode,
  filterName: string | undefined,
): void {
  const layer = jobs.layer;
  const remove = layer.addJobFilter({
    nodeName: filterName ?? layer.generatedNodeName(),
    driver,
    child,
    bitmaps: [],
    ...(driver === 'commit_top' ? { readOnly: true } : {}),
  });
  d.atEnd.push(remove);
}
