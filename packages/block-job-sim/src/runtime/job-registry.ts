// Creating jobs: block_job_create() through the engine, and the marks a job puts on the graph
// (op blockers with QEMU's reasons, BlockBackends, filters that make a node no longer a root),
// taken off again when the job is concluded or refused. Also what a job's nodes say about its
// I/O: latency (null-co latency-ns), whether requests reach a file, whether there is data.

import { type BlockNode, jobBlockerReason } from '../block-layer.js';
import {
  blockNode,
  type CreateJobOptions,
  generic,
  type JobFactory,
} from '../jobs/blockdev/context.js';
import type { DriverParts, JobRun } from '../jobs/driver.js';
import { injectionPoints } from '../jobs/io.js';
import { newRateLimit, WorkList } from '../jobs/schedule.js';
import { drainBegin, drainEnd, graphChange } from './drain.js';
import { watchGuestWrites } from './job-data.js';
import type { JobDriver } from './job-driver.js';
import type { JobRuntime } from './job-runtime.js';
import { apply, applyEffects, releaseDriver } from './job-runtime.js';

// ---- job creation ---------------------------------------------------------------------------
/** What the blockdev.c commands (./blockdev/) use of the runtime. */
export function jobFactory(rt: JobRuntime): JobFactory {
  return {
    layer: rt.blockLayer,
    engine: rt.engine,
    profile: rt.profile,
    rootNode: (name) => rootNode(rt, name),
    assertOpenToJobs: (node) => assertOpenToJobs(rt, node),
    createJob: (options) => createJob(rt, options),
    newDriver: (id, driver, parts) => newDriver(rt, id, driver, parts),
    start: (id) => start(rt, id),
    discard: (id) => discard(rt, id),
    drainBegin: (node) => drainBegin(rt, node),
    drainEnd: (drained, newestFirst) => drainEnd(rt, drained, newestFirst),
    graphChange: (times) => graphChange(rt, times),
    applyEffects: (effects) => applyEffects(rt, effects),
    uniqueNumber: () => rt.seq++,
  };
}

/** qmp_get_root_bs(). */
export function rootNode(rt: JobRuntime, name: string): BlockNode {
  const node = blockNode(rt.blockLayer, name);
  if (!isRoot(rt, node)) throw generic('Need a root block node');
  return node;
}

/**
 * bdrv_op_is_blocked() for the operations a backing-file blocker leaves open (commit target,
 * stream, backup source and target): only a job's blocker refuses them.
 */
export function assertOpenToJobs(rt: JobRuntime, node: BlockNode): void {
  const reason = rt.jobBlockers.get(node)?.[0];
  if (reason !== undefined) throw generic(`Node '${node.nodeName}' is busy: ${reason}`);
}

export function isRoot(rt: JobRuntime, node: BlockNode): boolean {
  return rt.blockLayer.parentsOf(node).length === 0 && !rt.filtered.has(node);
}

/** block_job_create(): the engine's create, with the job's nodes marked on success. */
export function createJob(rt: JobRuntime, options: CreateJobOptions): string {
  const id = options.id ?? '';
  const changes = options.graphChanges;
  graphChange(rt, changes?.beforeJob ?? 0);
  const result = rt.engine.create({
    id,
    type: options.type,
    ...(options.activeCommit === true ? { activeCommit: true } : {}),
    ...(options.transaction !== undefined ? { transaction: options.transaction } : {}),
    ...(options.autoFinalize !== undefined ? { autoFinalize: options.autoFinalize } : {}),
    ...(options.autoDismiss !== undefined ? { autoDismiss: options.autoDismiss } : {}),
    ...(options.speed !== undefined ? { speed: options.speed } : {}),
  });
  if (!result.ok) graphChange(rt, changes?.onRefusal ?? 0);
  apply(rt, result);
  graphChange(rt, changes?.afterJob ?? 0);
  return id;
}

export function newDriver(
  rt: JobRuntime,
  id: string,
  driver: JobDriver,
  parts: DriverParts,
): JobRun {
  const layer = rt.blockLayer;
  const type = rt.engine.job(id)?.type ?? driver.kind;
  const release: Array<() => void> = [];
  for (const a of parts.attached ?? []) {
    if (a.blocker !== false) {
      const reason = jobBlockerReason(type);
      release.push(layer.block(a.node, reason));
      const list = rt.jobBlockers.get(a.node) ?? [];
      list.unshift(reason);
      rt.jobBlockers.set(a.node, list);
      release.push(() => {
        const at = list.indexOf(reason);
        if (at >= 0) list.splice(at, 1);
        if (list.length === 0) rt.jobBlockers.delete(a.node);
      });
    }
    if (a.backend === true) release.push(layer.attachBackend(a.node, a.permissions));
  }
  if (parts.filterOn !== undefined) {
    const node = parts.filterOn;
    rt.filtered.set(node, (rt.filtered.get(node) ?? 0) + 1);
    release.push(() => {
      const n = (rt.filtered.get(node) ?? 1) - 1;
      if (n <= 0) rt.filtered.delete(node);
      else rt.filtered.set(node, n);
    });
  }
  const work = parts.work ?? new WorkList([], 1);
  const reads = parts.read !== undefined && (!parts.readsOnlyData || hasData(parts.read.node));
  const d: JobRun = {
    id,
    driver,
    state: parts.state,
    seq: rt.seq++,
    started: false,
    work,
    total: parts.total ?? work.totalCopy + work.totalSkip,
    readNode: parts.read?.node,
    writeNode: parts.write?.node,
    readPoints: parts.read ? injectionPoints(parts.read.node, 'read') : [],
    writePoints: parts.write ? injectionPoints(parts.write.node, 'write') : [],
    readPolicy: parts.read?.policy ?? 'report',
    writePolicy: parts.write?.policy ?? 'report',
    attached: (parts.attached ?? []).map((a) => a.node),
    release,
    released: false,
    atEnd: [],
    group: parts.group,
    frontier: 0,
    copiesInto: parts.copiesInto ?? parts.write?.node,
    recordedTo: 0,
    unwritten: new Set(),
    applied: 0,
    limiter: newRateLimit(),
    plan: undefined,
    planLive: false,
    planLimiter: newRateLimit(),
    landing: undefined,
    errorsClearedTo: 0,
    progressBase: 0,
    failedBytes: 0,
    readsSource: reads,
    readsFromFile: reads && parts.read !== undefined && reachesFile(parts.read.node),
    lazyStart: parts.lazyStart ?? false,
    firstOnly: false,
    kicked: false,
    latency:
      (reads && parts.read !== undefined ? readLatencyOf(parts.read.node) : 0) +
      (parts.write !== undefined ? latencyOf(parts.write.node) : 0),
    wave: parts.wave ?? 1,
    instantIo:
      (parts.read === undefined || !reachesFile(parts.read.node)) &&
      (parts.write === undefined || !reachesFile(parts.write.node)),
    speed: rt.engine.job(id)?.speed ?? 0,
    timer: undefined,
    timerAt: Number.NaN,
  };
  parts.group?.add(d);
  rt.drivers.set(id, d);
  const unwatch = watchGuestWrites(rt, d);
  if (unwatch !== undefined) release.push(unwatch);
  return d;
}

/** A job created but refused later by its command (never started): undo its marks. */
export function discard(rt: JobRuntime, id: string): void {
  const d = rt.drivers.get(id);
  if (d !== undefined) releaseDriver(rt, d);
}

export function start(rt: JobRuntime, id: string): void {
  apply(rt, rt.engine.start(id));
}

/** Whether requests to the node reach an image file (asynchronous I/O in QEMU's thread pool). */
function reachesFile(node: BlockNode): boolean {
  const stack = [node];
  const seen = new Set<BlockNode>();
  while (stack.length > 0) {
    const n = stack.pop() as BlockNode;
    if (seen.has(n)) continue;
    seen.add(n);
    if (n.driver === 'file') return true;
    for (const child of n.children) stack.push(child.node);
  }
  return false;
}

/** Whether reading the node reaches data (null-co reports none, so a mirror never reads it). */
function hasData(node: BlockNode): boolean {
  for (let n: BlockNode | undefined = node; n !== undefined; n = n.file) {
    if (n.driver === 'null-co') return false;
    if (n.driver === 'file') return true;
  }
  return true;
}

/** The latency of one request on the node's data path: its null-co nodes' `latency-ns`. */
function latencyOf(node: BlockNode): number {
  let total = 0;
  for (let n: BlockNode | undefined = node; n !== undefined; n = n.file) total += n.latencyNs;
  return total;
}

/** A read may be served by any image of the backing chain: the slowest one's latency. */
function readLatencyOf(node: BlockNode): number {
  let worst = 0;
  for (let n: BlockNode | undefined = node; n !== undefined; n = n.backing) {
    worst = Math.max(worst, latencyOf(n));
  }
  return worst;
}
