/**
 * What every parser of `qmpkit`'s command line shares (args.ts for the main commands,
 * record-args.ts, dashboard-args.ts): the usage error, where the server is, and the defaults.
 */

import { hasErrorMarker, stampErrorMarker } from '@qmpkit/protocol';

/** A wrong command line; shown as `qmpkit: <message>` with a pointer to `--help`, exit 2. */
export class CliUsageError extends Error {
  /** The command whose help applies (`exec`, `run mirror`, …), if known. */
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super(message);
    this.name = 'CliUsageError';
    this.command = command;
    stampErrorMarker(this, 'CliUsageError');
  }

  /** True for a CliUsageError from any copy of this package (by its marker). */
  static isInstance(value: unknown): value is CliUsageError {
    return hasErrorMarker(value, 'CliUsageError');
  }
}

/** Where the QMP server is. */
export type Target = { path: string } | { host: string; port: number };

export const DEFAULT_TCP_HOST = '127.0.0.1';
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_INTERVAL_MS = 1000;

/** `HOST:PORT`, `[V6]:PORT`, `:PORT` or `PORT`. */
export function parseTcpAddress(text: string): { host: string; port: number } {
  let host = DEFAULT_TCP_HOST;
  let portText = text;
  const bracket = /^\[([^\]]+)\]:(.*)$/.exec(text);
  if (bracket !== null) {
    host = bracket[1] as string;
    portText = bracket[2] as string;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon >= 0) {
      if (colon > 0) host = text.slice(0, colon);
      portText = text.slice(colon + 1);
    }
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    throw new CliUsageError(`--tcp ${text}: expected HOST:PORT with a port from 1 to 65535`);
  }
  return { host, port: Number(portText) };
}
