// A disconnect while jobs run on a real qemu-storage-daemon: pending calls reject with
// ExecInterruptedError, another client changes the jobs meanwhile, and after reconnecting the
// client reports the transitions it missed and runJob carries on.

import {
  ExecInterruptedError,
  type MissedJobTransition,
  QmpClient,
  type ReconcileReport,
} from '@qmpkit/client';
import { connectQmp } from '@qmpkit/client/node';
import type { Transport } from '@qmpkit/protocol';
import { connectUnix, type SocketTransport } from '@qmpkit/protocol/node';
import { HANG_GUARD_MS } from '@qmpkit/test-support';
import { afterEach, describe, expect, test } from 'vitest';
import { type Daemon, requireQemu, startQemuStorageDaemon } from '../src/daemon.js';

requireQemu();

const GiB = 1024 * 1024 * 1024;
const MiB64 = 64 * 1024 * 1024;

let daemon: Daemon | undefined;
const clients: QmpClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await daemon?.stop();
  daemon = undefined;
});

describe('client ↔ qemu-storage-daemon: disconnect, reconnect, reconcile', () => {
  test('missed transitions are reported and the driven mirror is completed after the reconnect', async () => {
    daemon = await startQemuStorageDaemon({
      blockdevs: [
        `null-co,node-name=m-src,size=${GiB}`,
        `null-co,node-name=m-dst,size=${GiB}`,
        `null-co,node-name=b1-src,size=${MiB64}`,
        `null-co,node-name=b1-dst,size=${MiB64}`,
        `null-co,node-name=b2-src,size=${MiB64}`,
        `null-co,node-name=b2-dst,size=${MiB64}`,
      ],
    });
    const socketPath = daemon.socketPath;

    // The client's transports, and a gate that holds its reconnect attempts until the second
    // client is done (a socket chardev serves one client at a time, §1.1).
    const transports: SocketTransport[] = [];
    let openGate: () => void = () => {};
    let gate: Promise<void> = Promise.resolve();
    const reports: ReconcileReport[] = [];
    const disconnects: Array<Error | undefined> = [];
    const client = new QmpClient({
      reconnect: { initialDelayMs: 10, maxDelayMs: 50, maxAttempts: 50 },
      onDisconnect: (cause) => disconnects.push(cause),
      onReconnect: (report) => reports.push(report),
    });
    clients.push(client);
    await client.connect({
      open: async (): Promise<Transport> => {
        await gate;
        const transport = await connectUnix(socketPath);
        transports.push(transport);
        return transport;
      },
    });

    // m1: a mirror driven by runJob, held in `running` by speed=1 (§8.3).
    const run = client.runJob(
      'blockdev-mirror',
      { 'job-id': 'm1', device: 'm-src', target: 'm-dst', sync: 'full', speed: 1 },
      { onReady: 'complete' },
    );
    await client.waitForJob('m1', 'running', { timeoutMs: 5000 });
    // b1 (auto-dismiss off) and b2: backups held in `running` by speed=1.
    for (const [id, dismiss] of [
      ['b1', false],
      ['b2', true],
    ] as const) {
      await client.execute('blockdev-backup', {
        'job-id': id,
        device: `${id}-src`,
        target: `${id}-dst`,
        sync: 'full',
        speed: 1,
        'auto-dismiss': dismiss,
      });
    }
    await client.waitForJob('b2', 'running', { timeoutMs: 5000 });
    expect(Object.fromEntries(client.trackedJobs)).toEqual({
      m1: 'running',
      b1: 'running',
      b2: 'running',
    });

    // Break the connection with a command in flight.
    gate = new Promise((resolve) => {
      openGate = resolve;
    });
    const inFlight = client.execute('query-block-jobs');
    transports[0]?.abort(new Error('simulated network failure'));
    const interrupted = await inFlight.catch((e: unknown) => e);
    expect(ExecInterruptedError.isInstance(interrupted)).toBe(true);
    expect((interrupted as Error).cause).toMatchObject({ message: 'simulated network failure' });
    expect(client.state).toBe('reconnecting');
    expect(disconnects).toHaveLength(1);

    // Meanwhile another client: m1 reaches ready, b1 concludes, b2 concludes and is dismissed.
    const other = await connectQmp({ path: socketPath });
    clients.push(other);
    const m1Ready = other.waitForJob('m1', 'ready', { timeoutMs: HANG_GUARD_MS });
    const b1Concluded = other.waitForJob('b1', 'concluded', { timeoutMs: HANG_GUARD_MS });
    const b2Gone = other.waitForEvent(
      'JOB_STATUS_CHANGE',
      { id: 'b2', status: 'null' },
      { timeoutMs: HANG_GUARD_MS },
    );
    for (const device of ['m1', 'b1', 'b2']) {
      await other.execute('block-job-set-speed', { device, speed: 0 });
    }
    await Promise.all([m1Ready, b1Concluded, b2Gone]);
    await other.close();

    openGate();
    const outcome = await run;
    expect(outcome).toMatchObject({ id: 'm1', status: 'completed', readyAction: 'complete' });
    // Each backup start drains every other job: m1 emits paused + running twice (§5.5). `ready`
    // was missed while disconnected and learned from query-jobs after the reconnect.
    expect(outcome.statuses).toEqual([
      'created',
      'running',
      'paused',
      'running',
      'paused',
      'running',
      'ready',
      'waiting',
      'pending',
      'concluded',
      'null',
    ]);
    expect(reports).toHaveLength(1);
    const missed = [...(reports[0]?.missed ?? [])].sort((a, b) => a.id.localeCompare(b.id));
    expect(missed).toEqual<MissedJobTransition[]>([
      { id: 'b1', from: 'running', to: 'concluded' },
      { id: 'b2', from: 'running', to: 'vanished' },
      { id: 'm1', from: 'running', to: 'ready' },
    ]);
    expect(client.state).toBe('connected');
    expect((await client.execute('query-jobs')).map((j) => [j.id, j.status])).toEqual([
      ['b1', 'concluded'],
    ]);
  });
});
