// runJob / runTransaction / waitForJob against scripted servers whose event sequences are
// transcribed from reference/job-semantics.md §5–§6 (verified on QEMU 7.2).
import { ExecInterruptedError, ExecuteError, TimeoutError } from '@qmpkit/protocol';
import { until } from '@qmpkit/test-support';
import { describe, expect, test } from 'vitest';
import { FakeQmp, QSD_VERSION, type ReceivedCommand } from '../test/fake-qmp.js';
import { QmpClient } from './client.js';
import { JobLostError } from './errors.js';
import type { JobProgress } from './progress.js';

async function connected(options: ConstructorParameters<typeof QmpClient>[0] = {}) {
  const fake = new FakeQmp();
  await fake.start();
  const client = await QmpClient.connect({ transport: fake.clientSide }, options);
  return { fake, client };
}

const MiB64 = 67108864;

function blockData(type: string, device: string, len: number, offset: number, extra = {}) {
  return { type, device, len, offset, speed: 0, ...extra };
}

function jobInfo(
  id: string,
  type: string,
  status: string,
  current: number,
  total: number,
  error?: string,
) {
  return {
    id,
    type,
    status,
    'current-progress': current,
    'total-progress': total,
    ...(error === undefined ? {} : { error }),
  };
}

async function expectCommand(
  fake: FakeQmp,
  execute: string,
  args?: Record<string, unknown>,
): Promise<ReceivedCommand> {
  const command = await fake.next();
  expect(command.execute).toBe(execute);
  if (args !== undefined) expect(command.arguments).toEqual(args);
  return command;
}

/** Nothing was sent since the last command the fake took: the next one is a probe sent now. */
async function expectNothingMoreSent(fake: FakeQmp, client: QmpClient): Promise<void> {
  const probe = client.execute('query-version');
  const next = await fake.next();
  expect(next.execute).toBe('query-version');
  await fake.reply(next, QSD_VERSION);
  await probe;
}

describe('runJob', () => {
  test('stream, normal run (§5.6): completed, with every status and the final progress', async () => {
    const { fake, client } = await connected();
    const run = client.runJob('block-stream', { device: 'top', 'job-id': 's1' });
    const create = await expectCommand(fake, 'block-stream', { device: 'top', 'job-id': 's1' });
    await fake.status('s1', 'created');
    await fake.status('s1', 'running');
    await fake.reply(create, {});
    await fake.status('s1', 'waiting');
    await fake.status('s1', 'pending');
    await fake.event('BLOCK_JOB_COMPLETED', blockData('stream', 's1', MiB64, MiB64));
    await fake.status('s1', 'concluded');
    await fake.status('s1', 'null');
    const outcome = await run;
    expect(outcome).toMatchObject({ id: 's1', status: 'completed', ioErrors: 0 });
    expect(outcome.error).toBeUndefined();
    expect(outcome.statuses).toEqual([
      'created',
      'running',
      'waiting',
      'pending',
      'concluded',
      'null',
    ]);
    expect(outcome.progress).toMatchObject({ current: MiB64, total: MiB64, fraction: 1 });
    await expectNothingMoreSent(fake, client); // no other command was needed
    await client.close();
  });

  test('a job that finishes entirely before its creation reply (zero-length stream)', async () => {
    const { fake, client } = await connected();
    const run = client.runJob('block-stream', { device: 'base', 'job-id': 's0' });
    const create = await fake.next();
    for (const status of ['created', 'running', 'waiting', 'pending']) {
      await fake.status('s0', status);
    }
    await fake.event('BLOCK_JOB_COMPLETED', blockData('stream', 's0', 0, 0));
    await fake.status('s0', 'concluded');
    await fake.status('s0', 'null');
    await fake.reply(create, {});
    await expect(run).resolves.toMatchObject({ id: 's0', status: 'completed' });
    await client.close();
  });

  test('mirror ready → job-complete (§6.2)', async () => {
    const { fake, client } = await connected();
    const run = client.runJob('blockdev-mirror', {
      'job-id': 'j1',
      device: 'src',
      target: 'dst',
      sync: 'full',
    });
    const create = await fake.next();
    await fake.status('j1', 'created');
    await fake.status('j1', 'running');
    await fake.reply(create, {});
    await fake.status('j1', 'ready');
    await fake.event('BLOCK_JOB_READY', blockData('mirror', 'j1', 1024, 1024));
    const complete = await expectCommand(fake, 'job-complete', { id: 'j1' });
    await fake.reply(complete, {});
    await fake.status('j1', 'waiting');
    await fake.status('j1', 'pending');
    await fake.event('BLOCK_JOB_COMPLETED', blockData('mirror', 'j1', 1024, 1024));
    await fake.status('j1', 'concluded');
    await fake.status('j1', 'null');
    await expect(run).resolves.toMatchObject({
      status: 'completed',
      readyAction: 'complete',
    });
    await client.close();
  });

  test("mirror ready → 'cancel' sends job-cancel; BLOCK_JOB_CANCELLED → cancelled (§6.3)", async () => {
    const { fake, client } = await connected();
    const run = client.runJob(
      'blockdev-mirror',
      { 'job-id': 'j1', device: 'src', target: 'dst', sync: 'full' },
      { onReady: 'cancel' },
    );
    const create = await fake.next();
    await fake.status('j1', 'created');
    await fake.status('j1', 'running');
    await fake.reply(create, {});
    await fake.status('j1', 'ready');
    const cancel = await expectCommand(fake, 'job-cancel', { id: 'j1' });
    await fake.reply(cancel, {});
    await fake.status('j1', 'aborting');
    await fake.event('BLOCK_JOB_CANCELLED', blockData('mirror', 'j1', 1024, 1024));
    await fake.status('j1', 'concluded');
    await fake.status('j1', 'null');
    await expect(run).resolves.toMatchObject({ status: 'cancelled', readyAction: 'cancel' });
    await client.close();
  });

  test("mirror ready → 'soft-cancel' sends block-job-cancel; QEMU completes it (§6.3)", async () => {
    const { fake, client } = await connected();
    const run = client.runJob(
      'blockdev-mirror',
      { 'job-id': 'j1', device: 'src', target: 'dst', sync: 'full' },
      { onReady: async () => 'soft-cancel' as const },
    );
    const create = await fake.next();
    await fake.reply(create, {});
    await fake.status('j1', 'ready');
    const cancel = await expectCommand(fake, 'block-job-cancel', { device: 'j1' });
    await fake.reply(cancel, {});
    await fake.status('j1', 'waiting');
    await fake.status('j1', 'pending');
    await fake.event('BLOCK_JOB_COMPLETED', blockData('mirror', 'j1', 1024, 1024));
    await fake.status('j1', 'concluded');
    await fake.status('j1', 'null');
    await expect(run).resolves.toMatchObject({ status: 'completed', readyAction: 'soft-cancel' });
    await client.close();
  });

  test('auto-finalize and auto-dismiss off (§6.4): hook, job-finalize, query-jobs, job-dismiss', async () => {
    const { fake, client } = await connected();
    const hookSaw: unknown[] = [];
    const run = client.runJob(
      'block-stream',
      { device: 'top', 'job-id': 's1', 'auto-finalize': false, 'auto-dismiss': false },
      { beforeFinalize: (job) => void hookSaw.push({ ...job }) },
    );
    const create = await fake.next();
    await fake.status('s1', 'created');
    await fake.status('s1', 'running');
    await fake.reply(create, {});
    await fake.status('s1', 'waiting');
    await fake.status('s1', 'pending');
    await fake.event('BLOCK_JOB_PENDING', { type: 'stream', id: 's1' });
    const finalize = await expectCommand(fake, 'job-finalize', { id: 's1' });
    expect(hookSaw).toEqual([{ id: 's1', status: 'pending' }]);
    await fake.event('BLOCK_JOB_COMPLETED', blockData('stream', 's1', MiB64, MiB64));
    await fake.status('s1', 'concluded');
    await fake.reply(finalize, {});
    const query = await expectCommand(fake, 'query-jobs');
    await fake.reply(query, [jobInfo('s1', 'stream', 'concluded', MiB64, MiB64)]);
    const dismiss = await expectCommand(fake, 'job-dismiss', { id: 's1' });
    await fake.status('s1', 'null');
    await fake.reply(dismiss, {});
    await expect(run).resolves.toMatchObject({ status: 'completed' });
    await client.close();
  });

  test("dismiss: false leaves the concluded job and resolves at 'concluded'", async () => {
    const { fake, client } = await connected();
    const run = client.runJob(
      'block-stream',
      { device: 'top', 'job-id': 's1', 'auto-dismiss': false },
      { dismiss: false },
    );
    const create = await fake.next();
    await fake.reply(create, {});
    await fake.status('s1', 'pending');
    await fake.event('BLOCK_JOB_COMPLETED', blockData('stream', 's1', 8, 8));
    await fake.status('s1', 'concluded');
    const query = await expectCommand(fake, 'query-jobs');
    await fake.reply(query, [jobInfo('s1', 'stream', 'concluded', 8, 8)]);
    await expect(run).resolves.toMatchObject({ status: 'completed' });
    await expectNothingMoreSent(fake, client);
    await client.close();
  });

  test('a failing backup with auto-dismiss off (§6.7): failed, with the error text and I/O errors', async () => {
    const { fake, client } = await connected();
    const run = client.runJob('blockdev-backup', {
      'job-id': 'b1',
      device: 'src',
      target: 'dst',
      sync: 'full',
      'auto-dismiss': false,
    });
    const create = await fake.next();
    await fake.status('b1', 'created');
    await fake.status('b1', 'running');
    await fake.status('b1', 'paused');
    await fake.status('b1', 'running');
    await fake.reply(create, {});
    await fake.event('BLOCK_JOB_ERROR', { device: 'b1', operation: 'read', action: 'report' });
    await fake.event('BLOCK_JOB_ERROR', { device: 'b1', operation: 'read', action: 'report' });
    await fake.status('b1', 'aborting');
    await fake.event(
      'BLOCK_JOB_COMPLETED',
      blockData('backup', 'b1', MiB64, 0, { error: 'Input/output error' }),
    );
    await fake.status('b1', 'concluded');
    const query = await expectCommand(fake, 'query-jobs');
    await fake.reply(query, [jobInfo('b1', 'backup', 'concluded', 0, MiB64, 'Input/output error')]);
    const dismiss = await expectCommand(fake, 'job-dismiss', { id: 'b1' });
    await fake.status('b1', 'null');
    await fake.reply(dismiss, {});
    await expect(run).resolves.toMatchObject({
      status: 'failed',
      error: 'Input/output error',
      ioErrors: 2,
    });
    await client.close();
  });

  test('blockdev-create: no BLOCK_JOB_* events, the failure is read from query-jobs (§5.1)', async () => {
    const { fake, client } = await connected();
    const run = client.runJob('blockdev-create', {
      'job-id': 'cr1',
      options: { driver: 'file', filename: '/tmp/x', size: 1000 },
    });
    const create = await fake.next();
    await fake.status('cr1', 'created');
    await fake.status('cr1', 'running');
    await fake.reply(create, {});
    await fake.status('cr1', 'aborting');
    await fake.status('cr1', 'concluded');
    // auto-dismiss is always off for create jobs: the driver reads the result.
    const query = await expectCommand(fake, 'query-jobs');
    await fake.reply(query, [
      jobInfo('cr1', 'create', 'concluded', 1, 1, 'Image size must be a multiple of 512 bytes'),
    ]);
    const dismiss = await expectCommand(fake, 'job-dismiss', { id: 'cr1' });
    await fake.status('cr1', 'null');
    await fake.reply(dismiss, {});
    await expect(run).resolves.toMatchObject({
      status: 'failed',
      error: 'Image size must be a multiple of 512 bytes',
    });
    await client.close();
  });

  test('a creation error rejects with the ExecuteError (negative speed: created, null, error — §5.4)', async () => {
    const { fake, client } = await connected();
    const run = client.runJob('block-stream', { device: 'top', 'job-id': 's1', speed: -1 });
    const create = await fake.next();
    await fake.status('s1', 'created');
    await fake.status('s1', 'null');
    await fake.fail(create, 'GenericError', "Parameter 'speed' expects a non-negative value");
    const error = await run.catch((e: unknown) => e);
    expect(ExecuteError.isInstance(error)).toBe(true);
    expect((error as ExecuteError).desc).toBe("Parameter 'speed' expects a non-negative value");
    await client.close();
  });

  test('a refused verb with no status change fails the run with that error', async () => {
    const { fake, client } = await connected();
    const run = client.runJob('blockdev-mirror', {
      'job-id': 'm1',
      device: 'src',
      target: 'dst',
      sync: 'full',
    });
    await fake.reply(await fake.next(), {});
    await fake.status('m1', 'ready');
    const complete = await expectCommand(fake, 'job-complete');
    await fake.fail(complete, 'GenericError', "The active block job 'm1' cannot be completed");
    const error = await run.catch((e: unknown) => e);
    expect(ExecuteError.isInstance(error)).toBe(true);
    await client.close();
  });

  test('the signal cancels the job (job-cancel) and the outcome is cancelled', async () => {
    const { fake, client } = await connected();
    const controller = new AbortController();
    const run = client.runJob(
      'block-stream',
      { device: 'top', 'job-id': 's1', speed: 1 },
      { signal: controller.signal },
    );
    const create = await fake.next();
    await fake.status('s1', 'created');
    await fake.status('s1', 'running');
    await fake.reply(create, {});
    // Aborted once the client has read the job running (the driver keeps items in order).
    await fake.delivered(client);
    controller.abort();
    const cancel = await expectCommand(fake, 'job-cancel', { id: 's1' });
    // job-cancel on an idle stream: everything before the reply (§6.9)
    await fake.status('s1', 'aborting');
    await fake.event('BLOCK_JOB_CANCELLED', blockData('stream', 's1', MiB64, 524288));
    await fake.status('s1', 'concluded');
    await fake.status('s1', 'null');
    await fake.reply(cancel, {});
    await expect(run).resolves.toMatchObject({ status: 'cancelled' });
    await client.close();
  });

  test('progress is monotonic while the total grows (§8.1) and carries rate and ETA', async () => {
    const { fake, client } = await connected();
    const reports: JobProgress[] = [];
    const run = client.runJob(
      'blockdev-mirror',
      { 'job-id': 'm1', device: 'src', target: 'dst', sync: 'full' },
      { onProgress: (p) => reports.push(p), progressIntervalMs: 5 },
    );
    await fake.reply(await fake.next(), {});
    const samples: Array<[number, number]> = [
      [100, 1000],
      [600, 1000],
      [700, 4000], // the total grew: 0.175 < 0.6
      [3000, 4000],
      [4000, 4000],
    ];
    for (const [i, [current, total]] of samples.entries()) {
      const query = await expectCommand(fake, 'query-jobs');
      await fake.reply(query, [jobInfo('m1', 'mirror', 'running', current, total)]);
      // The client took this sample; the next one is taken at a later millisecond, so a rate
      // can be computed between them.
      await until(() => reports.length === i + 1);
      const takenBy = Date.now();
      await until(() => Date.now() > takenBy);
    }
    await fake.status('m1', 'ready');
    // Polls may interleave with job-complete: answer whatever comes.
    for (;;) {
      const command = await fake.next();
      if (command.execute === 'job-complete') {
        await fake.reply(command, {});
        break;
      }
      await fake.reply(command, [jobInfo('m1', 'mirror', 'ready', 4000, 4000)]);
    }
    await fake.status('m1', 'waiting');
    await fake.status('m1', 'pending');
    await fake.event('BLOCK_JOB_COMPLETED', blockData('mirror', 'm1', 4000, 4000));
    await fake.status('m1', 'concluded');
    await fake.status('m1', 'null');
    const outcome = await run;
    expect(outcome.status).toBe('completed');
    const fractions = reports.map((p) => p.fraction);
    for (let i = 1; i < fractions.length; i++) {
      expect(fractions[i]).toBeGreaterThanOrEqual(fractions[i - 1] as number);
    }
    expect(reports.map((p) => p.current)).toEqual([100, 600, 700, 3000, 4000]);
    expect(reports[2]?.fraction).toBe(0.6); // held, not 0.175
    expect(reports[2]?.total).toBe(4000);
    expect(reports.at(-1)?.fraction).toBe(1);
    expect(reports.at(-1)?.etaMs).toBe(0);
    expect(reports[1]?.rate).toBeGreaterThan(0);
    // Drain the poller's last queries so close() has nothing pending that matters.
    await client.close();
  });

  test('a lost connection without reconnect rejects the run with ExecInterruptedError', async () => {
    const { fake, client } = await connected();
    const run = client.runJob('block-stream', { device: 'top', 'job-id': 's1' });
    await fake.reply(await fake.next(), {});
    await fake.status('s1', 'running');
    await fake.delivered(client);
    fake.reset();
    const error = await run.catch((e: unknown) => e);
    expect(ExecInterruptedError.isInstance(error)).toBe(true);
  });
});

describe('runJob across a reconnect', () => {
  async function reconnectingClient() {
    const fakes: FakeQmp[] = [];
    const client = new QmpClient({ reconnect: { initialDelayMs: 1 } });
    const connecting = client.connect({
      open: async () => {
        const fake = new FakeQmp();
        fakes.push(fake);
        await fake.start();
        return fake.clientSide;
      },
    });
    await until(() => fakes.length === 1);
    const first = fakes[0] as FakeQmp;
    await first.reply(await expectCommand(first, 'query-jobs'), []);
    await connecting;
    return { client, fakes, first };
  }

  test('a job that became ready while disconnected is completed after the reconnect', async () => {
    const { client, fakes, first } = await reconnectingClient();
    const run = client.runJob('blockdev-mirror', {
      'job-id': 'm1',
      device: 'src',
      target: 'dst',
      sync: 'full',
    });
    await first.reply(await first.next(), {});
    await first.status('m1', 'running');
    await first.delivered(client);
    first.reset();
    await until(() => fakes.length === 2);
    const second = fakes[1] as FakeQmp;
    const query = await expectCommand(second, 'query-jobs');
    await second.reply(query, [jobInfo('m1', 'mirror', 'ready', 10, 10)]);
    const complete = await expectCommand(second, 'job-complete', { id: 'm1' });
    await second.reply(complete, {});
    await second.status('m1', 'waiting');
    await second.status('m1', 'pending');
    await second.event('BLOCK_JOB_COMPLETED', blockData('mirror', 'm1', 10, 10));
    await second.status('m1', 'concluded');
    await second.status('m1', 'null');
    const outcome = await run;
    expect(outcome.status).toBe('completed');
    expect(outcome.statuses).toEqual([
      'running',
      'ready',
      'waiting',
      'pending',
      'concluded',
      'null',
    ]);
    await client.close();
  });

  test('a job-finalize lost with the connection is sent again when the job is still pending', async () => {
    const { client, fakes, first } = await reconnectingClient();
    const run = client.runJob('block-stream', {
      device: 'top',
      'job-id': 's1',
      'auto-finalize': false,
    });
    await first.reply(await first.next(), {});
    await first.status('s1', 'pending');
    await expectCommand(first, 'job-finalize', { id: 's1' });
    first.reset(); // no reply: did it run? query-jobs will tell
    await until(() => fakes.length === 2);
    const second = fakes[1] as FakeQmp;
    await second.reply(await expectCommand(second, 'query-jobs'), [
      jobInfo('s1', 'stream', 'pending', 8, 8),
    ]);
    const finalize = await expectCommand(second, 'job-finalize', { id: 's1' });
    await second.event('BLOCK_JOB_COMPLETED', blockData('stream', 's1', 8, 8));
    await second.status('s1', 'concluded');
    await second.status('s1', 'null');
    await second.reply(finalize, {});
    await expect(run).resolves.toMatchObject({ status: 'completed' });
    await client.close();
  });

  test('a job that vanished while disconnected rejects with JobLostError', async () => {
    const { client, fakes, first } = await reconnectingClient();
    const run = client.runJob('block-stream', { device: 'top', 'job-id': 's1' });
    await first.reply(await first.next(), {});
    await first.status('s1', 'running');
    await first.delivered(client);
    first.reset();
    await until(() => fakes.length === 2);
    const second = fakes[1] as FakeQmp;
    await second.reply(await expectCommand(second, 'query-jobs'), []);
    const error = await run.catch((e: unknown) => e);
    expect(JobLostError.isInstance(error)).toBe(true);
    expect((error as JobLostError).lastStatus).toBe('running');
    await client.close();
  });
});

describe('runTransaction', () => {
  const backup = (id: string, extra: Record<string, unknown> = {}) => ({
    type: 'blockdev-backup' as const,
    data: {
      'job-id': id,
      device: `src-${id}`,
      target: `dst-${id}`,
      sync: 'full' as const,
      ...extra,
    },
  });

  test('grouped, auto-finalize off: one job-finalize finalizes both; the other refusal is ignored (§6.8)', async () => {
    const { fake, client } = await connected();
    const run = client.runTransaction({
      actions: [backup('j1', { 'auto-finalize': false }), backup('j2', { 'auto-finalize': false })],
      properties: { 'completion-mode': 'grouped' },
    });
    const txn = await expectCommand(fake, 'transaction');
    // §5.8 creation order
    for (const [id, status] of [
      ['j1', 'created'],
      ['j2', 'created'],
      ['j1', 'running'],
      ['j1', 'paused'],
      ['j2', 'running'],
      ['j2', 'paused'],
      ['j1', 'running'],
      ['j2', 'running'],
    ] as const) {
      await fake.status(id, status);
    }
    await fake.reply(txn, {});
    await fake.status('j1', 'waiting');
    await fake.status('j2', 'waiting');
    // all go pending, newest first
    await fake.status('j2', 'pending');
    await fake.event('BLOCK_JOB_PENDING', { type: 'backup', id: 'j2' });
    await fake.status('j1', 'pending');
    await fake.event('BLOCK_JOB_PENDING', { type: 'backup', id: 'j1' });
    const [first, second] = await fake.take(2);
    expect([first?.execute, second?.execute]).toEqual(['job-finalize', 'job-finalize']);
    // The first finalize finalizes the whole transaction, all before its reply.
    for (const id of ['j2', 'j1']) {
      await fake.event('BLOCK_JOB_COMPLETED', blockData('backup', id, 8, 8));
      await fake.status(id, 'concluded');
      await fake.status(id, 'null');
    }
    await fake.reply(first as ReceivedCommand, {});
    await fake.fail(second as ReceivedCommand, 'GenericError', 'Job not found');
    const outcomes = await run;
    expect(outcomes.map((o) => [o.id, o.status])).toEqual([
      ['j1', 'completed'],
      ['j2', 'completed'],
    ]);
    await client.close();
  });

  test('a member whose finalize is sent after the sibling finalized everything: the refusal is ignored', async () => {
    const { fake, client } = await connected();
    let openGate: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    const run = client.runTransaction(
      {
        actions: [
          backup('j1', { 'auto-finalize': false }),
          backup('j2', { 'auto-finalize': false }),
        ],
        properties: { 'completion-mode': 'grouped' },
      },
      // j1's hook is slow: the whole finalization is queued before j1 sends its job-finalize.
      { beforeFinalize: (job) => (job.id === 'j1' ? gate : undefined) },
    );
    await fake.reply(await expectCommand(fake, 'transaction'), {});
    await fake.status('j2', 'pending');
    await fake.status('j1', 'pending');
    const first = await expectCommand(fake, 'job-finalize', { id: 'j2' });
    for (const id of ['j2', 'j1']) {
      await fake.event('BLOCK_JOB_COMPLETED', blockData('backup', id, 8, 8));
      await fake.status(id, 'concluded');
      await fake.status(id, 'null');
    }
    await fake.reply(first, {});
    await fake.delivered(client);
    openGate();
    const late = await expectCommand(fake, 'job-finalize', { id: 'j1' });
    await fake.fail(late, 'GenericError', 'Job not found');
    const outcomes = await run;
    expect(outcomes.map((o) => [o.id, o.status])).toEqual([
      ['j1', 'completed'],
      ['j2', 'completed'],
    ]);
    await client.close();
  });

  test('grouped, one member fails: the sibling is cancelled (§6.8)', async () => {
    const { fake, client } = await connected();
    const run = client.runTransaction({
      actions: [backup('ok1'), backup('bad1')],
      properties: { 'completion-mode': 'grouped' },
    });
    const txn = await fake.next();
    await fake.reply(txn, {});
    await fake.event('BLOCK_JOB_ERROR', { device: 'bad1', operation: 'read', action: 'report' });
    await fake.status('bad1', 'aborting');
    await fake.event(
      'BLOCK_JOB_COMPLETED',
      blockData('backup', 'bad1', 8, 0, { error: 'Input/output error' }),
    );
    await fake.status('bad1', 'concluded');
    await fake.status('bad1', 'null');
    await fake.status('ok1', 'aborting');
    await fake.event('BLOCK_JOB_CANCELLED', blockData('backup', 'ok1', 8, 4));
    await fake.status('ok1', 'concluded');
    await fake.status('ok1', 'null');
    const outcomes = await run;
    expect(outcomes).toMatchObject([
      { id: 'ok1', status: 'cancelled' },
      { id: 'bad1', status: 'failed', error: 'Input/output error', ioErrors: 1 },
    ]);
    await client.close();
  });
});

describe('waitForJob', () => {
  test('resolves from query-jobs when the job is already there', async () => {
    const { fake, client } = await connected();
    const waiting = client.waitForJob('m1', ['ready', 'standby']);
    const query = await expectCommand(fake, 'query-jobs');
    await fake.reply(query, [jobInfo('m1', 'mirror', 'standby', 1, 1)]);
    await expect(waiting).resolves.toBe('standby');
    await client.close();
  });

  test('resolves from an event, even one that arrives before the query reply', async () => {
    const { fake, client } = await connected();
    const waiting = client.waitForJob('m1', 'ready');
    const query = await expectCommand(fake, 'query-jobs');
    await fake.status('m1', 'ready');
    await fake.reply(query, [jobInfo('m1', 'mirror', 'running', 0, 1)]);
    await expect(waiting).resolves.toBe('ready');
    await client.close();
  });

  test('times out with TimeoutError', async () => {
    const { fake, client } = await connected();
    // Handled from the start: on a loaded machine the 20 ms may pass before the fake replies.
    const waiting = expect(client.waitForJob('m1', 'ready', { timeoutMs: 20 })).rejects.toSatisfy(
      TimeoutError.isInstance,
    );
    await fake.reply(await fake.next(), []);
    await waiting;
    await client.close();
  });
});
