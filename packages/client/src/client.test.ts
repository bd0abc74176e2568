import {
  ConnectError,
  ExecInterruptedError,
  ExecuteError,
  StateError,
  TimeoutError,
} from '@qmpkit/protocol';
import { until } from '@qmpkit/test-support';
import { describe, expect, test } from 'vitest';
import { FakeQmp, QSD_VERSION } from '../test/fake-qmp.js';
import { QmpClient } from './client.js';
import type { TranscriptEntry } from './connection.js';
import { EventOverflowError } from './errors.js';

async function connected(
  options: ConstructorParameters<typeof QmpClient>[0] = {},
  fakeOptions: ConstructorParameters<typeof FakeQmp>[0] = {},
) {
  const fake = new FakeQmp(fakeOptions);
  await fake.start();
  const client = await QmpClient.connect({ transport: fake.clientSide }, options);
  return { fake, client };
}

describe('connect and negotiate', () => {
  test('reads the greeting, exposes version and capabilities, negotiates with an id', async () => {
    const { fake, client } = await connected();
    expect(client.state).toBe('connected');
    expect(client.version).toEqual(QSD_VERSION);
    expect(client.capabilities).toEqual(['oob']);
    expect(client.oobEnabled).toBe(false);
    const negotiation = fake.received[0];
    expect(negotiation?.execute).toBe('qmp_capabilities');
    expect(negotiation?.arguments).toBeUndefined();
    expect(typeof negotiation?.id).toBe('string');
    await client.close();
  });

  test('enables oob when offered and asked for', async () => {
    const { fake, client } = await connected({ oob: true });
    expect(fake.received[0]?.arguments).toEqual({ enable: ['oob'] });
    expect(client.oobEnabled).toBe(true);
    const pending = client.executeOob('query-jobs');
    const command = await fake.next();
    expect(command.oob).toBe(true);
    expect(command.raw['exec-oob']).toBe('query-jobs');
    await fake.reply(command, []);
    await expect(pending).resolves.toEqual([]);
    await client.close();
  });

  test('does not ask for oob when the server does not offer it; executeOob is a StateError', async () => {
    const { fake, client } = await connected({ oob: true }, { capabilities: [] });
    expect(fake.received[0]?.arguments).toBeUndefined();
    expect(client.oobEnabled).toBe(false);
    await expect(client.executeOob('query-jobs')).rejects.toSatisfy(StateError.isInstance);
    await client.close();
  });

  test('skips anything that is not a greeting while waiting for it (reference §2)', async () => {
    const fake = new FakeQmp({ greet: false });
    await fake.start();
    const transcript: TranscriptEntry[] = [];
    const connecting = QmpClient.connect(
      { transport: fake.clientSide },
      { transcript: (entry) => transcript.push(entry) },
    );
    await fake.send({ return: {}, id: 'block' }); // a previous client's reply
    await fake.send({ hello: 'world' });
    await fake.greet();
    const client = await connecting;
    expect(client.state).toBe('connected');
    const dropped = transcript.filter((e) => e.direction === 'dropped');
    expect(dropped.map((e) => e.direction === 'dropped' && e.reason)).toEqual([
      'before-greeting',
      'unknown-message',
    ]);
    await client.close();
  });

  test("a foreign reply during negotiation is not taken for qmp_capabilities' reply (§10.2)", async () => {
    const fake = new FakeQmp({ autoNegotiate: false });
    await fake.start();
    const transcript: TranscriptEntry[] = [];
    let done = false;
    const connecting = QmpClient.connect(
      { transport: fake.clientSide },
      { transcript: (entry) => transcript.push(entry) },
    ).then((client) => {
      done = true;
      return client;
    });
    const negotiation = await fake.next();
    expect(negotiation.execute).toBe('qmp_capabilities');
    await fake.send({ return: {}, id: 'block' }); // A's late reply reaches B in negotiation
    await fake.send({ return: {} }); // and one without id
    await until(() =>
      transcript.filter((e) => e.direction === 'dropped').length === 2 ? 1 : undefined,
    );
    expect(done).toBe(false);
    await fake.reply(negotiation, {});
    const client = await connecting;
    expect(
      transcript.filter((e) => e.direction === 'dropped').map((e) => 'reason' in e && e.reason),
    ).toEqual(['foreign-reply', 'foreign-reply']);
    await client.close();
  });

  test('a negotiation refused by the server is a ConnectError carrying the ExecuteError', async () => {
    const fake = new FakeQmp({ autoNegotiate: false });
    await fake.start();
    const connecting = QmpClient.connect({ transport: fake.clientSide });
    const negotiation = await fake.next();
    await fake.fail(negotiation, 'GenericError', "Capability 'oob' not available");
    const error = await connecting.catch((e: unknown) => e);
    expect(ConnectError.isInstance(error)).toBe(true);
    expect(ExecuteError.isInstance((error as Error).cause)).toBe(true);
    expect((error as Error).message).toContain("Capability 'oob' not available");
  });

  test('a server that never greets: ConnectError ETIMEDOUT after connectTimeoutMs', async () => {
    const fake = new FakeQmp({ greet: false });
    await fake.start();
    const error = await QmpClient.connect(
      { transport: fake.clientSide },
      { connectTimeoutMs: 50 },
    ).catch((e: unknown) => e);
    expect(ConnectError.isInstance(error)).toBe(true);
    expect((error as ConnectError).code).toBe('ETIMEDOUT');
    expect(TimeoutError.isInstance((error as Error).cause)).toBe(true);
    expect(((error as Error).cause as TimeoutError).timeoutMs).toBe(50);
  });

  test('a server that closes before greeting: ConnectError EOF', async () => {
    const fake = new FakeQmp({ greet: false });
    await fake.start();
    const connecting = QmpClient.connect({ transport: fake.clientSide });
    await fake.close();
    const error = await connecting.catch((e: unknown) => e);
    expect(ConnectError.isInstance(error)).toBe(true);
    expect((error as ConnectError).code).toBe('EOF');
  });

  test('close() during connect() stops it with a ConnectError', async () => {
    const fake = new FakeQmp({ greet: false });
    await fake.start();
    const client = new QmpClient();
    const connecting = client.connect({ transport: fake.clientSide });
    // Closed while it waits for the greeting: once its transport reads.
    await until(() => (fake.clientSide.state === 'running' ? true : undefined));
    await client.close();
    const error = await connecting.catch((e: unknown) => e);
    expect(ConnectError.isInstance(error)).toBe(true);
    expect(StateError.isInstance((error as Error).cause)).toBe(true);
    expect(client.state).toBe('closed');
  });

  test('connect() twice is a StateError', async () => {
    const { fake, client } = await connected();
    await expect(client.connect({ transport: fake.clientSide })).rejects.toSatisfy(
      StateError.isInstance,
    );
    await client.close();
  });
});

describe('execute', () => {
  test('matches replies by id and resolves with the return value', async () => {
    const { fake, client } = await connected();
    const pending = client.execute('job-pause', { id: 'j1' });
    const command = await fake.next();
    expect(command.execute).toBe('job-pause');
    expect(command.arguments).toEqual({ id: 'j1' });
    await fake.reply(command, {});
    await expect(pending).resolves.toEqual({});
    await client.close();
  });

  test('after negotiation an in-band command goes without id and no arguments member when it has none', async () => {
    const { fake, client } = await connected();
    const pending = client.execute('query-jobs');
    const command = await fake.next();
    expect(Object.keys(command.raw)).toEqual(['execute']);
    // QEMU answers a command without id without id (reference qmp-protocol §4).
    await fake.reply(command, []);
    await expect(pending).resolves.toEqual([]);
    await client.close();
  });

  test('exec-oob keeps an id; its reply overtakes in-band replies and still reaches its caller', async () => {
    const { fake, client } = await connected({ oob: true });
    const inBand = client.execute('job-pause', { id: 'j1' });
    const outOfBand = client.executeOob('query-jobs');
    const [first, second] = await fake.take(2);
    expect(first?.id).toBeUndefined();
    expect(typeof second?.id).toBe('number');
    // §5: out-of-band replies may overtake in-band ones.
    await fake.reply(second!, [jobInfo('j1', 'running')]);
    await fake.fail(first!, 'GenericError', "Job 'j1' is not running");
    await expect(outOfBand).resolves.toEqual([jobInfo('j1', 'running')]);
    await expect(inBand).rejects.toMatchObject({ desc: "Job 'j1' is not running" });
    await client.close();
  });

  test('a command QEMU cannot read (a lone surrogate) keeps an id, and so do commands after it', async () => {
    const transcript: TranscriptEntry[] = [];
    const { fake, client } = await connected({ transcript: (entry) => transcript.push(entry) });
    const abort = new AbortController();
    const odd = client.execute(
      'block-stream',
      { device: 'top\ud800', 'job-id': 's1' },
      { signal: abort.signal },
    );
    const next = client.execute('query-jobs');
    const sent = transcript.filter((e) => e.direction === 'out').slice(-2);
    expect(sent.map((e) => typeof (e.message as { id?: unknown }).id)).toEqual([
      'number',
      'number',
    ]);
    // The fake, like QEMU, cannot read the first one; QEMU answers such input with an error
    // without id (reference qmp-protocol §4): it must not be taken for the second command.
    const nextCommand = await fake.next();
    expect(nextCommand.execute).toBe('query-jobs');
    await fake.send({ error: { class: 'GenericError', desc: 'JSON parse error' } });
    await fake.reply(nextCommand, []);
    await expect(next).resolves.toEqual([]);
    expect(transcript.filter((e) => e.direction === 'dropped')).toMatchObject([
      { reason: 'foreign-reply' },
    ]);
    const reason = new Error('gave up');
    abort.abort(reason);
    await expect(odd).rejects.toBe(reason);
    await client.close();
  });

  test('a command nested deeper than the plain limit keeps an id; once answered, commands go without id again', async () => {
    const { fake, client } = await connected();
    let deep: unknown = [];
    for (let i = 0; i < 70; i++) deep = [deep];
    const nested = client.executeUntyped('x-deep', { value: deep });
    const nestedCommand = await fake.next();
    expect(typeof nestedCommand.id).toBe('number');
    await fake.reply(nestedCommand, {});
    await expect(nested).resolves.toEqual({});
    const again = client.execute('query-jobs');
    const againCommand = await fake.next();
    expect(againCommand.id).toBeUndefined();
    await fake.reply(againCommand, []);
    await expect(again).resolves.toEqual([]);
    await client.close();
  });

  test("a timed-out command without id keeps its place: its late reply is dropped, the next reply is the next command's", async () => {
    const transcript: TranscriptEntry[] = [];
    const { fake, client } = await connected({ transcript: (entry) => transcript.push(entry) });
    const slow = client.execute('query-jobs', undefined, { timeoutMs: 1 });
    // Attach the expectation now: the 1 ms timeout may fire before the fake has the command,
    // and a rejection with no handler yet is reported as unhandled.
    const slowTimedOut = expect(slow).rejects.toSatisfy(TimeoutError.isInstance);
    const slowCommand = await fake.next();
    await slowTimedOut;
    const next = client.execute('query-version');
    const nextCommand = await fake.next();
    expect(nextCommand.id).toBeUndefined();
    await fake.reply(slowCommand, [jobInfo('late', 'running')]);
    await fake.reply(nextCommand, { qemu: QSD_VERSION.qemu, package: QSD_VERSION.package });
    await expect(next).resolves.toEqual({ qemu: QSD_VERSION.qemu, package: QSD_VERSION.package });
    expect(transcript.filter((e) => e.direction === 'dropped')).toMatchObject([
      { reason: 'late-reply', message: { return: [jobInfo('late', 'running')] } },
    ]);
    await client.close();
  });

  test('an error reply rejects with ExecuteError: class, desc and the command sent', async () => {
    const { fake, client } = await connected();
    const pending = client.execute('job-pause', { id: 'nope' });
    const command = await fake.next();
    await fake.fail(command, 'GenericError', 'Job not found');
    const error = await pending.catch((e: unknown) => e);
    expect(ExecuteError.isInstance(error)).toBe(true);
    const e = error as ExecuteError;
    expect(e.errorClass).toBe('GenericError');
    expect(e.desc).toBe('Job not found');
    expect(e.command.execute).toBe('job-pause');
    expect(e.command.arguments).toEqual({ id: 'nope' });
    expect(e.command.id).toBe(command.id);
    await client.close();
  });

  test('pipelining: many commands in flight, each reply reaches its caller', async () => {
    const { fake, client } = await connected();
    const calls = Array.from({ length: 64 }, (_, i) =>
      client.execute('job-dismiss', { id: `j${i}` }),
    );
    const commands = await fake.take(64);
    expect(client.inFlight).toBe(64);
    // QEMU answers in-band commands one each, in the order it read them (§5).
    for (const command of commands) {
      await fake.fail(command, 'GenericError', `no ${String(command.arguments?.id)}`);
    }
    const results = await Promise.all(calls.map((p) => p.catch((e: ExecuteError) => e.desc)));
    expect(results).toEqual(Array.from({ length: 64 }, (_, i) => `no j${i}`));
    expect(client.inFlight).toBe(0);
    await client.close();
  });

  test('a reply with an id the client never sent is dropped and logged, never matched', async () => {
    const transcript: TranscriptEntry[] = [];
    const { fake, client } = await connected({ transcript: (entry) => transcript.push(entry) });
    const pending = client.execute('query-jobs');
    const command = await fake.next();
    await fake.send({ return: [{ stolen: true }], id: 'block' });
    await fake.send({ return: [{ stolen: true }], id: 1 });
    await fake.reply(command, []);
    await expect(pending).resolves.toEqual([]);
    const dropped = transcript.filter((e) => e.direction === 'dropped');
    expect(dropped).toHaveLength(2);
    expect(dropped.every((e) => e.direction === 'dropped' && e.reason === 'foreign-reply')).toBe(
      true,
    );
    await client.close();
  });

  test('undecodable input from the server is dropped and logged; the session goes on', async () => {
    const transcript: TranscriptEntry[] = [];
    const { fake, client } = await connected({ transcript: (entry) => transcript.push(entry) });
    const pending = client.execute('query-jobs');
    const command = await fake.next();
    await fake.serverSide.sendRaw('{"return": inf, "x": }\r\n[1, 2]\r\n');
    await fake.reply(command, []);
    await expect(pending).resolves.toEqual([]);
    const dropped = transcript.filter((e) => e.direction === 'dropped');
    expect(dropped.map((e) => e.direction === 'dropped' && e.reason)).toEqual([
      'undecodable',
      'unknown-message',
    ]);
    expect(client.state).toBe('connected');
    await client.close();
  });

  test('per-call timeout rejects with TimeoutError; the late reply is dropped', async () => {
    const transcript: TranscriptEntry[] = [];
    const { fake, client } = await connected({ transcript: (entry) => transcript.push(entry) });
    // The rejection is caught from the start: on a loaded machine the 20 ms pass before the fake
    // has even read the command.
    const pending = client.execute('query-jobs', {}, { timeoutMs: 20 }).catch((e: unknown) => e);
    const command = await fake.next();
    const error = await pending;
    expect(TimeoutError.isInstance(error)).toBe(true);
    expect((error as TimeoutError).timeoutMs).toBe(20);
    expect(client.inFlight).toBe(0);
    await fake.reply(command, []);
    await until(() => transcript.find((e) => e.direction === 'dropped'));
    expect(transcript.at(-1)).toMatchObject({ direction: 'dropped', reason: 'late-reply' });
    await client.close();
  });

  test('AbortSignal: an aborted call rejects with the reason; an already aborted one is not sent', async () => {
    const { fake, client } = await connected();
    const controller = new AbortController();
    const pending = client.execute('query-jobs', {}, { signal: controller.signal });
    await fake.next();
    const reason = new Error('user gave up');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    const before = fake.received.length;
    await expect(
      client.execute('query-jobs', {}, { signal: AbortSignal.abort(reason) }),
    ).rejects.toBe(reason);
    // The next command the fake receives is one sent after it: the aborted one was not sent.
    const after = client.execute('query-version');
    expect((await fake.next()).execute).toBe('query-version');
    expect(fake.received.length).toBe(before + 1);
    void after.catch(() => {});
    await client.close();
  });

  test('executeUntyped sends any command and returns what came back', async () => {
    const { fake, client } = await connected();
    const pending = client.executeUntyped('x-frobnicate', { level: 11 });
    const command = await fake.next();
    expect(command.execute).toBe('x-frobnicate');
    expect(command.arguments).toEqual({ level: 11 });
    await fake.reply(command, { done: true });
    await expect(pending).resolves.toEqual({ done: true });
    await client.close();
  });

  test('uint64 values come back as bigint, safe integers as number', async () => {
    const { fake, client } = await connected();
    const pending = client.executeUntyped('query-something');
    const command = await fake.next();
    await fake.reply(command, { big: 18446744073709551615n, small: 42 });
    await expect(pending).resolves.toEqual({ big: 18446744073709551615n, small: 42 });
    await client.close();
  });
});

describe('disconnect and close', () => {
  test('pending calls reject with ExecInterruptedError carrying the cause; streams end', async () => {
    const { fake, client } = await connected();
    const stream = client.events();
    const calls = [client.execute('query-jobs'), client.execute('job-pause', { id: 'j' })];
    await fake.take(2);
    fake.reset();
    const errors = await Promise.all(calls.map((p) => p.catch((e: unknown) => e)));
    for (const error of errors) {
      expect(ExecInterruptedError.isInstance(error)).toBe(true);
      const cause = (error as Error).cause;
      expect(ConnectError.isInstance(cause) && cause.code).toBe('ECONNRESET');
    }
    expect((errors[1] as ExecInterruptedError).command?.execute).toBe('job-pause');
    await expect(stream.next()).resolves.toEqual({ value: undefined, done: true });
    expect(ConnectError.isInstance(stream.endCause)).toBe(true);
    expect(client.state).toBe('closed');
    await expect(client.execute('query-jobs')).rejects.toSatisfy(StateError.isInstance);
  });

  test('close() is idempotent; pending calls reject with ExecInterruptedError', async () => {
    const { fake, client } = await connected();
    const pending = client.execute('query-jobs');
    await fake.next();
    const first = client.close();
    const second = client.close();
    expect(second).toBe(first);
    await first;
    const error = await pending.catch((e: unknown) => e);
    expect(ExecInterruptedError.isInstance(error)).toBe(true);
    expect(client.state).toBe('closed');
    await client.close();
  });
});

describe('events', () => {
  test('events written before a reply are delivered to a stream created before execute', async () => {
    const { fake, client } = await connected();
    const stream = client.events({ names: ['JOB_STATUS_CHANGE'] });
    const pending = client.execute('block-stream', { device: 'top', 'job-id': 's1' });
    const command = await fake.next();
    await fake.status('s1', 'created');
    await fake.status('s1', 'running');
    await fake.reply(command, {});
    await pending;
    const first = await stream.next();
    const second = await stream.next();
    expect(first.value?.data).toEqual({ id: 's1', status: 'created' });
    expect(second.value?.data).toEqual({ id: 's1', status: 'running' });
    expect(first.value?.timestamp.seconds).toBeTypeOf('number');
    await client.close();
  });

  test('events between the greeting and the negotiation reply reach listeners registered before connect', async () => {
    const fake = new FakeQmp({ autoNegotiate: false });
    await fake.start();
    const client = new QmpClient();
    const stream = client.events();
    const connecting = client.connect({ transport: fake.clientSide });
    const negotiation = await fake.next();
    await fake.event('JOB_STATUS_CHANGE', { id: 'early', status: 'running' });
    await fake.reply(negotiation, {});
    await connecting;
    const first = await stream.next();
    expect(first.value).toMatchObject({
      event: 'JOB_STATUS_CHANGE',
      data: { id: 'early', status: 'running' },
    });
    await client.close();
  });

  test('an event before the greeting is not taken for it, and is not lost either', async () => {
    const fake = new FakeQmp({ greet: false });
    await fake.start();
    const client = new QmpClient();
    const stream = client.events();
    const connecting = client.connect({ transport: fake.clientSide });
    await fake.event('JOB_STATUS_CHANGE', { id: 'early', status: 'concluded' });
    await fake.greet();
    await connecting;
    expect((await stream.next()).value?.data).toEqual({ id: 'early', status: 'concluded' });
    await client.close();
  });

  test('names and filter select; each stream gets its own copy', async () => {
    const { fake, client } = await connected();
    const all = client.events();
    const ready = client.events({ names: ['BLOCK_JOB_READY'] });
    const onlyJ2 = client.events({
      names: ['JOB_STATUS_CHANGE'],
      filter: (e) => e.data.id === 'j2',
    });
    await fake.status('j1', 'running');
    await fake.event('BLOCK_JOB_READY', {
      type: 'mirror',
      device: 'j1',
      len: 0,
      offset: 0,
      speed: 0,
    });
    await fake.status('j2', 'running');
    await roundTrip(fake, client);
    expect(all.queued).toBe(3);
    expect(ready.queued).toBe(1);
    expect(onlyJ2.queued).toBe(1);
    expect((await onlyJ2.next()).value?.data).toEqual({ id: 'j2', status: 'running' });
    await client.close();
  });

  test('a slow listener never blocks replies or other listeners', async () => {
    const { fake, client } = await connected();
    const slow = client.events({ maxQueued: 10_000 }); // never read
    const fast = client.events();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const event of fast) {
        seen.push((event.data as { id: string }).id);
        if (seen.length === 100) return;
      }
    })();
    const pending = client.execute('query-jobs');
    const command = await fake.next();
    for (let i = 0; i < 100; i++) await fake.status(`j${i}`, 'running');
    await fake.reply(command, []);
    await expect(pending).resolves.toEqual([]);
    await reading;
    expect(seen).toHaveLength(100);
    expect(slow.queued).toBe(100);
    await client.close();
  });

  test("overflow 'drop-oldest' (default): keeps the newest maxQueued events and counts the dropped", async () => {
    const { fake, client } = await connected();
    const stream = client.events({ maxQueued: 3 });
    for (let i = 0; i < 5; i++) await fake.status(`j${i}`, 'running');
    await roundTrip(fake, client);
    expect(stream.dropped).toBe(2);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { value } = await stream.next();
      ids.push((value?.data as { id: string } | undefined)?.id ?? 'none');
    }
    expect(ids).toEqual(['j2', 'j3', 'j4']);
    await client.close();
  });

  test("overflow 'error': the queued events, then EventOverflowError; the stream is over", async () => {
    const { fake, client } = await connected();
    const stream = client.events({ maxQueued: 2, overflow: 'error' });
    for (let i = 0; i < 4; i++) await fake.status(`j${i}`, 'running');
    await roundTrip(fake, client);
    expect((await stream.next()).value?.data).toMatchObject({ id: 'j0' });
    expect((await stream.next()).value?.data).toMatchObject({ id: 'j1' });
    const error = await stream.next().catch((e: unknown) => e);
    expect(EventOverflowError.isInstance(error)).toBe(true);
    expect((error as EventOverflowError).limit).toBe(2);
    await expect(stream.next()).resolves.toMatchObject({ done: true });
    await client.close();
  });

  test('return() unregisters the stream; close() ends the others', async () => {
    const { fake, client } = await connected();
    const a = client.events();
    const b = client.events();
    await a.return();
    await fake.status('j', 'running');
    await roundTrip(fake, client);
    expect(a.queued).toBe(0);
    expect(b.queued).toBe(1);
    await client.close();
    expect((await b.next()).done).toBe(false); // what was queued is still delivered
    expect((await b.next()).done).toBe(true);
  });

  test('waitForEvent: matches by data members or predicate; times out; registered at once', async () => {
    const { fake, client } = await connected();
    const ready = client.waitForEvent('BLOCK_JOB_READY', { device: 'm1' });
    const byPredicate = client.waitForEvent('JOB_STATUS_CHANGE', (data) => data.status === 'ready');
    await fake.event('BLOCK_JOB_READY', {
      type: 'mirror',
      device: 'other',
      len: 1,
      offset: 1,
      speed: 0,
    });
    await fake.status('m1', 'ready');
    await fake.event('BLOCK_JOB_READY', {
      type: 'mirror',
      device: 'm1',
      len: 5,
      offset: 5,
      speed: 0,
    });
    await expect(ready).resolves.toMatchObject({ data: { device: 'm1', len: 5 } });
    await expect(byPredicate).resolves.toMatchObject({ data: { id: 'm1' } });
    const timeout = await client
      .waitForEvent('BLOCK_JOB_PENDING', undefined, { timeoutMs: 20 })
      .catch((e: unknown) => e);
    expect(TimeoutError.isInstance(timeout)).toBe(true);
    await client.close();
  });
});

describe('job tracking and reconnect', () => {
  test('reconnects with backoff and reports the job transitions it missed', async () => {
    const fakes: FakeQmp[] = [];
    const reports: unknown[] = [];
    const disconnects: unknown[] = [];
    let opens = 0;
    const client = new QmpClient({
      reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
      onReconnect: (report) => reports.push(report),
      onDisconnect: (cause) => disconnects.push(cause),
    });
    const open = async () => {
      opens++;
      if (opens === 2) throw new Error('not yet'); // the first reconnect attempt fails
      const fake = new FakeQmp();
      fakes.push(fake);
      await fake.start();
      return fake.clientSide;
    };
    const connecting = client.connect({ open });
    // Seeding at connect: query-jobs.
    const seed = await until(() => fakes[0]).then((f) => f.next());
    expect(seed.execute).toBe('query-jobs');
    await fakes[0]?.reply(seed, [
      jobInfo('a', 'running'),
      jobInfo('b', 'running'),
      jobInfo('c', 'ready'),
    ]);
    await connecting;
    expect([...client.trackedJobs]).toEqual([
      ['a', 'running'],
      ['b', 'running'],
      ['c', 'ready'],
    ]);
    const stream = client.events();
    const inFlight = client.execute('query-jobs');
    await fakes[0]?.next();
    fakes[0]?.reset();
    await expect(inFlight).rejects.toSatisfy(ExecInterruptedError.isInstance);
    expect(disconnects).toHaveLength(1);
    // Second server: a finished and was dismissed, b concluded, c unchanged, d is new.
    const query = await until(() => fakes[1]).then((f) => f.next());
    expect(query.execute).toBe('query-jobs');
    await fakes[1]?.reply(query, [
      jobInfo('d', 'running'),
      jobInfo('c', 'ready'),
      jobInfo('b', 'concluded'),
    ]);
    await until(() => reports[0]);
    expect(opens).toBe(3);
    expect(reports[0]).toMatchObject({
      attempts: 2,
      missed: [
        { id: 'd', from: undefined, to: 'running' },
        { id: 'b', from: 'running', to: 'concluded' },
        { id: 'a', from: 'running', to: 'vanished' },
      ],
    });
    expect(client.state).toBe('connected');
    // The event stream survived the reconnect.
    await fakes[1]?.status('d', 'paused');
    expect((await stream.next()).value?.data).toEqual({ id: 'd', status: 'paused' });
    expect(client.trackedJobs.get('d')).toBe('paused');
    await client.close();
  });

  test('gives up after maxAttempts: the client closes and streams end with the cause', async () => {
    let opens = 0;
    let first: FakeQmp | undefined;
    const client = new QmpClient({ reconnect: { initialDelayMs: 1, maxAttempts: 2 } });
    const connecting = client.connect({
      open: async () => {
        opens++;
        if (opens > 1) throw new ConnectError('refused', { code: 'ECONNREFUSED' });
        first = new FakeQmp();
        await first.start();
        return first.clientSide;
      },
    });
    const seed = await until(() => first).then((f) => f.next());
    await first?.reply(seed, []);
    await connecting;
    const stream = client.events();
    first?.reset();
    await expect(stream.next()).resolves.toMatchObject({ done: true });
    expect(client.state).toBe('closed');
    expect(opens).toBe(3);
    expect(ConnectError.isInstance(stream.endCause)).toBe(true);
  });
});

function jobInfo(id: string, status: string) {
  return { id, type: 'mirror', status, 'current-progress': 0, 'total-progress': 1 };
}

/**
 * A command answered after what the fake sent: once its reply is in, the client has handled
 * everything that came before it (one ordered connection).
 */
async function roundTrip(fake: FakeQmp, client: QmpClient): Promise<void> {
  const pending = client.execute('query-jobs');
  await fake.reply(await fake.next(), []);
  await pending;
}
