// Argument validation of the job commands, differential: qmpkit-server answers none of them yet,
// so the qmpkit side here is a @qmpkit/server (the one qmpkit-server is built from) serving
// exactly these commands, on a unix socket; the QEMU side is a real qemu-storage-daemon. Every
// request has invalid arguments, so QEMU refuses it before looking for a job, and a handler
// that runs on the qmpkit side (validation let something through) answers `{}` — a mismatch.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { qmpSchema, qmpSchemaExtras } from '@qmpkit/qapi-types/7.2';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Daemon, startQemuStorageDaemon } from '../src/daemon.js';
import { RawQmpSession } from '../src/raw-session.js';

// @qmpkit/server is a dependency of @qmpkit/server-app: resolve it from there (its build).
const fromServerApp = createRequire(
  createRequire(import.meta.url).resolve('@qmpkit/server-app/package.json'),
);

interface ServerModule {
  QmpServer: new (options: object) => { close(): Promise<void> };
}
interface NodeModule {
  listenUnix(server: unknown, path: string): Promise<{ address: string }>;
}

const JOB_COMMANDS = [
  'job-pause',
  'job-resume',
  'job-cancel',
  'job-complete',
  'job-finalize',
  'job-dismiss',
  'block-job-set-speed',
  'block-job-cancel',
  'block-job-pause',
  'block-job-resume',
  'block-job-complete',
  'block-job-finalize',
  'block-job-dismiss',
  'query-jobs',
  'query-block-jobs',
];

let qemu: Daemon;
let server: { close(): Promise<void> };
let ourPath: string;

beforeAll(async () => {
  qemu = await startQemuStorageDaemon();
  const { QmpServer } = (await import(
    pathToFileURL(fromServerApp.resolve('@qmpkit/server')).href
  )) as ServerModule;
  const { listenUnix } = (await import(
    pathToFileURL(fromServerApp.resolve('@qmpkit/server/node')).href
  )) as NodeModule;
  const handlers: Record<string, () => unknown> = {};
  for (const name of JOB_COMMANDS)
    handlers[name] = name.startsWith('query-') ? () => [] : () => ({});
  server = new QmpServer({
    handlers,
    schema: qmpSchema,
    schemaExtras: qmpSchemaExtras,
    log: () => {},
  });
  ourPath = join(qemu.dir, 'qmpkit.sock');
  await listenUnix(server, ourPath);
});
afterAll(async () => {
  await server?.close();
  await qemu?.stop();
});

async function answers(path: string, requests: readonly string[]): Promise<unknown[]> {
  const session = await RawQmpSession.connect(path);
  try {
    await session.negotiate();
    const from = session.messages.length;
    session.send(requests.join(''));
    await session.waitForCount(from + requests.length);
    return session.messages.slice(from).map((m) => m.json);
  } finally {
    await session.close();
  }
}

const ID_COMMANDS = [
  'job-pause',
  'job-resume',
  'job-cancel',
  'job-complete',
  'job-finalize',
  'job-dismiss',
  'block-job-finalize',
  'block-job-dismiss',
];
const DEVICE_COMMANDS = [
  'block-job-cancel',
  'block-job-pause',
  'block-job-resume',
  'block-job-complete',
];

function requests(): string[] {
  const out: string[] = [];
  const add = (command: string, args: string) =>
    out.push(
      `{"execute":"${command}","arguments":${args},"id":${JSON.stringify(`${command} ${args}`)}}`,
    );
  const badValues = ['1', 'null', 'true', '[]', '{}', '1.5', '"x"'];
  for (const command of ID_COMMANDS) {
    add(command, '{}');
    add(command, '{"bogus":1}');
    add(command, '{"id":"j","bogus":1}');
    add(command, '{"id":"j","zz":1,"aa":2,"mm":3}');
    add(command, '{"device":"j"}');
    for (const v of badValues.filter((v) => v !== '"x"')) add(command, `{"id":${v}}`);
  }
  for (const command of DEVICE_COMMANDS) {
    add(command, '{}');
    add(command, '{"id":"j"}');
    add(command, '{"device":"j","bogus":1}');
    for (const v of badValues.filter((v) => v !== '"x"')) add(command, `{"device":${v}}`);
  }
  for (const v of badValues.filter((v) => v !== 'true'))
    add('block-job-cancel', `{"device":"j","force":${v}}`);
  const speed = 'block-job-set-speed';
  add(speed, '{}');
  add(speed, '{"device":"j"}');
  add(speed, '{"speed":1}');
  add(speed, '{"bogus":1,"speed":"s","device":"x"}');
  for (const v of [
    ...badValues.filter((v) => v !== '1'),
    '1e3',
    '1.0',
    '-0.0',
    '9223372036854775808',
    '18446744073709551615',
    '-9223372036854775809',
  ]) {
    add(speed, `{"device":"j","speed":${v}}`);
  }
  add(speed, '{"device":"j","speed":1,"x":1,"y":2}');
  for (const command of ['query-jobs', 'query-block-jobs']) {
    add(command, '{"x":1}');
    add(command, '{"x":1,"y":2,"z":3}');
    add(command, '{"id":null}');
  }
  return out;
}

describe('job command validation: @qmpkit/server against qemu-storage-daemon', () => {
  test('every error, to the letter', async () => {
    const sent = requests();
    const [theirs, mine] = await Promise.all([
      answers(qemu.socketPath, sent),
      answers(ourPath, sent),
    ]);
    // QEMU refused every one of them (no reply without an error).
    expect(theirs.filter((r) => !(typeof r === 'object' && r !== null && 'error' in r))).toEqual(
      [],
    );
    expect(mine).toEqual(theirs);
    expect(sent.length).toBeGreaterThan(100);
  });

  test('valid query-jobs / query-block-jobs: both answer an empty list', async () => {
    const sent = [
      '{"execute":"query-jobs","id":1}',
      '{"execute":"query-block-jobs","arguments":{},"id":2}',
    ];
    const [theirs, mine] = await Promise.all([
      answers(qemu.socketPath, sent),
      answers(ourPath, sent),
    ]);
    expect(theirs).toEqual([
      { return: [], id: 1 },
      { return: [], id: 2 },
    ]);
    expect(mine).toEqual(theirs);
  });
});
