/**
 * `qmpkit run mirror|commit|stream|backup`: starts the job with the client's `runJob` (which
 * drives it: complete or soft-cancel on ready, finalize, dismiss), shows its progress, and exits
 * 0 when it completed, 1 with QEMU's error when it could not start or failed.
 *
 * Ctrl-C cancels the job (`job-cancel`), waits a little for it to end, and exits 130.
 */
import { ExecuteError, type JobOutcome, type ReadyAction } from '@qmpkit/client';
import type { RunCommand } from '../args.js';
import { JobFeed } from '../feed.js';
import {
  type CliIo,
  connect,
  describeError,
  EXIT_FAILURE,
  EXIT_INTERRUPTED,
  EXIT_OK,
} from '../io.js';
import { formatJson } from '../json-format.js';
import { jobLine, LiveView } from '../view.js';
import { WatchModel, type WatchRecord } from '../watch-model.js';

/** How long Ctrl-C waits for the cancelled job to end before leaving anyway. */
const CANCEL_GRACE_MS = 5000;

/** The outcome line of `--json` (the last NDJSON object). */
export interface RunOutcomeRecord {
  outcome: 'completed' | 'cancelled' | 'failed';
  id: string;
  error: string | null;
}

export function outcomeRecord(outcome: JobOutcome): RunOutcomeRecord {
  return { outcome: outcome.status, id: outcome.id, error: outcome.error ?? null };
}

export async function runRun(invocation: RunCommand, io: CliIo): Promise<number> {
  const client = await connect(invocation.target, invocation.connectTimeoutMs, io.interrupt);
  const id = invocation.jobId;
  const model = new WatchModel();
  // The JobType is the job kind: commit (active or not), stream, mirror, backup.
  model.expectJob(id, invocation.kind);
  const json = invocation.json;
  const live = !json && io.stderr.isTTY === true ? new LiveView(io.stderr) : undefined;
  let lastStatus: string | undefined;
  const onRecords = (records: WatchRecord[]) => {
    for (const record of records) {
      if (record.id !== id) continue;
      if (json) io.stdout.write(`${formatJson(record, 0)}\n`);
      else if (live !== undefined) {
        const hint =
          record.status === 'ready' && invocation.onReady === undefined
            ? '  (ready: Ctrl-C cancels)'
            : '';
        live.draw([], [jobLine(record) + hint]);
      } else if (record.status !== lastStatus) io.stderr.write(`${id}: ${record.status}\n`);
      lastStatus = record.status;
    }
  };
  const feed = new JobFeed(client, model, {
    intervalMs: invocation.intervalMs,
    now: () => io.now(),
    onRecords,
    // The job's statuses come from its events; polling is for progress only.
    blockJobsOnly: true,
  });

  // Interrupt: at `ready` without a decision, the driver waits on this; otherwise job-cancel.
  let interrupted = false;
  let cancelSent = false;
  let decideReady: ((action: ReadyAction) => void) | undefined;
  let status: string | undefined;
  const onInterrupt = () => {
    interrupted = true;
    if (decideReady !== undefined) {
      decideReady('cancel');
      decideReady = undefined;
      return;
    }
    if (status === undefined) return; // not created yet: onStatus cancels it when it is
    if (['aborting', 'concluded', 'null'].includes(status)) return;
    cancelSent = true;
    client.executeUntyped('job-cancel', { id }).catch(() => {});
  };

  const run = client.runJob(invocation.qmpCommand, invocation.args, {
    onStatus: (s) => {
      status = s;
      // Ctrl-C came while the job was being created (its job-cancel found no job): cancel now.
      if (interrupted && !cancelSent && (s === 'created' || s === 'running' || s === 'paused')) {
        cancelSent = true;
        client.executeUntyped('job-cancel', { id }).catch(() => {});
      }
      if (s === 'ready' && invocation.onReady === undefined && !json && live === undefined) {
        io.stderr.write(`${id}: ready; Ctrl-C cancels\n`);
      }
    },
    onReady: () => {
      if (interrupted) return 'cancel';
      if (invocation.onReady !== undefined) return invocation.onReady;
      return new Promise<ReadyAction>((resolve) => {
        decideReady = resolve;
      });
    },
  });
  io.interrupt.addEventListener('abort', onInterrupt, { once: true });
  if (io.interrupt.aborted) onInterrupt();
  try {
    const interruptedEnd = new Promise<'interrupted'>((resolve) => {
      const wait = () => setTimeout(() => resolve('interrupted'), CANCEL_GRACE_MS).unref?.();
      if (io.interrupt.aborted) wait();
      else io.interrupt.addEventListener('abort', wait, { once: true });
    });
    let outcome: JobOutcome | 'interrupted';
    try {
      outcome = await Promise.race([run, interruptedEnd]);
    } catch (error) {
      if (interrupted) return EXIT_INTERRUPTED;
      if (ExecuteError.isInstance(error)) {
        io.stderr.write(`${describeError(error)}\n`);
        return EXIT_FAILURE;
      }
      throw error;
    }
    // Let the feed print the job's last events (they were delivered to it as to the driver).
    await new Promise((resolve) => setImmediate(resolve));
    live?.close();
    if (outcome === 'interrupted') {
      io.stderr.write(
        `qmpkit: interrupted; job ${id} was asked to cancel (job-cancel) and has not ended yet\n`,
      );
      return EXIT_INTERRUPTED;
    }
    if (interrupted) {
      if (json) io.stdout.write(`${formatJson(outcomeRecord(outcome), 0)}\n`);
      const how = outcome.status === 'cancelled' ? 'was cancelled' : outcome.status;
      io.stderr.write(`qmpkit: interrupted; job ${id} ${how}\n`);
      return EXIT_INTERRUPTED;
    }
    if (json) io.stdout.write(`${formatJson(outcomeRecord(outcome), 0)}\n`);
    if (outcome.status === 'completed') {
      if (!json) io.stdout.write(`${id}: completed\n`);
      return EXIT_OK;
    }
    const why = outcome.error ?? (outcome.status === 'cancelled' ? 'cancelled' : 'failed');
    io.stderr.write(`qmpkit: job ${id} ${outcome.status}: ${why}\n`);
    return EXIT_FAILURE;
  } finally {
    io.interrupt.removeEventListener('abort', onInterrupt);
    feed.close();
    live?.close();
    await client.close();
  }
}
