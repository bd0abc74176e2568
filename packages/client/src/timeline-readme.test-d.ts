// The README's job timeline example, verbatim, type-checked (see README.md "Job timeline").
import { JobTimelineModel, timelineToNdjson } from './index.js';
import { connectQmp } from './node/index.js';

export async function timelineReadmeExample(): Promise<void> {
  const client = await connectQmp({ path: '/run/qsd/qmp.sock' });
  const timeline = new JobTimelineModel({ stallAfterMs: 10_000 });
  void (async () => {
    for await (const e of client.events()) timeline.applyEvent(e.event, e.data, Date.now());
  })();
  setInterval(async () => {
    const mark = timeline.mark(); // before sending: a stale answer never overrides a newer event
    const [jobs, blockJobs] = await Promise.all([
      client.execute('query-jobs'),
      client.execute('query-block-jobs'),
    ]);
    timeline.applySnapshot(jobs, blockJobs, mark, Date.now());
    timeline.tick(Date.now()); // re-evaluates stall flags; returns the runs whose flag changed
  }, 1000);
  // later
  process.stdout.write(timelineToNdjson(timeline.all(Date.now())));
}
