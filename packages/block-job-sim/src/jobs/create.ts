// The blockdev-create job: its run is the image driver's create step, one unit of progress. On
// 7.2 a refusal comes before the command's reply (the driver checks its options before any I/O)
// and a successful creation completes after it; on 10.0 the whole run comes after the reply. It
// works on no node, so no drain pauses it; on 10.0 formatting a qcow2 image drains the others.

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
  // The image driver's create step. Formatting a qcow2 image changes the block graph (a
  // BlockBackend on the file, the new image opened and closed twice): on 10.0 each change drains
  // every node, where QEMU makes it, in the job's coroutine after the reply.
  const create = (graphChanges: boolean) => {
    try {
      rt.blockLayer.create(stateOf(d).options, { graphChanges });
    } catch (caught) {
      error = CommandError.isInstance(caught)
        ? caught.desc
        : caught instanceof Error
          ? caught.message
          : String(caught);
    }
  };
  const done = () => {
    if (rt.engine.job(d.id)?.run !== 'busy') return;
    applyEffects(rt, rt.engine.progress(d.id, { workDone: 1 }).effects);
    applyEffects(rt, rt.engine.runFinished(d.id, error !== undefined ? { error } : {}).effects);
    reconcile(rt, d);
  };
  if (rt.profile.createJobRunsAfterReply) {
    // 10.0 runs the job's coroutine, the creation included, after the reply.
    defer(rt, () => {
      create(true);
      done();
    });
    return;
  }
  // 7.2 ends a refused creation before the reply; its graph lock drains nothing.
  create(false);
  if (error !== undefined) done();
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
