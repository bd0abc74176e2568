/**
 * Node listeners: a QMP monitor on a unix socket or a TCP port, feeding accepted connections to
 * a `QmpServer` monitor.
 */

import { chmodSync, lstatSync, mkdtempSync, renameSync, rmdirSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { hasErrorMarker, stampErrorMarker, type Transport } from '@qmpkit/protocol';
import { wrapSocket } from '@qmpkit/protocol/node';
import { QMP_SERVER_CODEC } from '../codec.js';
import type { Monitor, QmpServer } from '../server.js';

/** A listening endpoint. */
export interface QmpListener {
  /** The monitor its clients are served on. */
  readonly monitor: Monitor;
  /** The socket path, or `host:port` (with the port actually bound). */
  readonly address: string;
  /** The TCP port actually bound (TCP only). */
  readonly port?: number;
  /** Stops listening (removing the socket file) and ends its clients. */
  close(): Promise<void>;
}

/** Options shared by both listeners. */
export interface ListenOptions {
  /** Serve every client at once instead of one at a time (QEMU's behaviour). */
  readonly serveAllClients?: boolean;
  /**
   * Puts something between each accepted connection and the server (e.g. a fault injector);
   * it gets the transport before the server does and returns the one the server is to use.
   */
  readonly wrapTransport?: (transport: Transport) => Transport;
}

/** Options of `listenTcp`. */
export interface TcpListenOptions extends ListenOptions {
  /** Host to bind; default `127.0.0.1` (loopback). */
  readonly host?: string;
  /** Port; 0 picks a free one. */
  readonly port: number;
}

/** A listener that could not be set up. */
export class ListenError extends Error {
  readonly code: string | undefined;
  readonly address: string;
  constructor(message: string, address: string, code?: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'ListenError';
    this.address = address;
    this.code = code;
    stampErrorMarker(this, 'ListenError');
  }

  /** True for a ListenError from any copy of this package (by its marker). */
  static isInstance(value: unknown): value is ListenError {
    return hasErrorMarker(value, 'ListenError');
  }
}

function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function bind(netServer: Server, target: { path: string } | { host: string; port: number }) {
  return new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    netServer.once('error', onError);
    netServer.listen(target, () => {
      netServer.off('error', onError);
      resolve();
    });
  });
}

/** Whether something accepts connections on the unix socket at `path`. */
function socketIsLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe: Socket = connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

function makeNetServer(
  server: QmpServer,
  monitor: () => Monitor,
  describe: (s: Socket) => string,
  wrapTransport: ((transport: Transport) => Transport) | undefined,
) {
  const netServer = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
    socket.setNoDelay?.(true);
    const transport = wrapSocket(socket, {
      codec: QMP_SERVER_CODEC,
      halfOpen: true,
      // Our own bound (the server's) cuts a non-reading client off first, with a log line.
      maxWriteBufferBytes: server.maxOutputBytes * 2 + 1024 * 1024,
      // A session has one write in flight and gathers the rest itself (session.ts).
      gatherWrites: false,
    });
    monitor().attach(wrapTransport === undefined ? transport : wrapTransport(transport), {
      peer: describe(socket),
    });
  });
  netServer.on('error', (error) => server.log('error', `listener error: ${error.message}`));
  return netServer;
}

function closeNetServer(netServer: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!netServer.listening) {
      resolve();
      return;
    }
    // The callback waits for connections to end; the monitor ends them.
    netServer.close(() => resolve());
  });
}

/** The longest unix socket path Linux accepts (`sun_path` is 108 bytes with its NUL). */
const MAX_UNIX_PATH_BYTES = 107;

/**
 * A private directory (mode 0700, whatever the umask) to bind in, beside `path` so that the
 * final rename stays on one file system; under the temp dir when the path beside would be too
 * long for a socket.
 */
function makePrivateDir(path: string): string {
  const beside = join(dirname(path), '.qmpkit-');
  const room = MAX_UNIX_PATH_BYTES - '/s'.length - 6;
  return mkdtempSync(Buffer.byteLength(beside) <= room ? beside : join(tmpdir(), 'qmpkit-'));
}

/**
 * Listens on a unix socket of mode 0600. The socket is never reachable by anyone else, not
 * even for a moment: it is bound in a private 0700 directory, given mode 0600 there, and only
 * then renamed to `path` (a bind makes the file with the umask's mode; a chmod after it leaves
 * a window). A stale socket file (nothing listening) is replaced; a live one, or a path that is
 * not a socket, is an error (`ListenError` with code `EADDRINUSE` / `EEXIST`). The file is
 * removed on close if it is still ours.
 */
export async function listenUnix(
  server: QmpServer,
  path: string,
  options: ListenOptions = {},
): Promise<QmpListener> {
  let existing: ReturnType<typeof lstatSync> | undefined;
  try {
    existing = lstatSync(path);
  } catch {
    existing = undefined;
  }
  if (existing !== undefined) {
    if (!existing.isSocket()) {
      throw new ListenError(
        `cannot listen on ${path}: the path exists and is not a socket`,
        path,
        'EEXIST',
      );
    }
    if (await socketIsLive(path)) {
      throw new ListenError(
        `cannot listen on ${path}: another server is listening there`,
        path,
        'EADDRINUSE',
      );
    }
    // The stale file is replaced by the rename below, atomically.
  }
  let inode: number | bigint | undefined;
  const netServer = makeNetServer(
    server,
    () => monitor,
    () => 'unix client',
    options.wrapTransport,
  );
  const monitor = server.createMonitor({
    name: path,
    ...(options.serveAllClients === undefined ? {} : { serveAllClients: options.serveAllClients }),
    onClose: async () => {
      const closed = closeNetServer(netServer);
      try {
        // Remove the file only if it is still the socket we created.
        if (inode !== undefined && lstatSync(path).ino === inode) unlinkSync(path);
      } catch {
        // Already gone.
      }
      await closed;
    },
  });
  let privateDir: string | undefined;
  try {
    privateDir = makePrivateDir(path);
    const bound = join(privateDir, 's');
    await bind(netServer, { path: bound });
    chmodSync(bound, 0o600);
    inode = lstatSync(bound).ino;
    renameSync(bound, path);
  } catch (error) {
    await monitor.close();
    throw new ListenError(
      `cannot listen on ${path}: ${(error as Error).message}`,
      path,
      errnoCode(error),
      error,
    );
  } finally {
    if (privateDir !== undefined) removePrivateDir(privateDir);
  }
  return { monitor, address: path, close: () => monitor.close() };
}

function removePrivateDir(privateDir: string): void {
  try {
    unlinkSync(join(privateDir, 's'));
  } catch {
    // Renamed into place (or never bound).
  }
  try {
    rmdirSync(privateDir);
  } catch {
    // Nothing more we can do; the directory is private and empty.
  }
}

/** Listens on TCP, on loopback unless `host` says otherwise. */
export async function listenTcp(
  server: QmpServer,
  options: TcpListenOptions,
): Promise<QmpListener> {
  const host = options.host ?? '127.0.0.1';
  const wanted = host.includes(':') ? `[${host}]:${options.port}` : `${host}:${options.port}`;
  const netServer = makeNetServer(
    server,
    () => monitor,
    (socket) => `${socket.remoteAddress}:${socket.remotePort}`,
    options.wrapTransport,
  );
  const monitor = server.createMonitor({
    name: wanted,
    ...(options.serveAllClients === undefined ? {} : { serveAllClients: options.serveAllClients }),
    onClose: () => closeNetServer(netServer),
  });
  try {
    await bind(netServer, { host, port: options.port });
  } catch (error) {
    await monitor.close();
    throw new ListenError(
      `cannot listen on ${wanted}: ${(error as Error).message}`,
      wanted,
      errnoCode(error),
      error,
    );
  }
  const bound = netServer.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : options.port;
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  monitor.rename(address);
  return { monitor, address, port, close: () => monitor.close() };
}
