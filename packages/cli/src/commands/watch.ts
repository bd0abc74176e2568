/**
 * `qmpkit jobs watch`: live job progress. On a terminal, bars redrawn in place; with `--json` or
 * when stdout is not a terminal, one `WatchRecord` per change as NDJSON.
 */
import type { WatchCommand } from '../args.js';
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
import { endedLine, jobLine, LiveView } from '../view.js';
import { WatchModel, type WatchRecord } from '../watch-model.js';

export async function runWatch(invocation: WatchCommand, io: CliIo): Promise<number> {
  const client = await connect(invocation.target, invocation.connectTimeoutMs, io.interrupt);
  const model = new WatchModel();
  const json = invocation.json || io.stdout.isTTY !== true;
  const view = json ? undefined : new LiveView(io.stdout);
  let done = false;
  let resolveFinished: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => {
    resolveFinished = resolve;
  });
  const finish = (code: number) => {
    if (done) return;
    done = true;
    resolveFinished(code);
  };
  let snapshots = 0;
  let confirming = false;
  const checkIdle = () => {
    if (!invocation.untilIdle || snapshots === 0 || confirming) return;
    if (invocation.waitForJob && !model.sawJobs) return;
    if (!model.idle()) return;
    // Idle as far as we know; a job that just concluded may still be dismissed by an event
    // already on its way. One more round trip brings every such event in before we leave, so
    // the last records (e.g. `null`) are written.
    confirming = true;
    feed.sync().then(
      () => {
        confirming = false;
        if (model.idle()) finish(EXIT_OK);
      },
      () => {
        // The connection ended: the feed reports it.
        confirming = false;
      },
    );
  };
  const draw = (stay: readonly string[]) => {
    const live = model.records().map((record) => jobLine(record));
    view?.draw(stay, live.length > 0 ? live : ['no jobs (Ctrl-C to leave)']);
  };
  /** Jobs seen in `aborting`, for their last line (bounded by the model's job limit). */
  const aborted = new Set<string>();
  const onRecords = (records: WatchRecord[]) => {
    if (json) {
      for (const record of records) io.stdout.write(`${formatJson(record, 0)}\n`);
      return;
    }
    const ended: string[] = [];
    for (const record of records) {
      if (record.status === 'aborting') aborted.add(record.id);
      if (record.status !== 'null') continue;
      ended.push(endedLine(record, aborted.has(record.id)));
      aborted.delete(record.id);
    }
    draw(ended);
  };
  const feed = new JobFeed(client, model, {
    intervalMs: invocation.intervalMs,
    now: () => io.now(),
    onRecords,
    onSnapshot: () => {
      snapshots++;
      if (snapshots === 1 && view !== undefined) draw([]);
      checkIdle();
    },
    onEvent: checkIdle,
  });
  const onInterrupt = () => finish(EXIT_INTERRUPTED);
  if (io.interrupt.aborted) onInterrupt();
  io.interrupt.addEventListener('abort', onInterrupt, { once: true });
  void feed.ended.then((cause) => {
    if (done) return;
    if (cause !== undefined) {
      io.stderr.write(`${describeError(cause)}\n`);
      finish(EXIT_FAILURE);
    } else if (client.state === 'closed') {
      io.stderr.write('qmpkit: the server closed the connection\n');
      finish(EXIT_FAILURE);
    }
  });
  try {
    return await finished;
  } finally {
    io.interrupt.removeEventListener('abort', onInterrupt);
    feed.close();
    view?.close();
    await client.close();
  }
}
