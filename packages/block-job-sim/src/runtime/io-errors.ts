// Injected I/O errors (blkdebug inject-error) meeting a job's requests, and the error action
// that follows (block_job_error_action: ignore, report, stop, enospc/auto).

import { strerror } from '@qmpkit/protocol';
import type { BlockNode } from '../block-layer.js';
import type { JobRun } from '../jobs/driver.js';
import { candidateRules, ENOSPC, type InjectionPoint } from '../jobs/io.js';
import type { JobRuntime } from './job-runtime.js';
import {
  applyEffects,
  cancelTimer,
  defer,
  finish,
  guarded,
  idle,
  reconcile,
  reconcileGroup,
  stopPlan,
} from './job-runtime.js';

/**
 * How long one turn of a job's retry loop takes: a zero-length job_sleep_ns waits for the next
 * main-loop turn. qemu-storage-daemon 7.2 and 10.0 go round about 3,000 times a second; one
 * turn a millisecond keeps the events of an endless retry at that order without a busy loop.
 */
export const RETRY_TURN_NS = 1_000_000;

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
  /** The chunk's bytes whose requests failed (the rest of the chunk was copied). */
  readonly failedBytes?: number;
}

/** The chunk's requests go down the graph; returns true when the run stops. */
export function injectError(rt: JobRuntime, d: JobRun, index: number): boolean {
  const chunk = d.work.chunk(index);
  const layer = rt.blockLayer;
  let hit: RequestFailure | undefined;
  if (d.readNode !== undefined && d.readsSource) {
    const size = d.driver.readRequestBytes(d) ?? chunk.bytes;
    let failedBytes = 0;
    // The chunk's requests go out together: each may fail on its own.
    for (let at = 0; at < chunk.bytes; at += size) {
      const bytes = Math.min(size, chunk.bytes - at);
      const failure = readError(rt, d, d.readNode, chunk.device + at, bytes);
      if (failure === undefined) continue;
      hit ??= { iotype: 'read', errno: failure.errno };
      failedBytes += bytes;
    }
    if (hit !== undefined) hit = { ...hit, failedBytes };
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

/** The first injected error of the reads a chunk makes (only where block status has them read). */
function readError(
  rt: JobRuntime,
  d: JobRun,
  node: BlockNode,
  offset: number,
  bytes: number,
): { errno: number } | undefined {
  const layer = rt.blockLayer;
  if (d.driver.reads === 'all') return layer.requestError(node, 'read', offset, bytes);
  for (const e of layer.blockStatus(node, offset, bytes)) {
    const read = d.driver.reads === 'data' ? e.status === 'data' : e.status !== 'zero';
    if (!read) continue;
    const failure = layer.requestError(node, 'read', e.offset, e.length);
    if (failure !== undefined) return failure;
  }
  return undefined;
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
    case 'stop': {
      // The request is retried after resume.
      d.errorsClearedTo = retryChunk;
      stopPlan(rt, d);
      const park = () => {
        idle(rt, d);
        reconcile(rt, d);
      };
      // A file's requests complete in a later main-loop turn: a job stopped by one inside a
      // command (a mirror's first buffer) reaches its pause point after the command's reply.
      // A job asleep in its rate limiter meanwhile (its requests still in flight) is entered by
      // the pause (job_pause enters a sleeping job) and parks at once.
      const running = () => {
        const run = rt.engine.job(d.id)?.run;
        return run === 'busy' || run === 'sleeping';
      };
      if (d.readsFromFile) defer(rt, () => running() && park());
      else park();
      return true;
    }
    default:
      // The job's exit runs in a later main-loop turn: after the reply of a command.
      stopPlan(rt, d);
      defer(rt, () => finish(rt, d, message));
      return true;
  }
}

/**
 * The loop goes back to the chunk whose request failed (commit_run on an ignored error:
 * `n = 0; continue`): a zero-length sleep (busy: false; a pause or cancel enters it there), then
 * the same request again. An error that persists repeats for ever, one BLOCK_JOB_ERROR a turn.
 */
export function retryAfterTurn(rt: JobRuntime, d: JobRun, index: number): void {
  stopPlan(rt, d);
  d.errorsClearedTo = index;
  // A cancel that came while the request was in flight: the sleep sees it and the run returns.
  if (rt.engine.job(d.id)?.cancelled) {
    finish(rt, d, undefined);
    return;
  }
  idle(rt, d);
  if (rt.engine.job(d.id)?.run !== 'sleeping') return;
  cancelTimer(rt, d);
  d.timerAt = rt.clock.now() + RETRY_TURN_NS;
  d.timer = rt.clock.setTimer(
    d.timerAt,
    guarded(rt, () => {
      d.timer = undefined;
      d.timerAt = Number.NaN;
      if (rt.engine.job(d.id)?.run !== 'sleeping') return;
      applyEffects(rt, rt.engine.wake(d.id).effects);
      d.driver.resume(rt, d);
      reconcileGroup(rt, d);
    }),
  );
}
