/**
 * Where a client connects: any `Transport`. The client proper knows only the `Transport`
 * contract; Unix and TCP sockets come from `@qmpkit/client/node` as factories of this shape.
 */
import type { Transport } from '@qmpkit/protocol';

/** Where to connect. */
export type ConnectTarget =
  /** An already-open transport (cannot be reopened: no reconnect). */
  | { transport: Transport }
  /**
   * A factory giving a fresh transport each time (reconnect calls it again); `address` names
   * it in messages (e.g. the socket path).
   */
  | { open: (signal: AbortSignal | undefined) => Promise<Transport>; address?: string };

/** A short description of the target for messages. */
export function describeTarget(target: ConnectTarget): string {
  if ('transport' in target) return 'the given transport';
  return target.address ?? 'the transport factory';
}

/** True when the target can be opened again after a disconnect. */
export function isReopenable(target: ConnectTarget): boolean {
  return !('transport' in target);
}

/** Opens a transport for `target` (not started). */
export async function openTransport(
  target: ConnectTarget,
  signal: AbortSignal | undefined,
): Promise<Transport> {
  if ('transport' in target) return target.transport;
  return target.open(signal);
}
