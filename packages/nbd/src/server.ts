/**
 * An NBD server without sockets: it owns the exports and serves connections handed to it as a
 * `ByteReader` / `ByteWriter` pair. `@qmpkit/nbd/node` puts it on unix and TCP sockets.
 */
import { type ByteReader, type ByteWriter, EndOfStreamError } from './byte-stream.js';
import { NBD_MAX_BUFFER_SIZE, NBD_MAX_REQUESTS } from './constants.js';
import { ExportTable, type NbdExportOptions, type ServedExport } from './export-table.js';
import { type NbdProfile, type NbdQemuVersion, nbdProfile } from './profile.js';
import { HandshakeError, HandshakeSession } from './server-handshake.js';
import { Disconnect, type TransmissionLimits, TransmissionSession } from './server-transmission.js';

export type NbdLogLevel = 'info' | 'warn' | 'error';

export interface NbdServerOptions {
  /** Whose behaviour to reproduce where QEMU versions differ; default '7.2'. */
  readonly qemuVersion?: NbdQemuVersion;
  /**
   * Advertise NBD_FLAG_CAN_MULTI_CONN, as QEMU does unless its server allows a single
   * connection (`max-connections: 1`, or `qemu-nbd` without `--shared`). Default true.
   */
  readonly canMultiConn?: boolean;
  /** Requests one client may have in flight; default 16, QEMU's bound. */
  readonly maxRequestsPerClient?: number;
  /** Read and write payload bytes one client may have in flight; default 64 MiB. */
  readonly maxInFlightBytesPerClient?: number;
  /** Where the server reports dropped clients and backend failures. */
  readonly log?: (level: NbdLogLevel, message: string) => void;
}

/** One client connection being served. */
export interface NbdConnection {
  /** Resolves when the connection is over (never rejects). */
  readonly done: Promise<void>;
  /** The export the client chose, once in the transmission phase. */
  readonly exportName: string | undefined;
  /** Tears the connection down. */
  close(): void;
}

class Connection implements NbdConnection {
  exportName: string | undefined;
  served: ServedExport | undefined;
  readonly done: Promise<void>;

  constructor(
    private readonly reader: ByteReader,
    private readonly writer: ByteWriter,
    run: (connection: Connection) => Promise<void>,
  ) {
    this.done = run(this);
  }

  close(): void {
    this.reader.end(new EndOfStreamError('the server closed the connection'));
    this.writer.close();
  }
}

export class NbdServerCore {
  readonly #table: ExportTable;
  readonly #connections = new Set<Connection>();
  readonly #limits: TransmissionLimits;
  readonly #log: (level: NbdLogLevel, message: string) => void;
  readonly #profile: NbdProfile;
  #closed = false;

  constructor(options: NbdServerOptions = {}) {
    this.#table = new ExportTable({ canMultiConn: options.canMultiConn ?? true });
    const maxRequests = options.maxRequestsPerClient ?? NBD_MAX_REQUESTS;
    const maxInFlightBytes = options.maxInFlightBytesPerClient ?? 2 * NBD_MAX_BUFFER_SIZE;
    if (!Number.isInteger(maxRequests) || maxRequests < 1) {
      throw new RangeError('maxRequestsPerClient must be a positive integer');
    }
    if (!Number.isInteger(maxInFlightBytes) || maxInFlightBytes < 1) {
      throw new RangeError('maxInFlightBytesPerClient must be a positive integer');
    }
    this.#limits = { maxRequests, maxInFlightBytes };
    this.#log = options.log ?? (() => undefined);
    this.#profile = nbdProfile(options.qemuVersion ?? '7.2');
  }

  /** Adds an export; throws `ExportDefinitionError` with QEMU's words when it is refused. */
  addExport(options: NbdExportOptions): void {
    this.#table.add(options);
  }

  /** Removes an export and drops its clients (as QEMU's `block-export-del` does). */
  async removeExport(name: string): Promise<boolean> {
    const served = this.#table.remove(name);
    if (served === undefined) return false;
    const dropped = [...this.#connections].filter((c) => c.served === served);
    for (const connection of dropped) connection.close();
    await Promise.all(dropped.map((c) => c.done));
    return true;
  }

  /** The exports' names, in the order NBD_OPT_LIST reports them. */
  exportNames(): string[] {
    return this.#table.list().map((e) => e.name);
  }

  /** Clients connected right now. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Serves one client over the given stream halves. */
  serve(reader: ByteReader, writer: ByteWriter): NbdConnection {
    const connection = new Connection(reader, writer, (c) => this.#run(c, reader, writer));
    if (this.#closed) connection.close();
    return connection;
  }

  /** Drops every client; resolves once they are gone. */
  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#connections];
    for (const connection of all) connection.close();
    await Promise.all(all.map((c) => c.done));
  }

  async #run(connection: Connection, reader: ByteReader, writer: ByteWriter): Promise<void> {
    this.#connections.add(connection);
    try {
      const handshake = await new HandshakeSession(
        reader,
        writer,
        this.#table,
        this.#profile,
      ).run();
      if (handshake.kind === 'aborted') return;
      connection.served = handshake.export;
      connection.exportName = handshake.export.name;
      if (this.#table.find(handshake.export.name) !== handshake.export) return; // removed meanwhile
      await new TransmissionSession(
        reader,
        writer,
        handshake.export,
        handshake.structured,
        handshake.extended,
        handshake.meta,
        this.#limits,
        this.#profile,
      ).run();
    } catch (error) {
      if (error instanceof HandshakeError) {
        this.#log('warn', `option negotiation failed: ${error.message}`);
      } else if (error instanceof Disconnect) {
        this.#log('warn', `Disconnect client, due to: ${error.message}`);
      } else if (!(error instanceof EndOfStreamError)) {
        this.#log(
          'error',
          `NBD client failed: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    } finally {
      this.#connections.delete(connection);
      writer.close();
    }
  }
}
