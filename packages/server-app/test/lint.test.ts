// qmpkit-server --lint end to end: the built bin, a raw client misusing the job API, the
// findings through x-qmpkit-lint, the JSON report and the exit status at `quit`.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, test } from 'vitest';

const BIN = fileURLToPath(new URL('../dist/bin/qmpkit-server.js', import.meta.url));
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until(what: string, condition: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function startServer(args: string[]) {
  const child: ChildProcess = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return { exited, stderr: () => stderr };
}

/** A line-reading client: `call` sends a command and resolves with its reply. */
async function client(path: string) {
  const socket: Socket = connect(path);
  cleanups.push(() => {
    socket.destroy();
  });
  const messages: Record<string, unknown>[] = [];
  let buffer = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    for (let end = buffer.indexOf('\n'); end >= 0; end = buffer.indexOf('\n')) {
      messages.push(JSON.parse(buffer.slice(0, end)));
      buffer = buffer.slice(end + 1);
    }
  });
  let next = 0;
  const call = async (execute: string, args?: Record<string, unknown>) => {
    const id = ++next;
    socket.write(`${JSON.stringify({ execute, ...(args ? { arguments: args } : {}), id })}\n`);
    let reply: Record<string, unknown> | undefined;
    await until(`the reply to ${execute}`, () => {
      reply = messages.find((m) => m.id === id);
      return reply !== undefined;
    });
    return reply!;
  };
  await until('the greeting', () => messages.length > 0);
  await call('qmp_capabilities');
  return { call, messages };
}

test('findings through x-qmpkit-lint, in the report, and as the exit status with --lint-fail', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qmpkit-lint-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const socket = join(dir, 'q.sock');
  const report = join(dir, 'lint.json');
  const server = startServer([
    '--blockdev',
    'null-co,node-name=src,size=1048576',
    '--blockdev',
    'null-co,node-name=dst,size=1048576',
    '--socket',
    socket,
    '--pidfile',
    join(dir, 'pid'),
    '--lint-report',
    report,
    '--lint-fail',
    '--lint-poll-interval',
    '60000',
  ]);
  await until(`the server (${server.stderr()})`, () => existsSync(join(dir, 'pid')));
  const c = await client(socket);
  const schema = (await c.call('query-qmp-schema')).return as { name: string }[];
  expect(schema.some((e) => e.name === 'x-qmpkit-lint')).toBe(true);
  expect(await c.call('x-qmpkit-lint')).toMatchObject({ return: [] });

  // A mirror without job-id (on a bare node QEMU refuses it: no BlockBackend name to borrow),
  // a backup left concluded, polled twice within the interval.
  expect(
    await c.call('blockdev-mirror', { device: 'src', target: 'dst', sync: 'full' }),
  ).toMatchObject({ error: { class: 'GenericError', desc: "Invalid job ID ''" } });
  expect(
    await c.call('blockdev-backup', {
      'job-id': 'b1',
      device: 'src',
      target: 'dst',
      sync: 'full',
      'auto-dismiss': false,
    }),
  ).toMatchObject({ return: {} });
  await until('the backup to conclude', () =>
    c.messages.some(
      (m) =>
        m.event === 'JOB_STATUS_CHANGE' && (m.data as { status: string }).status === 'concluded',
    ),
  );
  await c.call('query-jobs');
  await c.call('query-jobs');
  const findings = (await c.call('x-qmpkit-lint')).return as { rule: string; job?: string }[];
  expect(findings.map((f) => f.rule)).toEqual(['no-job-id', 'poll-too-fast']);
  expect(findings[0]).toMatchObject({ job: 'src', client: 1, command: 'blockdev-mirror' });

  await c.call('quit');
  expect(await server.exited).toBe(1);
  const written = JSON.parse(readFileSync(report, 'utf8')) as { rule: string; job?: string }[];
  expect(written.map((f) => [f.rule, f.job])).toEqual([
    ['no-job-id', 'src'],
    ['poll-too-fast', undefined],
    ['concluded-not-dismissed', 'b1'],
  ]);
  expect(server.stderr()).toContain('lint: 3 finding(s)');
});

test("without --lint the schema is exactly QEMU's and the exit status 0", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qmpkit-lint-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const socket = join(dir, 'q.sock');
  const server = startServer(['--socket', socket, '--pidfile', join(dir, 'pid')]);
  await until('the server', () => existsSync(join(dir, 'pid')));
  const c = await client(socket);
  expect(await c.call('x-qmpkit-lint')).toMatchObject({ error: { class: 'CommandNotFound' } });
  await c.call('quit');
  expect(await server.exited).toBe(0);
});
