// Shared by the tests that run the real tools: a qemu-nbd serving a file and our server serving
// a sparse backend, each on a unix socket in its own temporary directory, and a way to run a
// command without blocking the event loop (our server runs in this process).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { HANG_GUARD_MS, until } from '@qmpkit/test-support';
import type { NbdBackend, NbdQemuVersion } from '../src/index.js';
import { type NbdListenOptions, NbdServer } from '../src/node/index.js';

export interface ToolResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const QEMU_TOOLS = new Set(['qemu-nbd', 'qemu-io', 'qemu-img']);

/** A QEMU build whose qemu-nbd is the oracle and whose qemu-io / qemu-img drive both servers. */
export interface QemuBuild {
  readonly version: string;
  /** Directory of its tools; undefined for the ones on PATH. */
  readonly dir: string | undefined;
}

/**
 * Debian's 7.2 on PATH, and QEMU 10.0 where `.ci/fetch-qemu` unpacked it (required in CI, as
 * the other QEMU 10.0 tests require it; skipped with a note elsewhere).
 */
export function qemuBuilds(): QemuBuild[] {
  const builds: QemuBuild[] = [{ version: '7.2', dir: undefined }];
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  const dir = join(cache, 'qmpkit', 'qemu-10.0.2', 'bin');
  if (existsSync(join(dir, 'qemu-nbd'))) builds.push({ version: '10.0', dir });
  else if (process.env.CI === 'true')
    throw new Error(`QEMU 10.0 is missing from ${dir}: run .ci/fetch-qemu`);
  else process.stderr.write(`QEMU 10.0 not found in ${dir}: its NBD tests are skipped\n`);
  return builds;
}

let currentBuild: QemuBuild = { version: '7.2', dir: undefined };

/** Makes `run('qemu-…')` and `startQemuNbd` use this build's tools. */
export function useQemu(build: QemuBuild): void {
  currentBuild = build;
}

function qemuTool(name: string): string {
  return currentBuild.dir === undefined || !QEMU_TOOLS.has(name)
    ? name
    : join(currentBuild.dir, name);
}

/** Runs a command to completion (never throws for a non-zero exit). */
export function run(command: string, args: readonly string[]): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    execFile(
      qemuTool(command),
      args,
      { maxBuffer: 64 * 1024 * 1024, timeout: HANG_GUARD_MS },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : (error as { code?: unknown }).code;
        if (error !== null && typeof code !== 'number') {
          reject(error);
          return;
        }
        resolve({ code: code as number, stdout, stderr });
      },
    );
  });
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export interface Endpoint {
  readonly socket: string;
  readonly uri: (exportName?: string) => string;
  stop(): Promise<void>;
}

function unixUri(socket: string) {
  return (exportName = '') => `nbd+unix:///${encodeURIComponent(exportName)}?socket=${socket}`;
}

/**
 * Starts `qemu-nbd --fork`: the parent exits once the socket listens, leaving the pid file.
 * `args` come before the image.
 */
export async function startQemuNbd(
  dir: string,
  image: string,
  args: readonly string[],
): Promise<Endpoint> {
  const socket = join(dir, 'qemu-nbd.sock');
  const pidFile = join(dir, 'qemu-nbd.pid');
  const result = await run('qemu-nbd', [
    '--fork',
    `--pid-file=${pidFile}`,
    '-k',
    socket,
    '--persistent',
    ...args,
    image,
  ]);
  if (result.code !== 0 || !existsSync(pidFile)) {
    throw new Error(`qemu-nbd did not start (${result.code}): ${result.stderr}`);
  }
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  return {
    socket,
    uri: unixUri(socket),
    stop: async () => {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        return; // already gone
      }
      const gone = () => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      };
      try {
        await until(gone, `qemu-nbd (pid ${pid}) to exit on SIGTERM`);
      } catch {
        if (!gone()) process.kill(pid, 'SIGKILL');
      }
    },
  };
}

/** Our server with one export named `exportName` (default ''). */
export async function startOurs(
  dir: string,
  backend: NbdBackend,
  options: NbdListenOptions & { exportName?: string; description?: string } = {},
): Promise<Endpoint & { server: NbdServer }> {
  const socket = join(dir, 'ours.sock');
  const server = await NbdServer.listen(
    { path: socket },
    { qemuVersion: currentBuild.version as NbdQemuVersion, ...options },
  );
  server.addExport({
    name: options.exportName ?? '',
    backend,
    ...(options.description === undefined ? {} : { description: options.description }),
  });
  return { socket, uri: unixUri(socket), server, stop: () => server.close() };
}

/** Removes a temporary directory. */
export function removeDir(dir: string | undefined): Promise<void> {
  return dir === undefined ? Promise.resolve() : rm(dir, { recursive: true, force: true });
}

/** Tool output with the endpoint's socket path replaced and qemu-io's timing lines dropped. */
export function normalize(text: string, endpoint: Endpoint): string {
  return text
    .split(endpoint.socket)
    .join('<socket>')
    .split('\n')
    .filter((line) => !/ ops; /.test(line))
    .join('\n');
}
