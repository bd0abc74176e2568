// The built qmpkit-server bin and a qmp-shell-style raw client (one JSON text per line), for the
// end-to-end tests. Everything started is registered for `cleanUp()` (call it in afterEach).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { until } from '@qmpkit/test-support';

export const BIN = fileURLToPath(new URL('../dist/bin/qmpkit-server.js', import.meta.url));
const cleanups: (() => Promise<void> | void)[] = [];

export async function cleanUp(): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) await c();
}

/** A temporary directory, removed after the test. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Starts the bin (killed after the test if still running). With `umask`, through a shell that
 * `exec`s node, so the pid stays the server's.
 */
export function startServer(args: string[], options: { umask?: string } = {}) {
  const child: ChildProcess =
    options.umask === undefined
      ? spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
      : spawn(
          '/bin/sh',
          ['-c', `umask ${options.umask} && exec "$0" "$@"`, process.execPath, BIN, ...args],
          { stdio: ['ignore', 'ignore', 'pipe'] },
        );
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  // 'close', not 'exit': by then everything the process wrote to stderr has been read.
  const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return { child, exited, stderr: () => stderr };
}

/** Starts the bin on a unix socket in a new temporary directory and waits until it listens. */
export async function startOnSocket(args: string[]) {
  const dir = tempDir('qmpkit-bin-');
  const socket = join(dir, 'q.sock');
  const pid = join(dir, 'pid');
  const server = startServer([...args, '--socket', socket, '--pidfile', pid]);
  await until(() => existsSync(pid), `the server (${server.stderr()})`);
  return { ...server, socket, dir };
}

export type Message = Record<string, unknown>;

/** A raw connection: every message received, every data chunk, and line-by-line writing. */
export function rawConnection(path: string) {
  const socket: Socket = connect(path);
  cleanups.push(() => {
    socket.destroy();
  });
  const messages: Message[] = [];
  let received = '';
  let buffer = '';
  let closed = false;
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    received += chunk;
    buffer += chunk;
    for (let end = buffer.indexOf('\n'); end >= 0; end = buffer.indexOf('\n')) {
      messages.push(JSON.parse(buffer.slice(0, end)));
      buffer = buffer.slice(end + 1);
    }
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
  });
  let next = 0;
  /** Sends a command; resolves with its id. */
  const send = (execute: string, args?: Record<string, unknown>) => {
    const id = ++next;
    socket.write(`${JSON.stringify({ execute, ...(args ? { arguments: args } : {}), id })}\n`);
    return id;
  };
  const reply = async (id: number) => {
    let found: Message | undefined;
    await until(() => {
      found = messages.find((m) => m.id === id);
      return found !== undefined;
    }, `the reply ${id}`);
    return found!;
  };
  const call = async (execute: string, args?: Record<string, unknown>) =>
    reply(send(execute, args));
  return {
    socket,
    messages,
    send,
    reply,
    call,
    received: () => received,
    closed: () => closed,
  };
}

/** A raw connection past the greeting and capabilities negotiation. */
export async function client(path: string) {
  const c = rawConnection(path);
  await until(() => c.messages.length > 0, 'the greeting');
  await c.call('qmp_capabilities');
  return c;
}

/** `JOB_STATUS_CHANGE` of `job` to `status`. */
export const statusChange = (job: string, status: string) => (m: Message) =>
  m.event === 'JOB_STATUS_CHANGE' &&
  (m.data as { id?: string }).id === job &&
  (m.data as { status?: string }).status === status;
