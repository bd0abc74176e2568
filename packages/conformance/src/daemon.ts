// Starting and stopping the QMP servers the tests talk to: a real qemu-storage-daemon (the oracle)
// or anything else that takes the same command line (qmpkit-server), each with its QMP monitor on a
// unix socket in a fresh temporary directory.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HANG_GUARD_MS } from '@qmpkit/test-support';
import type { QemuInstall } from './qemu-binaries.js';

export interface Daemon {
  /** The QMP monitor's unix socket. */
  readonly socketPath: string;
  /** A temporary directory for the test's files; removed by stop(). */
  readonly dir: string;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  /** How the server ended (an exit code or a signal's name); null while it runs. */
  exitStatus(): number | string | null;
  /** Ends the server (a process: SIGTERM, then SIGKILL after a grace period) and removes `dir`. */
  stop(): Promise<void>;
}

/** A server running as its own process. */
export interface ProcessDaemon extends Daemon {
  readonly process: ChildProcess;
}

/** Whether `daemon` runs as a process of its own (an embedded one does not). */
export function isProcessDaemon(daemon: Daemon): daemon is ProcessDaemon {
  return 'process' in daemon;
}

export interface StartOptions {
  /** `--blockdev` option values, e.g. `null-co,node-name=src,size=1048576`. */
  readonly blockdevs?: readonly string[];
  /** Further arguments after the monitor and blockdev options. */
  readonly args?: readonly string[];
  /** Use this directory instead of a new temporary one (it is still removed by stop()). */
  readonly dir?: string;
  /** How long to wait for the daemon to be ready. */
  readonly timeoutMs?: number;
  /**
   * The daemon's pidfile option (`--pidfile`). When given, the daemon is ready once it has written
   * its pidfile, which QEMU does only after processing every option, monitors included. Without
   * it, ready means the socket accepts a connection.
   */
  readonly pidfileOption?: string;
}

const QSD = 'qemu-storage-daemon';

/** Whether `command` is on the PATH. */
export function hasCommand(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Fails loudly when QEMU is missing: real-QEMU tests must run, never silently skip
 * (`.ci/run` installs QEMU).
 */
export function requireQemu(): void {
  for (const command of [QSD, 'qemu-img']) {
    if (!hasCommand(command)) {
      throw new Error(
        `${command} not found: install Debian's qemu-system-common and qemu-utils (bash .ci/run does)`,
      );
    }
  }
}

/**
 * The QEMU-style command line for the given blockdevs plus a monitor on `socketPath`. The
 * blockdevs come first: QEMU processes its options in order, so the socket appearing means every
 * blockdev was opened.
 */
export function daemonArgs(socketPath: string, options: StartOptions = {}): string[] {
  const args: string[] = [];
  for (const blockdev of options.blockdevs ?? []) args.push('--blockdev', blockdev);
  args.push('--chardev', `socket,path=${socketPath},server=on,wait=off,id=qmp0`);
  args.push('--monitor', 'chardev=qmp0');
  return [...args, ...(options.args ?? [])];
}

/** Starts `command` with a QMP monitor and waits until its socket exists. */
export async function startDaemon(
  command: string,
  commandArgs: readonly string[],
  options: StartOptions = {},
): Promise<ProcessDaemon> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'qmpkit-daemon-'));
  const socketPath = join(dir, 'qmp.sock');
  const pidfile = join(dir, 'daemon.pid');
  const pidArgs = options.pidfileOption ? [options.pidfileOption, pidfile] : [];
  const child = spawn(command, [...commandArgs, ...pidArgs, ...daemonArgs(socketPath, options)], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  // Generous: node takes more than 10 s to start a qmpkit-server at a load of 60 on 2 cores
  // (seen while nine people shared this machine); it only matters when something is wrong.
  const deadline = Date.now() + (options.timeoutMs ?? HANG_GUARD_MS);
  const readyFile = options.pidfileOption ? pidfile : socketPath;
  while (!existsSync(readyFile) || !existsSync(socketPath)) {
    if (spawnError !== undefined || child.exitCode !== null || Date.now() > deadline) {
      await stop();
      const why =
        spawnError?.message ??
        (child.exitCode !== null ? `exited with ${child.exitCode}` : 'timed out');
      throw new Error(`${command} did not open its QMP socket (${why}): ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  // The file appears at bind(), a moment before listen(): until then a connect is refused. Probe
  // until one is accepted (the probe leaves at once, so the monitor is free for the test).
  while (!options.pidfileOption && !(await accepts(socketPath))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`${command} never accepted a connection on ${socketPath}: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    socketPath,
    dir,
    process: child,
    stderr: () => stderr,
    exitStatus: () => child.exitCode ?? child.signalCode,
    stop,
  };
}

function accepts(socketPath: string): Promise<boolean> {
  return new Promise((resolveProbe) => {
    const probe = connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolveProbe(true);
    });
    probe.once('error', () => resolveProbe(false));
  });
}

/**
 * Starts a real qemu-storage-daemon: the installed 7.2, or the version `qemu` names (see
 * qemu-binaries.ts).
 */
export function startQemuStorageDaemon(
  options: StartOptions = {},
  qemu?: QemuInstall,
): Promise<ProcessDaemon> {
  if (qemu === undefined) requireQemu();
  return startDaemon(qemu?.command(QSD) ?? QSD, [], { pidfileOption: '--pidfile', ...options });
}

/** Runs `qemu-img` and returns its stdout; throws with its stderr on failure. */
export function qemuImg(args: readonly string[], cwd?: string): string {
  return execFileSync('qemu-img', args, { encoding: 'utf8', ...(cwd ? { cwd } : {}) });
}
