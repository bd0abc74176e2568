// Drained sections (bdrv_drained_begin … bdrv_drained_end): every graph-changing command opens
// one, including commands that then fail, and every job working on a drained node (or a node
// above it) takes an internal pause: paused/standby, then running/ready when the section ends.

import type { BlockNode } from '../block-layer.js';
import type { JobRun } from '../jobs/driver.js';
import { finishChunkInFlight } from './copy-loop.js';
import type { JobRuntime } from './job-runtime.js';
import { applyEffects, reconcile } from './job-runtime.js';

// ---- drained sections -----------------------------------------------------------------------
/**
 * bdrv_drained_begin() on `node` (or every node): each job working on it, or on a node above
 * it, takes an internal pause. An idle job parks at once; a busy one first finishes the chunk
 * it has in flight (the drain waits for it). Returns the jobs paused, to end the section.
 */
export function drainBegin(rt: JobRuntime, node: BlockNode | undefined): JobRun[] {
  const affected: JobRun[] = [];
  const above = node === undefined ? undefined : selfAndAncestors(rt, node);
  const drivers = [...rt.drivers.values()].filter(
    (d) => d.driver.drainable && !d.released && rt.engine.has(d.id),
  );
  if (node !== undefined) {
    // One node: its parents list, newest first.
    drivers.reverse();
  } else {
    // Everything: node by node in creation order; a job pauses with the first node it uses.
    const order = new Map([...rt.blockLayer.nodes()].reverse().map((n, i) => [n, i] as const));
    const first = (d: JobRun) =>
      Math.min(...d.attached.map((n) => order.get(n) ?? Number.MAX_SAFE_INTEGER));
    drivers.sort((a, b) => first(a) - first(b) || a.seq - b.seq);
  }
  for (const d of drivers) {
    if (above !== undefined && !d.attached.some((n) => above.has(n))) continue;
    const snap = rt.engine.job(d.id);
    if (snap === undefined || snap.run === 'exited') continue;
    applyEffects(rt, rt.engine.pauseInternal(d.id).effects);
    affected.push(d);
    const now = rt.engine.job(d.id);
    if (now?.run === 'busy' && d.plan !== undefined) {
      finishChunkInFlight(rt, d);
      applyEffects(rt, rt.engine.pausePoint(d.id).effects);
      reconcile(rt, d);
    }
  }
  return affected;
}

export function drainEnd(rt: JobRuntime, drivers: readonly JobRun[], newestFirst: boolean): void {
  // bdrv_drained_end() of one node walks its parents newest first (jobs created inside the
  // section included). At the end of a drain of everything a job resumes when the last of its
  // nodes leaves the drain, which is the filter node it made when it started: oldest job first.
  const order = [...drivers].sort((a, b) => (newestFirst ? b.seq - a.seq : a.seq - b.seq));
  for (const d of order) {
    const snap = rt.engine.job(d.id);
    if (snap === undefined || snap.pauseCount <= 0) continue;
    applyEffects(rt, rt.engine.resumeInternal(d.id).effects);
  }
}

export function selfAndAncestors(rt: JobRuntime, node: BlockNode): Set<BlockNode> {
  const out = new Set<BlockNode>([node]);
  const stack = [node];
  while (stack.length > 0) {
    const n = stack.pop() as BlockNode;
    for (const p of rt.blockLayer.parentsOf(n)) {
      if (!out.has(p)) {
        out.add(p);
        stack.push(p);
      }
    }
  }
  return out;
}

// ---- the block graph's write lock -------------------------------------------------------------
/**
 * How many times QEMU takes the block graph's write lock at each step of a job's life, as
 * measured on qemu-storage-daemon 10.0.2 (each one is a drained pair of every other job there).
 * The counts are QEMU's code paths, not a version's choice: 7.2 makes the same graph changes,
 * its lock just drains nothing.
 */
export interface GraphChanges {
  /** While the command builds the job, before block_job_create has made it (its filter node). */
  readonly beforeJob: number;
  /** After block_job_create, before the job starts (the job's nodes attached to it). */
  readonly afterJob: number;
  /** When block_job_create then refuses the job (a duplicate id): the filter node undone. */
  readonly onRefusal: number;
}

/**
 * bdrv_graph_wrlock() … bdrv_graph_wrunlock(), `times` times: on a profile whose graph lock
 * drains all (QEMU 8.2 on), each is a drained section of every node, begun and ended, so every
 * job not already paused shows a paused/running (standby/ready) pair. Nothing on 7.2.
 */
export function graphChange(rt: JobRuntime, times = 1): void {
  if (!rt.profile.graphChangesDrainAll) return;
  for (let i = 0; i < times; i++) drainEnd(rt, drainBegin(rt, undefined), false);
}
