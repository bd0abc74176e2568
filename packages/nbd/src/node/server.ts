/** The NBD server on Node sockets: unix (private until bound) or TCP (loopback by default). */
import { createServer, type Server, type Socket } from 'node:net';
import type { NbdExportOptions } from '../export-table.js';
import { type NbdConnection, NbdServerCore, type NbdServerOptions } from '../server.js';
import { bindTcp, bindUnixPrivately, removeUnixSocket } from './listen.js';
import { socketStreams } from './socket-streams.js';

export type NbdListenAddress =
  | { readonly path: string }
  | { readonly host?: string; readonly port?: number };

export interface NbdListenOptions extends NbdServerOptions {
  /**
   * Most clients at once (QEMU's `max-connections`); default 100. With 1, the server stops
   * advertising NBD_FLAG_CAN_MULTI_CONN, as QEMU does.
   */
  readonly maxConnections?: number;
  /** A client that has not finished the handshake by then is dropped; default 10 s (QEMU 10's). */
  readonly handshakeTimeoutMs?: number;
}

/** Where a running server listens. */
export type NbdBoundAddress =
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number };

export class NbdServer {
  readonly address: NbdBoundAddress;
  readonly #core: NbdServerCore;
  readonly #net: Server;
  readonly #sockets = new Set<Socket>();
  readonly #unlink: () => Promise<void>;
  #closing: Promise<void> | undefined;

  private constructor(
    core: NbdServerCore,
    net: Server,
    address: NbdBoundAddress,
    unlink: () => Promise<void>,
  ) {
    this.#core = core;
    this.#net = net;
    this.address = address;
    this.#unlink = unlink;
  }

  /** Starts a server; no exports until `addExport`. */
  static async listen(
    address: NbdListenAddress,
    options: NbdListenOptions = {},
  ): Promise<NbdServer> {
    const maxConnections = options.maxConnections ?? 100;
    if (!Number.isInteger(maxConnections) || maxConnections < 1) {
      throw new RangeError('maxConnections must be a positive integer');
    }
    const core = new NbdServerCore({ canMultiConn: maxConnections !== 1, ...options });
    const handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
    let server: NbdServer | undefined;
    // Connections that arrive before the listen call returns wait here.
    const early: Socket[] = [];
    const net = createServer((socket) => {
      if (server === undefined) early.push(socket);
      else server.#accept(socket, handshakeTimeoutMs);
    });
    net.maxConnections = maxConnections;
    net.on('error', (error) => options.log?.('error', `NBD listener error: ${error.message}`));
    if ('path' in address) {
      const inode = await bindUnixPrivately(net, address.path);
      server = new NbdServer(core, net, { kind: 'unix', path: address.path }, () =>
        removeUnixSocket(address.path, inode),
      );
    } else {
      const host = address.host ?? '127.0.0.1';
      const port = await bindTcp(net, host, address.port ?? 0);
      server = new NbdServer(core, net, { kind: 'tcp', host, port }, async () => undefined);
    }
    for (const socket of early.splice(0)) server.#accept(socket, handshakeTimeoutMs);
    return server;
  }

  /** `nbd+unix:///NAME?socket=PATH` or `nbd://HOST:PORT/NAME`, as QEMU tools take it. */
  uri(exportName = ''): string {
    const name = encodeURIComponent(exportName);
    if (this.address.kind === 'unix') return `nbd+unix:///${name}?socket=${this.address.path}`;
    const host = this.address.host.includes(':') ? `[${this.address.host}]` : this.address.host;
    return `nbd://${host}:${this.address.port}/${name}`;
  }

  /** Adds an export (throws `ExportDefinitionError` with QEMU's words when refused). */
  addExport(options: NbdExportOptions): void {
    this.#core.addExport(options);
  }

  /** Removes an export, dropping its clients. */
  removeExport(name: string): Promise<boolean> {
    return this.#core.removeExport(name);
  }

  exportNames(): string[] {
    return this.#core.exportNames();
  }

  get connectionCount(): number {
    return this.#core.connectionCount;
  }

  /** Stops listening, drops every client and removes the socket file. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => this.#net.close(() => resolve()));
      await this.#core.close();
      for (const socket of this.#sockets) socket.destroy();
      await stopped;
      await this.#unlink();
    })();
    return this.#closing;
  }

  #accept(socket: Socket, handshakeTimeoutMs: number): NbdConnection | undefined {
    if (this.#closing !== undefined) {
      socket.destroy();
      return undefined;
    }
    socket.setNoDelay(true);
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    const { reader, writer } = socketStreams(socket);
    const connection = this.#core.serve(reader, writer);
    const timer = setTimeout(() => {
      if (connection.exportName === undefined) connection.close();
    }, handshakeTimeoutMs);
    timer.unref();
    void connection.done.then(() => {
      clearTimeout(timer);
      socket.destroy();
    });
    return connection;
  }
}
