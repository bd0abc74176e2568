/**
 * `@qmpkit/client/node`: QMP over Node sockets. A `SocketTarget` (a Unix socket path, or a TCP
 * host and port) becomes a `ConnectTarget` the transport-agnostic `QmpClient` can open, and
 * reopen when it reconnects.
 */
import { connectTcp, connectUnix } from '@qmpkit/protocol/node';
import { type ClientOptions, QmpClient } from '../client.js';
import type { ConnectTarget } from '../target.js';

/** A QMP socket. */
export type SocketTarget =
  /** A QMP unix socket (`--chardev socket,path=…,server=on`). */
  | { path: string }
  /** A QMP TCP socket. */
  | { host: string; port: number };

/** The connect target of a Unix or TCP socket: each open makes a new connection. */
export function socketTarget(target: SocketTarget): ConnectTarget {
  if ('path' in target) {
    const { path } = target;
    return {
      address: path,
      open: (signal) => connectUnix(path, signal === undefined ? {} : { signal }),
    };
  }
  const { host, port } = target;
  return {
    address: `${host}:${port}`,
    open: (signal) => connectTcp(host, port, signal === undefined ? {} : { signal }),
  };
}

/** Creates a client and connects it to a Unix or TCP socket; see `QmpClient.connect()`. */
export function connectQmp(target: SocketTarget, options: ClientOptions = {}): Promise<QmpClient> {
  return QmpClient.connect(socketTarget(target), options);
}
