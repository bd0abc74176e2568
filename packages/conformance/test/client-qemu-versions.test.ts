// @qmpkit/client against each real QEMU version: the version it reads from the greeting, and its
// job helper driving a mirror to completion and a drain (blockdev-del drains jobs on 10.0, not on
// 7.2) — the helper must follow both transcripts to the same outcome.

import type { JobStatus, QmpClient } from '@qmpkit/client';
import { connectQmp } from '@qmpkit/client/node';
import { until } from '@qmpkit/test-support';
import { afterEach, describe, expect, test } from 'vitest';
import { type Daemon, startQemuStorageDaemon } from '../src/daemon.js';
import { qemuForTests } from '../src/qemu-binaries.js';

const MiB = 1024 * 1024;
const targets = [
  { version: '7.2', install: qemuForTests('7.2') },
  { version: '10.0', install: qemuForTests('10.0') },
] as const;

const daemons: Daemon[] = [];
const clients: QmpClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(daemons.splice(0).map((d) => d.stop()));
});

describe.each(targets)('QmpClient on qemu-storage-daemon $version', ({ version, install }) => {
  async function start(): Promise<QmpClient> {
    const daemon = await startQemuStorageDaemon(
      {
        blockdevs: [
          `null-co,node-name=src,size=${64 * MiB}`,
          `null-co,node-name=dst,size=${64 * MiB}`,
        ],
      },
      install,
    );
    daemons.push(daemon);
    const client = await connectQmp({ path: daemon.socketPath });
    clients.push(client);
    return client;
  }

  test.skipIf(install === undefined)('reads the version from the greeting', async () => {
    const client = await start();
    const [major, minor, micro] = (install?.release ?? '').split('.').map(Number);
    expect(client.version?.qemu).toEqual({ major, minor, micro });
    expect(client.greeting?.QMP.version).toEqual(client.version);
    expect(`${client.version?.qemu.major}.${client.version?.qemu.minor}`).toBe(version);
  });

  test.skipIf(install === undefined)(
    'runJob follows a mirror through a drain to completion',
    async () => {
      const client = await start();
      const statuses: JobStatus[] = [];
      await client.execute('blockdev-add', { driver: 'null-co', 'node-name': 'extra', size: MiB });
      const outcome = client.runJob(
        'blockdev-mirror',
        { 'job-id': 'm1', device: 'src', target: 'dst', sync: 'full', speed: 4 * MiB },
        { onReady: 'complete', onStatus: (s) => statuses.push(s) },
      );
      // Once the job runs, remove an unrelated node: 10.0 drains the job around it.
      await until(() => statuses.includes('running'), 'the mirror to run');
      await client.execute('blockdev-del', { 'node-name': 'extra' });
      await client.execute('block-job-set-speed', { device: 'm1', speed: 0 });
      expect(await outcome).toMatchObject({ id: 'm1', status: 'completed' });
      const drained = statuses.includes('paused');
      expect(drained).toBe(version === '10.0');
      expect(statuses.slice(-5)).toEqual(['ready', 'waiting', 'pending', 'concluded', 'null']);
    },
  );
});
