// The simulator behind @qmpkit/server, as qmpkit-server wires it: handlers from createSimulator,
// the schema extended with x-qmpkit-clock-step, events through the server's emit. Checks that
// events land before or after the replies where QEMU puts them (job-semantics.md §6.2, §6.9).
import { createLinkedPair } from '@qmpkit/protocol/testing';
import { qmpSchema, qmpSchemaExtras } from '@qmpkit/qapi-types/7.2';
import { QMP_SERVER_CODEC, QmpServer } from '@qmpkit/server';
import { afterEach, expect, test } from 'vitest';
import { BlockLayer } from '../block-layer.js';
import { VirtualClock } from '../clock/clock.js';
import { MemoryImageStore } from '../image-store.js';
import { qemuSchema } from '../qemu-schema.test-helper.js';
import { withClockStepCommand } from './schema.js';
import { createSimulator, type SimulatorCommands } from './simulator.js';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

test('a mirror over QMP: events before and after the replies where QEMU puts them', async () => {
  const clock = new VirtualClock();
  const blockLayer = new BlockLayer({ store: new MemoryImageStore(), schema: qemuSchema });
  blockLayer.add({ driver: 'null-co', 'node-name': 'src', size: 64 * 1024 * 1024 });
  blockLayer.add({ driver: 'null-co', 'node-name': 'dst', size: 64 * 1024 * 1024 });
  const sim = createSimulator({ blockLayer, clock });
  const { schema, schemaExtras } = withClockStepCommand(qmpSchema, qmpSchemaExtras);
  const server = new QmpServer<SimulatorCommands>({
    handlers: sim.handlers,
    schema,
    schemaExtras,
    now: () => clock.now() / 1e6,
  });
  sim.setEventBroadcast((event, data) => server.emit(event, data));
  closers.push(
    () => sim.close(),
    () => server.close(),
  );
  const [client, serverSide] = createLinkedPair({ server: { codec: QMP_SERVER_CODEC } });
  const lines: string[] = [];
  let waiter: (() => void) | undefined;
  client.onmessage = (message) => {
    const m = message as Record<string, unknown>;
    if ('event' in m) {
      const data = m.data as Record<string, unknown>;
      lines.push(m.event === 'JOB_STATUS_CHANGE' ? `${data.id} ${data.status}` : String(m.event));
    } else if ('return' in m) lines.push(`R ${m.id}`);
    else if ('error' in m) lines.push(`E ${m.id} ${(m.error as { desc: string }).desc}`);
    waiter?.();
  };
  await client.start();
  server.serve(serverSide);
  const until = (line: string) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (lines.includes(line)) {
          waiter = undefined;
          resolve();
        }
      };
      waiter = check;
      check();
    });
  await client.send({ execute: 'qmp_capabilities', id: 1 });
  await until('R 1');
  await client.send({
    execute: 'blockdev-mirror',
    arguments: { 'job-id': 'm1', device: 'src', target: 'dst', sync: 'full', speed: 1 },
    id: 2,
  });
  await until('R 2');
  await client.send({
    execute: 'block-job-set-speed',
    arguments: { device: 'm1', speed: 0 },
    id: 3,
  });
  await until('BLOCK_JOB_READY');
  await client.send({ execute: 'x-qmpkit-clock-step', arguments: { ns: -1 }, id: 4 });
  await until("E 4 Parameter 'ns' expects a non-negative value");
  await client.send({ execute: 'x-qmpkit-clock-step', arguments: {}, id: 5 });
  await until("E 5 Parameter 'ns' is missing");
  await client.send({ execute: 'job-complete', arguments: { id: 'm1' }, id: 6 });
  await until('m1 null');
  expect(lines.filter((l) => !l.startsWith('E ') || l.includes("'ns'"))).toEqual([
    'R 1',
    'm1 created',
    'm1 running',
    'R 2',
    'R 3',
    'm1 ready',
    'BLOCK_JOB_READY',
    "E 4 Parameter 'ns' expects a non-negative value",
    "E 5 Parameter 'ns' is missing",
    'R 6',
    'm1 waiting',
    'm1 pending',
    'BLOCK_JOB_COMPLETED',
    'm1 concluded',
    'm1 null',
  ]);
});
