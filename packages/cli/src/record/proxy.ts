/**
 * The recording proxy behind `qmpkit record`: it listens where clients expect QEMU, opens a
 * connection to the real QEMU for each client that connects, and forwards bytes both ways
 * exactly as they come — same bytes, same chunks, same half-closes — while a copy of each chunk
 * is cut into messages (`FrameTap`) and written to the recording.
 *
 * Why plain sockets rather than `@qmpkit/protocol/node`'s transports: a transport decodes and
 * re-encodes messages, and a recorder must not change one byte; protocol's reader is used on the
 * copy instead.
 *
 * Each client gets its own connection to QEMU and its own connection number in the recording,
 * so QEMU's own rules apply unchanged: a monitor serves one client at a time, and a second
 * client of the proxy waits for its greeting exactly as it would waiting on QEMU.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { listenUnixPrivately, type PrivateUnixSocket } from '@qmpkit/protocol/node';
import type { Target } from '../args-common.js';
import { type Frame, FrameTap } from './frame-tap.js';
import type { RecordFile } from './record-file.js';

export interface ProxyOptions {
  /** The QMP server to record (QEMU, qemu-storage-daemon, qmpkit-server). */
  readonly upstream: Target;
  /** Where clients connect. */
  readonly listen: Target;
  readonly file: RecordFile;
  /** Give up connecting to the upstream after this long (the client is then disconnected). */
  readonly connectTimeoutMs: number;
  /** One line of news (a client came, went, an upstream failure), without the newline. */
  readonly log: (line: string) => void;
}

/** How a target is named in messages and in the recording's header. */
export function describeTarget(target: Target): string {
  if ('path' in target) return `unix:${target.path}`;
  return target.host.includes(':')
    ? `tcp:[${target.host}]:${target.port}`
    : `tcp:${target.host}:${target.port}`;
}

function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function listen(server: Server, target: { path: string } | { host: string; port: number }) {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(target, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** One client and its connection to the upstream. */
class Connection {
  private readonly fromClient = new FrameTap('client');
  private readonly fromServer = new FrameTap('server');
  private closedBy: 'client' | 'server' | 'proxy' | undefined;
  private open = 2;
  private resolveFinished: () => void = () => {};
  /** Both sides closed and the closing line written. */
  readonly finished = new Promise<void>((resolve) => {
    this.resolveFinished = resolve;
  });

  constructor(
    readonly id: number,
    private readonly client: Socket,
    private readonly upstream: Socket,
    private readonly file: RecordFile,
    private readonly done: (connection: Connection) => void,
  ) {
    this.pipe(client, upstream, this.fromClient, 'client');
    this.pipe(upstream, client, this.fromServer, 'server');
    client.resume();
    upstream.resume();
  }

  /** Ends both sides now (the recorder is stopping). */
  stop(): void {
    this.closedBy ??= 'proxy';
    this.client.destroy();
    this.upstream.destroy();
  }

  private pipe(from: Socket, to: Socket, tap: FrameTap, side: 'client' | 'server'): void {
    const dir = side === 'client' ? 'in' : 'out';
    const record = (frames: Frame[]) => {
      for (const frame of frames) {
        if (frame.kind === 'message') this.file.message(this.id, dir, frame.msg, frame.raw);
        else if (frame.kind === 'error') {
          const t = this.file.now();
          this.file.entry({ t, conn: this.id, dir, error: frame.error, raw: frame.raw });
        } else this.file.entry({ t: this.file.now(), conn: this.id, dir, raw: frame.raw });
      }
    };
    from.on('data', (chunk: Buffer) => {
      // Forward first, as it came; record the copy.
      if (!to.destroyed && !to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
      record(tap.push(chunk));
    });
    from.on('end', () => {
      this.closedBy ??= side;
      record(tap.end());
      // Pass the half-close on: QEMU answers what it has and then closes too.
      if (!to.destroyed) to.end();
    });
    from.on('error', () => {
      this.closedBy ??= side;
      to.destroy();
    });
    from.on('close', () => {
      record(tap.end());
      this.closedBy ??= side;
      // A side that is gone for good takes the other with it once its output is flushed.
      if (!to.destroyed) to.end(() => to.destroy());
      if (--this.open === 0) {
        this.file.entry({
          t: this.file.now(),
          conn: this.id,
          state: 'closed',
          by: this.closedBy,
        });
        this.done(this);
        this.resolveFinished();
      }
    });
  }
}

export class RecordingProxy {
  private connections = new Set<Connection>();
  private count = 0;
  private stopping = false;
  private socketFile: PrivateUnixSocket | undefined;

  private constructor(
    private readonly options: ProxyOptions,
    private readonly server: Server,
    /** Where it listens, with the port actually bound. */
    readonly address: Target,
  ) {}

  /** Starts listening; rejects with a one-line reason when it cannot. */
  static async start(options: ProxyOptions): Promise<RecordingProxy> {
    let proxy: RecordingProxy | undefined;
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) =>
      proxy?.accept(socket),
    );
    server.on('error', (error) => options.log(`listener error: ${error.message}`));
    if ('path' in options.listen) {
      const socketFile = await listenUnixPrivately(server, options.listen.path);
      proxy = new RecordingProxy(options, server, options.listen);
      proxy.socketFile = socketFile;
      return proxy;
    }
    const { host, port } = options.listen;
    await listen(server, { host, port }).catch((error: Error) => {
      throw new Error(`cannot listen on ${describeTarget(options.listen)}: ${error.message}`);
    });
    const bound = server.address();
    const actual = typeof bound === 'object' && bound !== null ? bound.port : port;
    proxy = new RecordingProxy(options, server, { host, port: actual });
    return proxy;
  }

  /** Connections served so far. */
  get served(): number {
    return this.count;
  }

  /** Stops listening, ends every connection (recorded as closed by the proxy), removes the socket. */
  async close(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const finished = [...this.connections].map((connection) => {
      connection.stop();
      return connection.finished;
    });
    this.socketFile?.remove();
    await Promise.all([closed, ...finished]);
  }

  private accept(client: Socket): void {
    if (this.stopping) {
      client.destroy();
      return;
    }
    const id = ++this.count;
    const { file, log } = this.options;
    const peer =
      client.remoteAddress === undefined
        ? 'unix client'
        : `${client.remoteAddress}:${client.remotePort}`;
    file.entry({ t: file.now(), conn: id, state: 'open', peer });
    log(`client ${id} connected (${peer})`);
    const upstream = connect({ ...this.options.upstream, allowHalfOpen: true });
    upstream.pause();
    const timer = setTimeout(
      () => upstream.destroy(new Error('connection timed out')),
      this.options.connectTimeoutMs,
    );
    const fail = (error: Error) => {
      clearTimeout(timer);
      const code = errnoCode(error);
      log(
        `client ${id}: cannot connect to ${describeTarget(this.options.upstream)}: ${code === undefined ? error.message : `${code}: ${error.message}`}; disconnecting the client`,
      );
      file.entry({ t: file.now(), conn: id, state: 'closed', by: 'server' });
      client.destroy();
    };
    upstream.once('error', fail);
    upstream.once('connect', () => {
      clearTimeout(timer);
      upstream.off('error', fail);
      if (this.stopping) {
        file.entry({ t: file.now(), conn: id, state: 'closed', by: 'proxy' });
        client.destroy();
        upstream.destroy();
        return;
      }
      const connection = new Connection(id, client, upstream, file, (c) => {
        this.connections.delete(c);
        log(`client ${id} left`);
      });
      this.connections.add(connection);
    });
    client.on('error', () => {
      // Reported through 'close' once connected; before that, the upstream attempt is dropped.
    });
    client.once('close', () => {
      if (!upstream.connecting) return;
      // The client left before the upstream answered: nothing was exchanged.
      clearTimeout(timer);
      upstream.off('error', fail);
      upstream.destroy();
      file.entry({ t: file.now(), conn: id, state: 'closed', by: 'client' });
      log(`client ${id} left`);
    });
  }
}
