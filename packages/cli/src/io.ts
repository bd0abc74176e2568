/**
 * What a command may touch: its output streams, its input, the environment it was given, the
 * interrupt signal (Ctrl-C) and a clock. The bin entry builds it from `process`; nothing else in
 * the package reads `process`.
 */
import type { Readable } from 'node:stream';
import {
  type ClientOptions,
  ConnectError,
  ExecInterruptedError,
  ExecuteError,
  QmpClient,
  StateError,
  TimeoutError,
} from '@qmpkit/client';
import { socketTarget } from '@qmpkit/client/node';
import type { Target } from './args-common.js';

/** An output stream: stdout or stderr. */
export interface Output {
  write(text: string): unknown;
  readonly isTTY?: boolean | undefined;
  readonly columns?: number | undefined;
  /** A terminal's resize events (the shell redraws its input line). */
  on?(event: 'resize', listener: () => void): unknown;
  off?(event: 'resize', listener: () => void): unknown;
}

export interface CliIo {
  readonly stdout: Output;
  readonly stderr: Output;
  /** The shell's input (a TTY when interactive). */
  readonly stdin: Readable & { isTTY?: boolean | undefined };
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The user's home directory ('' when unknown). */
  readonly home: string;
  /** Aborted at the first Ctrl-C (SIGINT). */
  readonly interrupt: AbortSignal;
  /** Wall-clock milliseconds. */
  now(): number;
}

/** Exit codes. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

/**
 * Connects to the server; rejects with the client's ConnectError (described by `describeError`),
 * or with the interrupt when Ctrl-C comes first (a busy QEMU monitor never greets).
 */
export function connect(
  target: Target,
  connectTimeoutMs: number,
  interrupt: AbortSignal,
  options: ClientOptions = {},
): Promise<QmpClient> {
  return QmpClient.connect(socketTarget(target), {
    connectTimeoutMs,
    signal: interrupt,
    ...options,
  });
}

/** One line (no stack) saying what went wrong, for stderr. */
export function describeError(error: unknown): string {
  if (ExecuteError.isInstance(error)) return `${error.errorClass}: ${error.desc}`;
  if (ConnectError.isInstance(error)) {
    if (error.code === 'ETIMEDOUT') {
      return `qmpkit: ${error.message} (QEMU serves one client at a time: is another one connected?)`;
    }
    return `qmpkit: ${error.message}`;
  }
  if (ExecInterruptedError.isInstance(error)) {
    return 'qmpkit: the connection to the server was lost';
  }
  if (StateError.isInstance(error) || TimeoutError.isInstance(error))
    return `qmpkit: ${error.message}`;
  if (error instanceof Error) return `qmpkit: ${error.message}`;
  return `qmpkit: ${String(error)}`;
}
