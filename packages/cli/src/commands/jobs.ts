/**
 * `qmpkit jobs [--json]`: every job from `query-jobs`, with the speed limit from
 * `query-block-jobs`.
 */
import type { QmpClient } from '@qmpkit/client';
import type { JobsCommand } from '../args.js';
import { type CliIo, connect, EXIT_OK } from '../io.js';
import { formatJson } from '../json-format.js';
import { type JobRow, jobsTable, percentOf } from '../render.js';
import type { WatchedBlockJob, WatchedJob } from '../watch-model.js';

function num(value: number | bigint): number {
  return typeof value === 'bigint' ? Number(value) : value;
}

/** Merges the two queries' answers into rows, in query-jobs order (newest first). */
export function jobRows(
  jobs: readonly WatchedJob[],
  blockJobs: readonly WatchedBlockJob[],
): JobRow[] {
  const blocks = new Map(blockJobs.map((block) => [block.device, block]));
  return jobs.map((job) => {
    const current = num(job['current-progress']);
    const total = num(job['total-progress']);
    const block = blocks.get(job.id);
    return {
      id: job.id,
      type: job.type,
      status: job.status,
      current,
      total,
      percent: total > 0 ? percentOf(current / total) : null,
      speed: block === undefined ? null : num(block.speed),
      error: job.error ?? null,
    };
  });
}

/** Both queries, pipelined. */
export async function queryJobs(
  client: QmpClient,
): Promise<{ jobs: WatchedJob[]; blockJobs: WatchedBlockJob[] }> {
  const [jobs, blockJobs] = await Promise.all([
    client.execute('query-jobs'),
    client.execute('query-block-jobs'),
  ]);
  return {
    jobs,
    blockJobs,
  };
}

export async function runJobs(invocation: JobsCommand, io: CliIo): Promise<number> {
  const client = await connect(invocation.target, invocation.connectTimeoutMs, io.interrupt);
  const closed = () => void client.close();
  io.interrupt.addEventListener('abort', closed, { once: true });
  try {
    const { jobs, blockJobs } = await queryJobs(client);
    const rows = jobRows(jobs, blockJobs);
    io.stdout.write(`${invocation.json ? formatJson(rows) : jobsTable(rows)}\n`);
    return EXIT_OK;
  } finally {
    io.interrupt.removeEventListener('abort', closed);
    await client.close();
  }
}
