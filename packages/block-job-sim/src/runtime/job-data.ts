// The data a job moves. Each chunk its copy loop gets past is copied from what the job reads
// into the node it writes (the block layer's NodeData), so reading the target afterwards returns
// what the source held:
//
// - backup: what the source held when the job started. A guest write into a stretch the job has
//   not copied yet first copies the old data to the target (block/copy-before-write.c), and the
//   loop then leaves that stretch alone. sync=none copies only that way.
// - mirror and active commit: what the source holds; a guest write the mirror sees after the
//   loop went past its stretch is copied too (block/mirror.c: the dirty bitmap in background
//   mode, whole granules; the synchronous write in write-blocking mode, the bytes written —
//   also after block-job-change switched a running mirror to it). Which writes it sees (measured on QEMU
//   7.2.22 and 10.0.2): those that go through its filter (an export added before the job: the
//   export follows the graph onto mirror_top); below the filter (an export added after), only a
//   7.2 background mirror sees them, its dirty bitmap being on the source (10.0: on the filter).
// - stream: copy-on-read into the top, only into clusters the top does not hold (a guest write
//   there since stays).
// - commit: what the top reads (down to the base) into the base.

import { GranuleSet } from '../bitmaps/granule-set.js';
import type { WriteOrigin } from '../block-layer/node-data.js';
import type { JobRun } from '../jobs/driver.js';
import { type Range, subtractRanges } from '../jobs/io.js';
import { applyEffects, type JobRuntime } from './job-runtime.js';

/** Per backup: the byte ranges copied before a guest overwrote them. */
const copiedBeforeWrite = new WeakMap<JobRun, GranuleSet>();

function runsOf(set: GranuleSet): Range[] {
  return set.runs().map((r) => ({ start: r.start, length: r.end - r.start }));
}

/** Copies the chunks' data: `ranges` (device offsets) of the work the loop got past. */
export function copyChunkData(rt: JobRuntime, d: JobRun, ranges: readonly Range[]): void {
  const from = d.readNode;
  const into = d.copiesInto;
  if (from === undefined || into === undefined) return;
  const data = rt.blockLayer.nodeData;
  const done = copiedBeforeWrite.get(d);
  const todo = done === undefined ? ranges : subtractRanges(ranges, runsOf(done));
  try {
    for (const r of todo) {
      if (d.state.kind === 'stream') data.populate(into, r.start, r.length);
      else data.copy(from, into, r.start, r.length);
    }
  } catch {
    // Past the memory limit for data (or the image file refused it): the target misses that
    // data, as a guest write past the limit fails. The job's own course is simulated anyway.
  }
}

/** What a job does when guests write into the node it reads; returns the unwatch. */
export function watchGuestWrites(rt: JobRuntime, d: JobRun): (() => void) | undefined {
  const source = d.readNode;
  if (source === undefined || d.copiesInto === undefined) return undefined;
  const state = d.state;
  if (state.kind === 'backup') {
    return rt.blockLayer.nodeData.watch(source, {
      before: (offset, length) => copyBeforeWrite(rt, d, offset, length),
    });
  }
  if (state.kind === 'mirror') {
    const filterEpoch = rt.blockLayer.nodeData.nextEpoch();
    const sees = (origin: WriteOrigin): boolean => {
      if (!origin.guest) return false;
      if (origin.epoch < filterEpoch) return true;
      return !state.writeBlocking && !rt.profile.jobBitmapsOnFilter;
    };
    return rt.blockLayer.nodeData.watch(source, {
      after: (offset, length, origin) => {
        if (sees(origin)) mirrorWrite(rt, d, offset, length);
      },
    });
  }
  return undefined;
}

function copyBeforeWrite(rt: JobRuntime, d: JobRun, offset: number, length: number): void {
  const source = d.readNode;
  const target = d.copiesInto;
  if (source === undefined || target === undefined || d.released) return;
  const state = d.state;
  let uncopied: Range[];
  if (state.kind === 'backup' && state.endless) uncopied = [{ start: 0, length: source.length }];
  else {
    uncopied = d.work.deviceRanges(d.recordedTo, d.work.totalCopy);
    for (const i of d.unwritten) {
      const c = d.work.chunk(i);
      uncopied.push({ start: c.device, length: c.bytes });
    }
    uncopied.sort((a, b) => a.start - b.start);
  }
  let done = copiedBeforeWrite.get(d);
  const hit: Range[] = [];
  for (const r of uncopied) {
    const start = Math.max(r.start, offset);
    const end = Math.min(r.start + r.length, offset + length);
    if (end > start) hit.push({ start, length: end - start });
  }
  const todo = done === undefined ? hit : subtractRanges(hit, runsOf(done));
  if (todo.length === 0) return;
  if (done === undefined) {
    done = new GranuleSet();
    copiedBeforeWrite.set(d, done);
  }
  const data = rt.blockLayer.nodeData;
  for (const r of todo) {
    try {
      data.copy(source, target, r.start, r.length);
    } catch {
      // As in copyChunkData: past the data limit the target misses it.
    }
    rt.blockLayer.recordWrite(target, r.start, r.length);
    done.add(r.start, r.start + r.length);
  }
}

function mirrorWrite(rt: JobRuntime, d: JobRun, offset: number, length: number): void {
  const target = d.copiesInto;
  const state = d.state;
  if (target === undefined || d.released || d.readNode === undefined || state.kind !== 'mirror') {
    return;
  }
  // Stretches the loop has not reached yet are copied by it, with the data they hold then.
  const ahead = d.work.deviceRanges(d.recordedTo, d.work.totalCopy);
  // A background mirror marks the granules the write touched dirty and copies them whole; a
  // write-blocking one (started so, or switched by block-job-change) writes just the guest's bytes
  // to the target before the write completes and counts those (do_sync_target_write).
  const gran = state.writeBlocking ? 1 : state.granularity;
  let dirty = 0;
  let dirtyEnd = 0;
  for (const r of subtractRanges([{ start: offset, length }], ahead)) {
    try {
      rt.blockLayer.nodeData.copy(d.readNode, target, r.start, r.length);
    } catch {
      // As in copyChunkData.
    }
    rt.blockLayer.recordWrite(target, r.start, r.length);
    // What it copies again: len and offset grow by it.
    const from = Math.max(dirtyEnd, Math.floor(r.start / gran) * gran);
    const to = Math.ceil((r.start + r.length) / gran) * gran;
    if (to > from) dirty += to - from;
    dirtyEnd = Math.max(dirtyEnd, to);
  }
  if (dirty > 0) {
    applyEffects(
      rt,
      rt.engine.progress(d.id, { increaseRemaining: dirty, workDone: dirty }).effects,
    );
  }
}
