// SIGTERM with a job running: as qemu-storage-daemon 7.2 does (recorded: a 64 MiB null-co backup
// at speed 1, then SIGTERM), the client sees the job drained, cancelled and gone — paused,
// running, aborting, BLOCK_JOB_CANCELLED, concluded, null — before the connection ends.
import { until } from '@qmpkit/test-support';
import { afterEach, expect, test } from 'vitest';
import { cleanUp, client, startOnSocket } from './bin-harness.js';

const MiB = 1024 * 1024;

afterEach(cleanUp);

test('SIGTERM cancels the running jobs; their events arrive before EOF', async () => {
  const server = await startOnSocket([
    // What this test recorded is QEMU 7.2's shutdown.
    '--qemu-version',
    '7.2',
    '--blockdev',
    `null-co,node-name=src,size=${64 * MiB}`,
    '--blockdev',
    `null-co,node-name=dst,size=${64 * MiB}`,
  ]);
  const c = await client(server.socket);
  await c.call('blockdev-backup', {
    'job-id': 'b1',
    device: 'src',
    target: 'dst',
    sync: 'full',
    speed: 1,
  });
  const before = c.messages.length;
  server.child.kill('SIGTERM');
  await until(() => c.closed(), 'the server to close the connection');
  const after = c.messages.slice(before).map((m) => {
    const data = m.data as Record<string, unknown>;
    return m.event === 'JOB_STATUS_CHANGE' ? `${data.id} ${data.status}` : { [`${m.event}`]: data };
  });
  expect(after).toEqual([
    'b1 paused',
    'b1 running',
    'b1 aborting',
    {
      BLOCK_JOB_CANCELLED: { type: 'backup', device: 'b1', len: 64 * MiB, offset: MiB, speed: 1 },
    },
    'b1 concluded',
    'b1 null',
  ]);
  expect(await server.exited).toBe(0);
});
