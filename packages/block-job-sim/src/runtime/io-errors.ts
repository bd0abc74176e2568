// Injected I/O errors (blkdebug inject-error) meeting a job's requests, and the error action
// that follows (block_job_error_action: ignore, report, stop, enospc/auto).

import { strerror } from '@qmpkit/protocol';
import type { JobRun } from '../jobs/driver.js';
import { candidateRules, ENOSPC, type InjectionPoint } from '../jobs/io.js';
import { stopPlan } from './copy-loop.js';
import type { JobRuntime } from './job-runtime.js';
import { applyEffects, defer, finish, idle, reconcile } from './job-runtime.js';

/** The first chunk index >= from whose I/O an armed blkdebug rule would fail. */
export function predictError(_rt: JobRuntime, d: JobRun, from: number): number | undefined {
  if (d.readPoints.length === 0 && d.writePoints.length === 0) return undefined;
  const work = d.work;
  if (from >= work.chunkCount) return undefined;
  let best: number | undefined;
  const look = (points: readonly InjectionPoint[], iotype: 'read' | 'write') => {
    for (const point of points) {
      for (const rule of candidateRules(point, iotype)) {
        let index: number;
        // Without a known offset mapping (a qcow2 in between), every chunk is checked.
        if (rule.offset === -1 || point.shift === undefined) index = from;
        else {
          const pos = work.copyPositionOf(rule.offset - point.shift);
          if (pos === undefined) continue;
          index = work.chunkIndexAt(pos);
          if (index < from) continue;
        }
        if (best === undefined || index < best) best = index;
      }
    }
  };
  if (d.readsSource) look(d.readPoints, 'read');
  // A chunk read from a file inside the command is written after the reply: a write error
  // cannot come before it (a read error, injected before any I/O, can).
  if (!(d.firstOnly && d.readsFromFile)) look(d.writePoints, 'write');
  return best;
}

/** A request of a chunk that failed: read or write, and its errno. */
export interface RequestFailure {
  readonly iotype: 'read' | 'write';
  readonly errno: number;
}

/** The chunk's requests go down the graph; returns true when the run stops. */
export function injectError(rt: JobRuntime, d: JobRun, index: number): boolean {
  const chunk = d.work.chunk(index);
  const layer = rt.blockLayer;
  let hit: RequestFailure | undefined;
  if (d.readNode !== undefined && d.readsSource) {
    const failure = layer.requestError(d.readNode, 'read', chunk.device, chunk.bytes);
    if (failure !== undefined) hit = { iotype: 'read', errno: failure.errno };
  }
  if (hit === undefined && d.writeNode !== undefined) {
    const failure = layer.requestError(d.writeNode, 'write', chunk.device, chunk.bytes);
    if (failure !== undefined) hit = { iotype: 'write', errno: failure.errno };
  }
  d.errorsClearedTo = index + 1;
  if (hit === undefined) return false;
  const stops = d.driver.requestFailed(rt, d, index, hit);
  // The loop goes past a chunk whose failure it ignored: that chunk was not written.
  if (!stops) d.unwritten.add(index);
  return stops;
}

/** block_job_error_action() and what the job does next; true when its run stops here. */
export function errorAction(
  rt: JobRuntime,
  d: JobRun,
  hit: RequestFailure,
  retryChunk: number,
): boolean {
  const operation = hit.iotype === 'write' && !d.driver.reportsWritesAsReads ? 'write' : 'read';
  const policy = hit.iotype === 'write' ? d.writePolicy : d.readPolicy;
  const result = rt.engine.ioError(d.id, {
    operation,
    policy,
    ...(hit.errno === ENOSPC ? { nospace: true } : {}),
  });
  applyEffects(rt, result.effects);
  if (!result.ok) return true;
  const message = strerror(hit.errno);
  switch (result.action) {
    case 'ignore':
      d.driver.errorIgnored(d, message);
      return false;
    case 'stop':
      // The request is retried after resume.
      d.errorsClearedTo = retryChunk;
      stopPlan(rt, d);
      idle(rt, d);
      reconcile(rt, d);
      return true;
    default:
      // The job's exit runs in a later main-loop turn: after the reply of a command.
      stopPlan(rt, d);
      defer(rt, () => finish(rt, d, message));
      return true;
  }
}
