// What the jobs know about the nodes they copy: which bytes need copying (allocation along a
// backing chain) and where blkdebug's inject-error rules can make a request fail.

import type { BlockLayer, BlockNode } from '../block-layer.js';
import type { Extent } from './schedule.js';

/** A byte range [start, start + length). */
export interface Range {
  readonly start: number;
  readonly length: number;
}

/**
 * The ranges a node holds itself (not through its backing file), as bdrv_is_allocated() sees
 * them: a qcow2 image its allocated clusters; a null-co node nothing, unless it reads zeroes
 * (its block status says BDRV_BLOCK_ZERO only with read-zeroes); raw and blkdebug what their
 * file holds; a file all of it (holes read as zeroes, which counts as allocated).
 */
export function allocatedInNode(layer: BlockLayer, node: BlockNode): Range[] {
  const whole = node.length > 0 ? [{ start: 0, length: node.length }] : [];
  switch (node.driver) {
    case 'qcow2': {
      const map = layer.allocationMap(node);
      if (map === undefined) return [];
      return map.extents().map((e) => ({ start: e.offset, length: e.length }));
    }
    case 'null-co':
      return node.readZeroes ? whole : [];
    case 'raw':
    case 'blkdebug':
      return node.file === undefined ? whole : allocatedInNode(layer, node.file);
    default:
      return whole;
  }
}

/** Union of sorted range lists. */
export function unionRanges(lists: readonly (readonly Range[])[]): Range[] {
  const all = lists.flat().sort((a, b) => a.start - b.start);
  const out: Range[] = [];
  for (const r of all) {
    if (r.length <= 0) continue;
    const last = out[out.length - 1];
    if (last !== undefined && r.start <= last.start + last.length) {
      const end = Math.max(last.start + last.length, r.start + r.length);
      out[out.length - 1] = { start: last.start, length: end - last.start };
    } else out.push(r);
  }
  return out;
}

/** Ranges of `a` not in `b` (both sorted and disjoint). */
export function subtractRanges(a: readonly Range[], b: readonly Range[]): Range[] {
  const out: Range[] = [];
  let j = 0;
  for (const r of a) {
    let start = r.start;
    const end = r.start + r.length;
    while (j < b.length && (b[j] as Range).start + (b[j] as Range).length <= start) j++;
    let k = j;
    while (start < end) {
      const cut = b[k];
      if (cut === undefined || cut.start >= end) {
        out.push({ start, length: end - start });
        break;
      }
      if (cut.start > start) out.push({ start, length: cut.start - start });
      start = Math.max(start, cut.start + cut.length);
      k++;
    }
  }
  return out;
}

/** Ranges allocated anywhere in the chain from `top` down to, not including, `stop`. */
export function allocatedInChain(
  layer: BlockLayer,
  top: BlockNode | undefined,
  stop: BlockNode | undefined,
): Range[] {
  const lists: Range[][] = [];
  for (let node = top; node !== undefined && node !== stop; node = node.backing) {
    lists.push(allocatedInNode(layer, node));
  }
  return unionRanges(lists);
}

/** Extents over [0, length): `copy` ranges copied, the rest passed over. */
export function extentsOf(length: number, copy: readonly Range[]): Extent[] {
  const out: Extent[] = [];
  let at = 0;
  for (const r of copy) {
    const start = Math.max(at, r.start);
    const end = Math.min(length, r.start + r.length);
    if (end <= start) continue;
    if (start > at) out.push({ copy: false, length: start - at });
    out.push({ copy: true, length: end - start });
    at = end;
  }
  if (at < length) out.push({ copy: false, length: length - at });
  return out;
}

/**
 * Only the copied ranges (jobs whose total counts nothing else), each at its device offset: a
 * chunk never spans the gap between two of them (a mirror iteration or a block-copy task covers
 * one contiguous dirty stretch).
 */
export function copyOnly(copy: readonly Range[], length: number): Extent[] {
  return copy
    .map((r) => ({
      copy: true,
      length: Math.min(length, r.start + r.length) - r.start,
      device: r.start,
    }))
    .filter((e) => e.length > 0);
}

// ---- blkdebug ---------------------------------------------------------------------------------

/** The parts of a blkdebug node's state the jobs use (see the block layer's BlkdebugState). */
export interface BlkdebugRuleView {
  readonly event: string;
  readonly state: number;
  readonly iotypes: readonly string[];
  readonly offset: number;
}

export interface BlkdebugView {
  readonly state: number;
  rules(): readonly BlkdebugRuleView[];
  activeRules(): readonly BlkdebugRuleView[];
  event(name: string): void;
  check(iotype: 'read' | 'write', offset: number, bytes: number): { errno: number } | undefined;
}

/** One blkdebug node on a job's I/O path. */
export interface InjectionPoint {
  readonly blkdebug: BlkdebugView;
  /** The events a format driver directly above raises on it for this kind of request. */
  readonly events: readonly string[];
  /** Device offset → offset at this node, when only raw nodes (no qcow2 mapping) lie between. */
  readonly shift: number | undefined;
}

const READ_EVENTS = ['read_aio', 'read_backing_aio', 'read_compressed'];
const WRITE_EVENTS = ['write_aio'];

/**
 * The blkdebug nodes a read (through `file`/`image` and `backing` children) or a write
 * (`file`/`image` only) of `node` reaches: where an injected error can hit the job.
 */
export function injectionPoints(node: BlockNode, iotype: 'read' | 'write'): InjectionPoint[] {
  const out: InjectionPoint[] = [];
  const seen = new Set<BlockNode>();
  const walk = (n: BlockNode, shift: number | undefined, parentIsFormat: boolean) => {
    if (seen.has(n) || seen.size > 256) return;
    seen.add(n);
    const blkdebug: BlkdebugView | undefined = n.blkdebug;
    if (blkdebug !== undefined) {
      const events = parentIsFormat ? (iotype === 'read' ? READ_EVENTS : WRITE_EVENTS) : [];
      out.push({ blkdebug, events, shift });
    }
    const isFormat = n.driver === 'raw' || n.driver === 'qcow2';
    // raw's offset option is not visible on BlockNode; qcow2 maps guest to host offsets.
    const childShift = n.driver === 'qcow2' || n.driver === 'raw' ? undefined : shift;
    const fileShift = n.driver === 'raw' ? shift : childShift;
    if (n.file !== undefined) walk(n.file, fileShift, isFormat);
    if (iotype === 'read' && n.backing !== undefined) walk(n.backing, shift, false);
  };
  walk(node, 0, false);
  return out;
}

/** Rules that can fail a request of `iotype` at this point. */
export function candidateRules(
  point: InjectionPoint,
  iotype: 'read' | 'write',
): BlkdebugRuleView[] {
  const { blkdebug, events } = point;
  const active = blkdebug.activeRules();
  return blkdebug
    .rules()
    .filter(
      (r) =>
        (events.includes(r.event) || active.includes(r)) &&
        r.iotypes.includes(iotype) &&
        (r.state === 0 || r.state === blkdebug.state),
    );
}

export const ENOSPC = 28;
