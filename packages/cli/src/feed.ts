/**
 * Feeds a `WatchModel` from a live client: job events as they arrive (the listener is
 * registered before the first query, so nothing falls between), plus queries at start and every
 * `intervalMs`. At most one round of queries is in flight; a request meanwhile asks for one more
 * afterwards.
 *
 * What is queried, and when, depends on `blockJobsOnly`: a watcher (`jobs watch`) asks
 * `query-jobs` and `query-block-jobs`, also after every status change; `qmpkit run` asks only
 * `query-block-jobs`, only every `intervalMs`, and learns each status from the events.
 */
import type { QmpClient } from '@qmpkit/client';
import { queryJobs } from './commands/jobs.js';
import type { WatchedBlockJob, WatchedJob, WatchModel, WatchRecord } from './watch-model.js';

const JOB_EVENTS = [
  'JOB_STATUS_CHANGE',
  'BLOCK_JOB_READY',
  'BLOCK_JOB_PENDING',
  'BLOCK_JOB_COMPLETED',
  'BLOCK_JOB_CANCELLED',
  'BLOCK_JOB_ERROR',
] as const;

export interface FeedOptions {
  intervalMs: number;
  now: () => number;
  /** Called with the records of each change, in order. */
  onRecords: (records: WatchRecord[]) => void;
  /** Called after each query answer was applied. */
  onSnapshot?: () => void;
  /** Called after each event was applied. */
  onEvent?: () => void;
  /**
   * Poll `query-block-jobs` alone, and only every `intervalMs`: never in answer to a status
   * change. For a program that drives its block job itself (`qmpkit run`): the events carry each
   * status, and the progress at READY and at the end; its job driver reads the result with the
   * one `query-jobs` it needs. So its polling stays at one query per interval, as a linter of
   * polling (qmpkit-server's `poll-too-fast`) asks — the job driver's query never comes right
   * after one of the feed's.
   */
  blockJobsOnly?: boolean;
}

/** The `query-block-jobs` members a feed of `blockJobsOnly` reads. */
interface PolledBlockJob extends WatchedBlockJob {
  status: string;
  offset: number | bigint;
  len: number | bigint;
}

/** `query-block-jobs` answers as `query-jobs` entries (a block job's id is its device). */
function asJobs(blockJobs: readonly PolledBlockJob[]): WatchedJob[] {
  return blockJobs.map((block) => ({
    id: block.device,
    type: block.type,
    status: block.status,
    'current-progress': block.offset,
    'total-progress': block.len,
    ...(block.error === undefined ? {} : { error: block.error }),
  }));
}

export class JobFeed {
  private readonly stop = new AbortController();
  private inFlight = false;
  private again = false;
  private timer: ReturnType<typeof setInterval> | undefined;
  /** Resolves when the event stream ends: with the cause when the connection was lost. */
  readonly ended: Promise<Error | undefined>;

  constructor(
    private readonly client: QmpClient,
    private readonly model: WatchModel,
    private readonly options: FeedOptions,
  ) {
    const stream = client.events({
      names: [...JOB_EVENTS],
      signal: this.stop.signal,
      maxQueued: 65_536,
    });
    this.ended = (async () => {
      try {
        for await (const event of stream) {
          const records = this.model.event(event.event, event.data, this.options.now());
          if (records.length > 0) this.options.onRecords(records);
          this.options.onEvent?.();
          if (event.event === 'JOB_STATUS_CHANGE' && options.blockJobsOnly !== true) {
            this.refresh();
          }
        }
        return stream.endCause;
      } catch (error) {
        return error instanceof Error ? error : new Error(String(error));
      }
    })();
    this.timer = setInterval(() => this.refresh(), options.intervalMs);
    this.refresh();
  }

  /** Asks for a fresh pair of queries. */
  refresh(): void {
    if (this.stop.signal.aborted) return;
    if (this.inFlight) {
      this.again = true;
      return;
    }
    this.inFlight = true;
    const mark = this.model.mark();
    this.query().then(
      ({ jobs, blockJobs }) => {
        this.inFlight = false;
        if (this.stop.signal.aborted) return;
        const records = this.model.snapshot(jobs, blockJobs, mark, this.options.now());
        if (records.length > 0) this.options.onRecords(records);
        this.options.onSnapshot?.();
        if (this.again) {
          this.again = false;
          this.refresh();
        }
      },
      () => {
        // The connection ended or the client closed: the event stream reports it.
        this.inFlight = false;
      },
    );
  }

  private async query(): Promise<{ jobs: WatchedJob[]; blockJobs: WatchedBlockJob[] }> {
    if (this.options.blockJobsOnly !== true) return queryJobs(this.client);
    const blockJobs = await this.client.execute('query-block-jobs');
    return { jobs: asJobs(blockJobs), blockJobs };
  }

  /**
   * Resolves once a `query-jobs` sent now has been answered and every event that arrived before
   * its reply has been applied. QEMU writes the events it raised before a reply ahead of that
   * reply, so after this the model has seen everything that happened up to now.
   */
  async sync(): Promise<void> {
    await this.client.execute('query-jobs');
    // Events that arrived before the reply are queued in the event stream; let it apply them.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  close(): void {
    this.stop.abort();
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
