/**
 * Keeps one QMP target fed into the hub: connects (and reconnects with backoff while the
 * dashboard runs), listens to every event (registered before the connection opens, so nothing
 * falls between), and sends `query-jobs` + `query-block-jobs` every poll interval and after each
 * job status change — at most one pair in flight, a change meanwhile asks for one more, and
 * pairs at least 100 ms apart.
 */
import { type ConnectTarget, QmpClient } from '@qmpkit/client';
import type { DashboardHub } from '../hub.js';

export interface TargetFeedOptions {
  pollIntervalMs: number;
  connectTimeoutMs: number;
  /** Wall clock in epoch milliseconds. */
  now: () => number;
  /** Called after the hub changed (to schedule a flush). */
  onChange: () => void;
  signal: AbortSignal;
}

const MIN_RETRY_MS = 250;
/**
 * Queries start at least this far apart: under a flood of status changes (QEMU 10.0's drains
 * flap every ready mirror at each graph change) a query per change would only repeat itself.
 */
const MIN_QUERY_GAP_MS = 100;
const MAX_RETRY_MS = 5000;

/** Runs until `options.signal` aborts; never rejects. */
export async function feedTarget(
  hub: DashboardHub,
  name: string,
  target: ConnectTarget,
  options: TargetFeedOptions,
): Promise<void> {
  let retryMs = MIN_RETRY_MS;
  while (!options.signal.aborted) {
    hub.setTargetState(name, 'connecting', null, options.now());
    options.onChange();
    const session = new AbortController();
    const stopSession = () => session.abort();
    options.signal.addEventListener('abort', stopSession, { once: true });
    const client = new QmpClient({
      connectTimeoutMs: options.connectTimeoutMs,
      signal: session.signal,
    });
    const stream = client.events({ maxQueued: 65_536, signal: session.signal });
    let detail = 'connection closed';
    let poller: Poller | undefined;
    try {
      await client.connect(target);
      const v = client.version?.qemu;
      hub.setTargetState(
        name,
        'connected',
        v ? `QEMU ${v.major}.${v.minor}.${v.micro}` : null,
        options.now(),
      );
      options.onChange();
      retryMs = MIN_RETRY_MS;
      poller = new Poller(client, hub, name, options, session.signal);
      for await (const event of stream) {
        hub.applyEvent(name, event.event, event.data, options.now());
        options.onChange();
        if (event.event === 'JOB_STATUS_CHANGE') poller.refresh();
      }
      if (stream.endCause !== undefined) detail = stream.endCause.message;
    } catch (error) {
      detail = error instanceof Error ? error.message : String(error);
    } finally {
      poller?.stop();
      options.signal.removeEventListener('abort', stopSession);
      session.abort();
      await client.close().catch(() => {});
    }
    if (options.signal.aborted) break;
    hub.setTargetState(name, 'disconnected', detail, options.now());
    options.onChange();
    await sleep(retryMs, options.signal);
    retryMs = Math.min(MAX_RETRY_MS, retryMs * 2);
  }
}

class Poller {
  private inFlight = false;
  private again = false;
  private lastStart = Number.NEGATIVE_INFINITY;
  private delayed: ReturnType<typeof setTimeout> | undefined;
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly client: QmpClient,
    private readonly hub: DashboardHub,
    private readonly name: string,
    private readonly options: TargetFeedOptions,
    private readonly signal: AbortSignal,
  ) {
    this.timer = setInterval(() => {
      this.hub.tick(this.options.now());
      this.refresh();
    }, options.pollIntervalMs);
    this.refresh();
  }

  refresh(): void {
    if (this.signal.aborted) return;
    if (this.inFlight) {
      this.again = true;
      return;
    }
    if (this.delayed !== undefined) return;
    const wait = this.lastStart + MIN_QUERY_GAP_MS - performance.now();
    if (wait > 0) {
      this.delayed = setTimeout(() => {
        this.delayed = undefined;
        this.refresh();
      }, wait);
      return;
    }
    this.inFlight = true;
    this.lastStart = performance.now();
    const mark = this.hub.mark(this.name);
    const started = performance.now();
    const jobs = this.client.execute('query-jobs').then((answer) => {
      this.hub.recordRoundTrip(this.name, (performance.now() - started) / 1000);
      return answer;
    });
    Promise.all([jobs, this.client.execute('query-block-jobs')])
      // QEMU writes the events it raised before a reply ahead of it, but the event stream may
      // not have delivered them yet: let it catch up before the answer is applied.
      .then((answers) => new Promise<typeof answers>((resolve) => setImmediate(resolve, answers)))
      .then(
        ([jobList, blockJobs]) => {
          this.inFlight = false;
          if (this.signal.aborted) return;
          this.hub.applySnapshot(this.name, jobList, blockJobs, mark, this.options.now());
          this.options.onChange();
          if (this.again) {
            this.again = false;
            this.refresh();
          }
        },
        () => {
          // The connection ended: the event stream ends too and the feed reconnects.
          this.inFlight = false;
        },
      );
  }

  stop(): void {
    clearInterval(this.timer);
    if (this.delayed !== undefined) clearTimeout(this.delayed);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
