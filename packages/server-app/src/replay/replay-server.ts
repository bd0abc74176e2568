/**
 * `qmpkit-server --replay FILE`: serves a recording made by `qmpkit record` on the monitors of
 * the command line. The n-th client to connect (on any monitor) is served the recording's n-th
 * connection; once every recorded connection was served, further clients are turned away.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { parseRecording } from '@qmpkit/protocol';
import { listenUnixPrivately, type PrivateUnixSocket, wrapSocket } from '@qmpkit/protocol/node';
import type { MonitorSpec } from '../options.js';
import { type ConnectionPlan, planReplay } from './plan.js';
import { type ReplayMode, ReplaySession } from './session.js';

export interface ReplayOptions {
  readonly file: string;
  readonly mode: ReplayMode;
  readonly monitors: readonly MonitorSpec[];
  /** One line to log (without newline). */
  readonly log: (line: string) => void;
}

/** A running replay. */
export interface RunningReplay {
  /** Where it listens: socket paths and `host:port` (with the port actually bound). */
  readonly addresses: readonly string[];
  /** Resolves once stopped. */
  readonly whenClosed: Promise<void>;
  /** Divergences answered so far, over all connections. */
  divergences(): number;
  /** Stops listening, ends the connections, removes the socket files. */
  stop(): Promise<void>;
}

function listenTcp(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      const bound = server.address();
      resolve(typeof bound === 'object' && bound !== null ? bound.port : port);
    });
  });
}

/** Reads the recording and listens; rejects with a one-line reason. */
export async function startReplay(options: ReplayOptions): Promise<RunningReplay> {
  let plans: ConnectionPlan[];
  try {
    plans = planReplay(parseRecording(readFileSync(options.file, 'utf8')));
  } catch (error) {
    throw new Error(`--replay ${options.file}: ${(error as Error).message}`);
  }
  if (plans.length === 0)
    throw new Error(`--replay ${options.file}: the recording has no connection`);
  const sessions = new Set<ReplaySession>();
  const sockets = new Set<Socket>();
  let next = 0;
  let divergences = 0;
  const origin = process.hrtime.bigint();
  const accept = (socket: Socket) => {
    const plan = plans[next];
    if (plan === undefined) {
      options.log(
        `a client connected after all ${plans.length} recorded connection(s) were served: closed`,
      );
      socket.destroy();
      return;
    }
    next++;
    options.log(`client ${next} connected: replaying recorded connection ${plan.conn}`);
    sockets.add(socket);
    const transport = wrapSocket(socket, { codec: 'server' });
    const session = new ReplaySession(transport, {
      plan,
      mode: options.mode,
      log: (line) => options.log(line),
      nowNs: () => Number(process.hrtime.bigint() - origin),
      wallMs: () => Date.now(),
    });
    sessions.add(session);
    const onclose = transport.onclose;
    transport.onclose = (cause) => {
      onclose?.(cause);
      divergences += session.divergences;
      sessions.delete(session);
      sockets.delete(socket);
      options.log(`client ${plans.indexOf(plan) + 1} left`);
    };
    session
      .start()
      .catch((error: Error) => options.log(`cannot start a session: ${error.message}`));
  };
  const servers: Server[] = [];
  const socketFiles: PrivateUnixSocket[] = [];
  const addresses: string[] = [];
  const closeAll = async () => {
    for (const session of sessions) session.stop();
    for (const socket of sockets) socket.destroy();
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    for (const file of socketFiles) file.remove();
  };
  try {
    for (const spec of options.monitors) {
      const server = createServer({ pauseOnConnect: true }, accept);
      server.on('error', (error) => options.log(`listener error: ${error.message}`));
      servers.push(server);
      if (spec.endpoint.kind === 'unix') {
        socketFiles.push(await listenUnixPrivately(server, spec.endpoint.path));
        addresses.push(spec.endpoint.path);
      } else {
        const { host, port } = spec.endpoint;
        const bound = await listenTcp(server, host, port).catch((error: Error) => {
          throw new Error(`cannot listen on ${host}:${port}: ${error.message}`);
        });
        addresses.push(host.includes(':') ? `[${host}]:${bound}` : `${host}:${bound}`);
      }
    }
  } catch (error) {
    await closeAll();
    throw error;
  }
  let resolveClosed: () => void = () => {};
  const whenClosed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });
  let stopping: Promise<void> | undefined;
  return {
    addresses,
    whenClosed,
    divergences: () => divergences + [...sessions].reduce((sum, s) => sum + s.divergences, 0),
    stop: () => {
      stopping ??= closeAll().then(resolveClosed);
      return stopping;
    },
  };
}
