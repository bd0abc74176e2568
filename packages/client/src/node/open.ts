/**
 * Opening a transport for a connect target: unix socket, TCP, a given transport, or a factory.
 * Kept apart so that the client proper only knows the `Transport` contract.
 */
import type { Transport } from '@qmpkit/protocol';
import { connectTcp, connectUnix } from '@qmpkit/protocol/node';

/** Where to connect. */
export type ConnectTarget =
  /** A QMP unix socket (`--chardev socket,path=…,server=on`). */
  | { path: string }
  /** A QMP TCP socket. */
  | { host: string; port: number }
  /** An already-open transport (cannot be reopened: no reconnect). */
  | { transport: Transport }
  /** A factory giving a fresh transport each time (reconnect calls it again). */
  | { open: (signal: AbortSignal | undefined) => Promise<Transport> };

/** A short description of the target for messages. */
export function describeTarget(target: ConnectTarget): string {
  if ('path' in target) return target.path;
  if ('host' in target) return `${target.host}:${target.port}`;
  if ('transport' in target) return 'the given transport';
  return 'the transport factory';
}

/** True when the target can be opened again after a disconnect. */
export function isReopenable(target: ConnectTarget): boolean {
  return !('transport' in target);
}

/** Opens a transport for `target` (not started). */
export async function openTransport(
  target: ConnectTarget,
  timeoutMs: number | undefined,
  signal: AbortSignal | undefined,
): Promise<Transport> {
  const options = {
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(signal === undefined ? {} : { signal }),
  };
  if ('path' in target) return connectUnix(target.path, options);
  if ('host' in target) return connectTcp(target.host, target.port, options);
  if ('transport' in target) return target.transport;
  return target.open(signal);
}
