// Shared by the cli-*.test.ts files: start a QMP server with two monitors (QEMU serves one client
// per monitor, so the CLI under test gets `cliSocket` and the test's own client `checkSocket`), and
// run the built `qmpkit` bin as a child process.

import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { QmpClient } from '@qmpkit/client';
import { connectQmp } from '@qmpkit/client/node';
import { HANG_GUARD_MS, until } from '@qmpkit/test-support';
import { type Daemon, startDaemon, startQemuStorageDaemon } from '../src/daemon.js';
import type { QemuInstall } from '../src/qemu-binaries.js';

export const CLI_BIN = fileURLToPath(
  new URL('dist/bin/qmpkit.js', import.meta.resolve('@qmpkit/cli/package.json')),
);
export const SERVER_BIN = fileURLToPath(
  new URL('dist/bin/qmpkit-server.js', import.meta.resolve('@qmpkit/server-app/package.json')),
);

/** The servers the CLI is tested against. */
export type TargetName = 'qemu' | 'qmpkit-server';

export interface Target {
  readonly name: TargetName;
  readonly daemon: Daemon;
  /** The monitor the CLI under test uses. */
  readonly cliSocket: string;
  /** A second monitor, for the test's own checks. */
  readonly checkSocket: string;
  /** A client on `checkSocket`. */
  readonly check: QmpClient;
  stop(): Promise<void>;
}

/** Starts `name` with `blockdevs`, two monitors, and `extraArgs` (more monitors, …). */
export async function startTarget(
  name: TargetName,
  blockdevs: readonly string[] = [],
  extraArgs: readonly string[] = [],
  /** For `qemu`: another QEMU than the installed 7.2 (see qemu-binaries.ts). */
  qemu?: QemuInstall,
): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'qmpkit-cli-'));
  const checkSocket = join(dir, 'check.sock');
  const options = {
    dir,
    blockdevs,
    args: [
      '--chardev',
      `socket,path=${checkSocket},server=on,wait=off,id=check0`,
      '--monitor',
      'chardev=check0',
      ...extraArgs,
    ],
  };
  const daemon =
    name === 'qemu'
      ? await startQemuStorageDaemon(options, qemu)
      : // qmpkit-server writes its pidfile once every monitor listens, as QEMU does. It answers
        // like the installed QEMU, 7.2, that the tests compare it with.
        await startDaemon(process.execPath, [SERVER_BIN, '--qemu-version', '7.2'], {
          ...options,
          pidfileOption: '--pidfile',
        });
  try {
    const check = await connectQmp({ path: checkSocket });
    return {
      name,
      daemon,
      cliSocket: daemon.socketPath,
      checkSocket,
      check,
      stop: async () => {
        await check.close();
        await daemon.stop();
      },
    };
  } catch (error) {
    await daemon.stop();
    throw error;
  }
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A running `qmpkit` child. */
export interface CliProcess {
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Resolves when stdout contains a line for which `test` is true. */
  waitForLine(test: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  kill(signal: NodeJS.Signals): void;
  /**
   * Resolves once the process has a socket open beyond its stdio (fd 3 and up): it has
   * connected (or is connecting) to a server. Node opens none of its own.
   */
  waitForConnection(timeoutMs?: number): Promise<void>;
  readonly done: Promise<CliRun>;
}

function hasSocketBeyondStdio(pid: number): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      if (Number(fd) < 3) return false;
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:');
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/**
 * Starts the built `qmpkit` bin with `args`; not a TTY (pipes). It is killed after `timeoutMs`
 * (a guard against a CLI that never ends, around a test's several waits).
 */
export function spawnCli(args: readonly string[], timeoutMs = 2 * HANG_GUARD_MS): CliProcess {
  const child = spawn(process.execPath, [CLI_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const wake of waiters) wake();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<CliRun>((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      for (const wake of waiters) wake();
      resolve({ code, signal, stdout, stderr });
    });
  });
  return {
    stdout: () => stdout,
    waitForLine(test, waitMs = HANG_GUARD_MS) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = stdout.split('\n').find((l) => l !== '' && test(l));
          if (line !== undefined) {
            waiters.delete(check);
            clearTimeout(limit);
            resolve(line);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            waiters.delete(check);
            clearTimeout(limit);
            reject(
              new Error(
                `qmpkit ended before the line appeared; stdout: ${stdout} stderr: ${stderr}`,
              ),
            );
          }
        };
        const limit = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(`no such line within ${waitMs} ms; stdout: ${stdout} stderr: ${stderr}`),
          );
        }, waitMs);
        waiters.add(check);
        check();
      });
    },
    async waitForConnection(waitMs = HANG_GUARD_MS) {
      await until(
        () => {
          if (child.exitCode !== null || child.signalCode !== null) {
            throw new Error('the CLI exited');
          }
          return hasSocketBeyondStdio(child.pid!);
        },
        'the CLI to connect',
        waitMs,
      );
    },
    kill: (signal) => child.kill(signal),
    done,
  };
}

/** Runs `qmpkit args…` to its end. */
export function runCli(args: readonly string[], timeoutMs?: number): Promise<CliRun> {
  return spawnCli(args, timeoutMs).done;
}

/** NDJSON lines of stdout, parsed. */
export function ndjson(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The list without consecutive repeats. */
export function collapse<T>(values: readonly T[]): T[] {
  return values.filter((value, i) => i === 0 || values[i - 1] !== value);
}

/** A TCP port nothing listens on right now (the kernel's pick). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}
