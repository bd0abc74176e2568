// @qmpkit/client against a real qemu-storage-daemon: connecting, negotiating, the connect
// failures, execute, and events written before a reply.

import { join } from 'node:path';
import { ConnectError, ExecuteError, type QmpClient, type TranscriptEntry } from '@qmpkit/client';
import { connectQmp } from '@qmpkit/client/node';
import { HANG_GUARD_MS } from '@qmpkit/test-support';
import { afterEach, describe, expect, test } from 'vitest';
import { type ProcessDaemon, requireQemu, startQemuStorageDaemon } from '../src/daemon.js';

requireQemu();

const daemons: ProcessDaemon[] = [];
const clients: QmpClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(daemons.splice(0).map((d) => d.stop()));
});

async function daemon(blockdevs: string[] = []): Promise<ProcessDaemon> {
  const d = await startQemuStorageDaemon({ blockdevs });
  daemons.push(d);
  return d;
}

async function connect(d: ProcessDaemon, options: ConstructorParameters<typeof QmpClient>[0] = {}) {
  const client = await connectQmp({ path: d.socketPath }, options);
  clients.push(client);
  return client;
}

describe('client ↔ qemu-storage-daemon: connect', () => {
  test('greeting (QEMU 7.2, capabilities [oob]) and negotiation with oob', async () => {
    const d = await daemon();
    const transcript: TranscriptEntry[] = [];
    const client = await connect(d, { oob: true, transcript: (e) => transcript.push(e) });
    expect(client.state).toBe('connected');
    expect(client.version?.qemu).toMatchObject({ major: 7, minor: 2 });
    expect(client.capabilities).toEqual(['oob']);
    expect(client.oobEnabled).toBe(true);
    // The negotiation carried an id and got `{"return": {}}` with it.
    const out = transcript.find((e) => e.direction === 'out');
    expect(out?.message).toMatchObject({
      execute: 'qmp_capabilities',
      arguments: { enable: ['oob'] },
    });
    const id = (out?.message as { id: string } | undefined)?.id ?? 'missing';
    expect(transcript).toContainEqual(
      expect.objectContaining({ direction: 'in', message: { return: {}, id } }),
    );
    expect(await client.execute('query-jobs')).toEqual([]);
  });

  test('executeOob sends exec-oob; QSD 7.2 has no allow-oob command, so QEMU refuses it (§4.1)', async () => {
    const d = await daemon();
    const client = await connect(d, { oob: true });
    const error = await client.executeOob('query-jobs').catch((e: unknown) => e);
    expect(ExecuteError.isInstance(error)).toBe(true);
    expect([(error as ExecuteError).errorClass, (error as ExecuteError).desc]).toEqual([
      'GenericError',
      'The command query-jobs does not support OOB',
    ]);
    expect((error as ExecuteError).command.oob).toBe(true);
    expect(await client.execute('query-jobs')).toEqual([]);
  });

  test('without oob: exec-oob is refused locally; QEMU would reject the member', async () => {
    const d = await daemon();
    const client = await connect(d);
    expect(client.oobEnabled).toBe(false);
    await expect(client.executeOob('query-jobs')).rejects.toThrow(/not negotiated/);
  });

  test('a missing socket is ConnectError ENOENT', async () => {
    const d = await daemon();
    await connect(d); // the daemon is listening
    const error = await connectQmp({ path: join(d.dir, 'nope.sock') }).catch((e: unknown) => e);
    expect(ConnectError.isInstance(error)).toBe(true);
    expect((error as ConnectError).code).toBe('ENOENT');
  });

  test('a refused connection (QEMU killed, socket file left behind) is ConnectError ECONNREFUSED', async () => {
    const d = await daemon();
    await (await connect(d)).close(); // it did listen
    d.process.kill('SIGKILL');
    await new Promise((resolve) => d.process.once('exit', resolve));
    const error = await connectQmp({ path: d.socketPath }).catch((e: unknown) => e);
    expect(ConnectError.isInstance(error)).toBe(true);
    expect((error as ConnectError).code).toBe('ECONNREFUSED');
  });

  test('a server that never greets (a second client waits behind the first, §1.1) is ConnectError ETIMEDOUT', async () => {
    const d = await daemon();
    const first = await connect(d);
    const error = await connectQmp({ path: d.socketPath }, { connectTimeoutMs: 300 }).catch(
      (e: unknown) => e,
    );
    expect(ConnectError.isInstance(error)).toBe(true);
    expect((error as ConnectError).code).toBe('ETIMEDOUT');
    // Once the first client leaves, the next one is greeted.
    await first.close();
    const second = await connect(d);
    expect(second.state).toBe('connected');
  });

  test('unknown command: ExecuteError CommandNotFound with QEMU’s desc; the untyped escape hatch', async () => {
    const d = await daemon();
    const client = await connect(d);
    const error = await client.executeUntyped('job-foo', { id: 'x' }).catch((e: unknown) => e);
    expect(ExecuteError.isInstance(error)).toBe(true);
    expect((error as ExecuteError).errorClass).toBe('CommandNotFound');
    expect((error as ExecuteError).desc).toBe('The command job-foo has not been found');
    expect((error as ExecuteError).command).toMatchObject({
      execute: 'job-foo',
      arguments: { id: 'x' },
    });
  });

  test('argument errors come back as ExecuteError (QAPI validation texts)', async () => {
    const d = await daemon();
    const client = await connect(d);
    const missing = (await client
      .executeUntyped('job-pause', {})
      .catch((e: unknown) => e)) as ExecuteError;
    expect([missing.errorClass, missing.desc]).toEqual([
      'GenericError',
      "Parameter 'id' is missing",
    ]);
    const wrongType = (await client
      .executeUntyped('block-job-set-speed', { device: 'x', speed: 1.5 })
      .catch((e: unknown) => e)) as ExecuteError;
    expect(wrongType.desc).toBe("Invalid parameter type for 'speed', expected: integer");
  });

  test('integers beyond 2^53 arrive as exact bigints (a 2^60-byte null-co node)', async () => {
    const d = await daemon();
    const client = await connect(d);
    const size = 2n ** 60n; // 1152921504606846976, not a safe JS number
    await client.execute('blockdev-add', {
      driver: 'null-co',
      'node-name': 'huge',
      size: size as unknown as number, // the types say number; the encoder writes bigint digits
    });
    const [node] = (await client.execute('query-named-block-nodes', { flat: true })).filter(
      (n) => n['node-name'] === 'huge',
    );
    expect(node?.image['virtual-size']).toBe(size);
    expect(typeof node?.image['virtual-size']).toBe('bigint');
  });

  test('pipelined commands all get their own replies', async () => {
    const d = await daemon(['null-co,node-name=n0,size=1048576']);
    const client = await connect(d);
    const results = await Promise.all(
      Array.from({ length: 32 }, (_, i) =>
        i % 2 === 0
          ? client.execute('query-jobs')
          : client.execute('job-pause', { id: `j${i}` }).catch((e: ExecuteError) => e.desc),
      ),
    );
    for (const [i, result] of results.entries()) {
      expect(result).toEqual(i % 2 === 0 ? [] : 'Job not found');
    }
  });

  test('events QEMU writes before the reply (created, running) reach a stream made before execute', async () => {
    const d = await daemon([
      'null-co,node-name=src,size=67108864',
      'null-co,node-name=dst,size=67108864',
    ]);
    const client = await connect(d);
    const transcript: Array<string> = [];
    const stream = client.events({ names: ['JOB_STATUS_CHANGE'] });
    await client.execute('blockdev-mirror', {
      'job-id': 'm1',
      device: 'src',
      target: 'dst',
      sync: 'full',
      speed: 1,
    });
    expect(stream.queued).toBeGreaterThanOrEqual(2);
    for (let i = 0; i < 2; i++) {
      const { value } = await stream.next();
      transcript.push(`${value?.data.id} ${value?.data.status}`);
    }
    expect(transcript).toEqual(['m1 created', 'm1 running']);
    await client.execute('job-cancel', { id: 'm1' });
    await client.waitForJob('m1', 'null', { timeoutMs: HANG_GUARD_MS });
  });
});
