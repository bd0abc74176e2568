// The blockdev-create job: its run is the image driver's create step, one unit of progress. A
// refusal comes before the command's reply (the driver checks its options before any I/O); a
// successful creation completes after it. It works on no node, so no drain pauses it.

import { CommandError } from '@qmpkit/protocol';
import type { BlockdevCreateOptions } from '@qmpkit/qapi-types/7.2';
import { copyJobDriver, type JobDriver } from '../runtime/job-driver.js';
import { applyEffects, defer, type JobRuntime, reconcile } from '../runtime/job-runtime.js';
import type { CreateState, JobRun } from './driver.js';

export function createState(options: BlockdevCreateOptions): CreateState {
  return { kind: 'create', options };
}

function stateOf(d: JobRun): CreateState {
  if (d.state.kind !== 'create') throw new Error(`job '${d.id}' is not a create job`);
  return d.state;
}

function run(rt: JobRuntime, d: JobRun): void {
  d.started = true;
  applyEffects(rt, rt.engine.progress(d.id, { setRemaining: 1 }).effects);
  let error: string | undefined;
  try {
    rt.blockLayer.create(stateOf(d).options);
  } catch (caught) {
    error = CommandError.isInstance(caught)
      ? caught.desc
      : caught instanceof Error
        ? caught.message
        : String(caught);
  }
  const done = () => {
    if (rt.engine.job(d.id)?.run !== 'busy') return;
    applyEffects(rt, rt.engine.progress(d.id, { workDone: 1 }).effects);
    applyEffects(rt, rt.engine.runFinished(d.id, error !== undefined ? { error } : {}).effects);
    reconcile(rt, d);
  };
  // 7.2 ends a refused creation before the reply; 10.0 runs the job's coroutine after it.
  if (error !== undefined && !rt.profile.createJobRunsAfterReply) done();
  else defer(rt, done);
}

export const createDriver: JobDriver = {
  ...copyJobDriver,
  // Not a block job: it holds no node of the graph.
  graphChangesAtEnd: () => 0,
  graphChangesWhenFreed: 0,
  kind: 'create',
  drainable: false,
  enter: (rt, d, reason) => {
    if (reason === 'start') run(rt, d);
  },
  run,
};
