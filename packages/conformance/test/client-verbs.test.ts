// Every job-* and block-job-* command through @qmpkit/client against a real qemu-storage-daemon,
// each in at least one state that allows it and one that refuses it. The expected error classes
// and texts are QEMU 7.2's, from reference/job-semantics.md §3–§4 (verified on this QEMU).

import { ExecuteError, type QmpClient } from '@qmpkit/client';
import { connectQmp } from '@qmpkit/client/node';
import { HANG_GUARD_MS } from '@qmpkit/test-support';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Daemon, requireQemu, startQemuStorageDaemon } from '../src/daemon.js';

requireQemu();

const GiB = 1024 * 1024 * 1024;
const MiB64 = 64 * 1024 * 1024;

let daemon: Daemon;
let client: QmpClient;

beforeAll(async () => {
  const blockdevs: string[] = [];
  for (const name of ['m1', 'm2', 'm3', 'm4']) {
    blockdevs.push(`null-co,node-name=${name}-src,size=${GiB}`);
    blockdevs.push(`null-co,node-name=${name}-dst,size=${GiB}`);
  }
  for (const name of ['b1', 'b2', 'b3', 'b4']) {
    blockdevs.push(`null-co,node-name=${name}-src,size=${MiB64}`);
    blockdevs.push(`null-co,node-name=${name}-dst,size=${MiB64}`);
  }
  daemon = await startQemuStorageDaemon({ blockdevs });
  client = await connectQmp({ path: daemon.socketPath });
});

afterAll(async () => {
  await client?.close();
  await daemon?.stop();
});

async function refused(call: Promise<unknown>, errorClass: string, desc: string): Promise<void> {
  const error = await call.then(
    () => new Error('the command was accepted'),
    (e: unknown) => e,
  );
  expect(ExecuteError.isInstance(error), String(error)).toBe(true);
  expect([(error as ExecuteError).errorClass, (error as ExecuteError).desc]).toEqual([
    errorClass,
    desc,
  ]);
}

/** A mirror held in `running` by speed=1 (one 16 MiB chunk, then a long sleep: §8.3). */
async function runningMirror(id: string): Promise<void> {
  await client.execute('blockdev-mirror', {
    'job-id': id,
    device: `${id}-src`,
    target: `${id}-dst`,
    sync: 'full',
    speed: 1,
  });
  expect(await client.waitForJob(id, 'running', { timeoutMs: 5000 })).toBe('running');
}

/** A mirror that reached `ready` (speed raised to unlimited). */
async function readyMirror(id: string): Promise<void> {
  await runningMirror(id);
  const ready = client.waitForJob(id, 'ready', { timeoutMs: HANG_GUARD_MS });
  await client.execute('block-job-set-speed', { device: id, speed: 0 });
  expect(await ready).toBe('ready');
}

/** A backup of 64 MiB of null-co that finishes at once and stops as asked (pending/concluded). */
async function finishedBackup(id: string, flags: { autoFinalize: boolean; autoDismiss: boolean }) {
  const wanted = flags.autoFinalize ? 'concluded' : 'pending';
  const reached = client.waitForJob(id, wanted, { timeoutMs: HANG_GUARD_MS });
  await client.execute('blockdev-backup', {
    'job-id': id,
    device: `${id}-src`,
    target: `${id}-dst`,
    sync: 'full',
    'auto-finalize': flags.autoFinalize,
    'auto-dismiss': flags.autoDismiss,
  });
  expect(await reached).toBe(wanted);
}

describe('job verbs on a real qemu-storage-daemon', () => {
  test('lookup: job-* says GenericError "Job not found", block-job-* DeviceNotActive (§4.2)', async () => {
    await refused(client.execute('job-pause', { id: 'nope' }), 'GenericError', 'Job not found');
    await refused(client.execute('job-resume', { id: 'nope' }), 'GenericError', 'Job not found');
    await refused(client.execute('job-cancel', { id: 'nope' }), 'GenericError', 'Job not found');
    await refused(client.execute('job-complete', { id: 'nope' }), 'GenericError', 'Job not found');
    await refused(client.execute('job-finalize', { id: 'nope' }), 'GenericError', 'Job not found');
    await refused(client.execute('job-dismiss', { id: 'nope' }), 'GenericError', 'Job not found');
    const notFound = "Block job 'nope' not found";
    await refused(
      client.execute('block-job-pause', { device: 'nope' }),
      'DeviceNotActive',
      notFound,
    );
    await refused(
      client.execute('block-job-resume', { device: 'nope' }),
      'DeviceNotActive',
      notFound,
    );
    await refused(
      client.execute('block-job-cancel', { device: 'nope' }),
      'DeviceNotActive',
      notFound,
    );
    await refused(
      client.execute('block-job-complete', { device: 'nope' }),
      'DeviceNotActive',
      notFound,
    );
    await refused(
      client.execute('block-job-finalize', { id: 'nope' }),
      'DeviceNotActive',
      notFound,
    );
    await refused(client.execute('block-job-dismiss', { id: 'nope' }), 'DeviceNotActive', notFound);
    await refused(
      client.execute('block-job-set-speed', { device: 'nope', speed: -1 }),
      'DeviceNotActive',
      notFound,
    );
  });

  test('running mirror: pause/resume allowed; complete, finalize, dismiss refused; resume of an unpaused job refused', async () => {
    await runningMirror('m1');
    const verb = (v: string) => `Job 'm1' in state 'running' cannot accept command verb '${v}'`;
    await refused(client.execute('job-complete', { id: 'm1' }), 'GenericError', verb('complete'));
    await refused(
      client.execute('block-job-complete', { device: 'm1' }),
      'GenericError',
      verb('complete'),
    );
    await refused(client.execute('job-finalize', { id: 'm1' }), 'GenericError', verb('finalize'));
    await refused(
      client.execute('block-job-finalize', { id: 'm1' }),
      'GenericError',
      verb('finalize'),
    );
    await refused(client.execute('job-dismiss', { id: 'm1' }), 'GenericError', verb('dismiss'));
    await refused(
      client.execute('block-job-dismiss', { id: 'm1' }),
      'GenericError',
      verb('dismiss'),
    );
    const notPaused = "Can't resume a job that was not paused";
    await refused(client.execute('job-resume', { id: 'm1' }), 'GenericError', notPaused);
    await refused(client.execute('block-job-resume', { device: 'm1' }), 'GenericError', notPaused);

    // pause: the idle job's `paused` comes before the reply (§6.5)
    const events = client.events({ names: ['JOB_STATUS_CHANGE'] });
    expect(await client.execute('job-pause', { id: 'm1' })).toEqual({});
    expect(events.queued).toBe(1);
    expect((await events.next()).value?.data).toEqual({ id: 'm1', status: 'paused' });
    await refused(
      client.execute('job-pause', { id: 'm1' }),
      'GenericError',
      'Job is already paused',
    );
    await refused(
      client.execute('block-job-pause', { device: 'm1' }),
      'GenericError',
      'Job is already paused',
    );
    // soft block-job-cancel of a user-paused job is refused (§4.3)
    await refused(
      client.execute('block-job-cancel', { device: 'm1' }),
      'GenericError',
      "The block job for device 'm1' is currently paused",
    );
    expect(await client.execute('job-resume', { id: 'm1' })).toEqual({});
    expect((await events.next()).value?.data).toEqual({ id: 'm1', status: 'running' });
    expect(await client.execute('block-job-pause', { device: 'm1' })).toEqual({});
    expect((await events.next()).value?.data).toEqual({ id: 'm1', status: 'paused' });
    expect(await client.execute('block-job-resume', { device: 'm1' })).toEqual({});
    expect((await events.next()).value?.data).toEqual({ id: 'm1', status: 'running' });
    await events.return();

    // set-speed: allowed while running; a negative speed refused
    expect(await client.execute('block-job-set-speed', { device: 'm1', speed: 1 })).toEqual({});
    await refused(
      client.execute('block-job-set-speed', { device: 'm1', speed: -1 }),
      'GenericError',
      "Parameter 'speed' expects a non-negative value",
    );
    const [info] = await client.execute('query-block-jobs');
    expect(info).toMatchObject({ device: 'm1', status: 'running', speed: 1, ready: false });

    // cancel: allowed while running
    const gone = client.waitForJob('m1', 'null', { timeoutMs: HANG_GUARD_MS });
    expect(await client.execute('job-cancel', { id: 'm1' })).toEqual({});
    expect(await gone).toBe('null');
  });

  test('ready mirrors: job-complete, block-job-complete and soft block-job-cancel are allowed', async () => {
    await readyMirror('m2');
    let gone = client.waitForJob('m2', 'null', { timeoutMs: HANG_GUARD_MS });
    expect(await client.execute('job-complete', { id: 'm2' })).toEqual({});
    await gone;

    await readyMirror('m3');
    gone = client.waitForJob('m3', 'null', { timeoutMs: HANG_GUARD_MS });
    expect(await client.execute('block-job-complete', { device: 'm3' })).toEqual({});
    await gone;

    await readyMirror('m4');
    const completed = client.waitForEvent(
      'BLOCK_JOB_COMPLETED',
      { device: 'm4' },
      { timeoutMs: HANG_GUARD_MS },
    );
    expect(await client.execute('block-job-cancel', { device: 'm4' })).toEqual({});
    // soft cancel of a ready mirror finishes successfully: COMPLETED without error (§6.3)
    const event = await completed;
    expect(event.data.error).toBeUndefined();
    await client.waitForJob('m4', 'null', { timeoutMs: HANG_GUARD_MS });
  });

  test('pending backups: finalize allowed (job- and block-job-); pause, set-speed, dismiss refused', async () => {
    await finishedBackup('b1', { autoFinalize: false, autoDismiss: true });
    const verb = (v: string) => `Job 'b1' in state 'pending' cannot accept command verb '${v}'`;
    await refused(client.execute('job-pause', { id: 'b1' }), 'GenericError', verb('pause'));
    await refused(
      client.execute('block-job-pause', { device: 'b1' }),
      'GenericError',
      verb('pause'),
    );
    await refused(client.execute('job-dismiss', { id: 'b1' }), 'GenericError', verb('dismiss'));
    await refused(
      client.execute('block-job-set-speed', { device: 'b1', speed: 5 }),
      'GenericError',
      verb('set-speed'),
    );
    // job-finalize: every finalization event comes before the reply (§4.3)
    const events = client.events({ names: ['JOB_STATUS_CHANGE'] });
    expect(await client.execute('job-finalize', { id: 'b1' })).toEqual({});
    const seen: string[] = [];
    while (events.queued > 0) seen.push(String((await events.next()).value?.data.status));
    await events.return();
    expect(seen).toEqual(['concluded', 'null']);

    await finishedBackup('b2', { autoFinalize: false, autoDismiss: true });
    expect(await client.execute('block-job-finalize', { id: 'b2' })).toEqual({});
    expect((await client.execute('query-jobs')).find((j) => j.id === 'b2')).toBeUndefined();
  });

  test('concluded backups: dismiss allowed (job- and block-job-); cancel refused, resume says not paused', async () => {
    await finishedBackup('b3', { autoFinalize: true, autoDismiss: false });
    const verb = (v: string) => `Job 'b3' in state 'concluded' cannot accept command verb '${v}'`;
    await refused(client.execute('job-cancel', { id: 'b3' }), 'GenericError', verb('cancel'));
    await refused(
      client.execute('block-job-cancel', { device: 'b3' }),
      'GenericError',
      verb('cancel'),
    );
    await refused(client.execute('job-complete', { id: 'b3' }), 'GenericError', verb('complete'));
    await refused(
      client.execute('job-resume', { id: 'b3' }),
      'GenericError',
      "Can't resume a job that was not paused",
    );
    const [job] = (await client.execute('query-jobs')).filter((j) => j.id === 'b3');
    expect(job).toMatchObject({ type: 'backup', status: 'concluded' });
    expect(job?.error).toBeUndefined();
    expect(await client.execute('job-dismiss', { id: 'b3' })).toEqual({});

    await finishedBackup('b4', { autoFinalize: true, autoDismiss: false });
    expect(await client.execute('block-job-dismiss', { id: 'b4' })).toEqual({});
    expect(await client.execute('query-jobs')).toEqual([]);
  });
});
