/**
 * The dashboard's HTTP server: the page and its assets, the live stream (server-sent events),
 * `/metrics`, and the timeline exports — on one listener, loopback by default.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timelineRecords, timelineToOtel } from '@qmpkit/client';
import { type SocketTarget, socketTarget } from '@qmpkit/client/node';
import { DashboardHub } from '../hub.js';
import { METRICS_CONTENT_TYPE, renderMetrics } from '../metrics.js';
import { feedTarget } from './target-feed.js';

export interface DashboardTarget {
  /** Shown on the page and in metric labels (default: the socket path or HOST:PORT). */
  name?: string;
  /** A QMP Unix socket (`{ path }`) or TCP socket (`{ host, port }`). */
  target: SocketTarget;
}

export interface DashboardOptions {
  targets: readonly DashboardTarget[];
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 8080; 0 picks a free one). */
  port?: number;
  /** Listen on a non-loopback address; without it such a `host` is refused. */
  allowRemote?: boolean;
  /** `query-jobs` period (default 1000 ms). */
  pollIntervalMs?: number;
  connectTimeoutMs?: number;
  /** Pages connected to the live stream at once (default 16; more get 503). */
  maxClients?: number;
  /** Runs kept per target (default 1000), event log length (default 500). */
  maxJobs?: number;
  maxLog?: number;
  /** Status intervals a page keeps per job: the first and the newest (default 64). */
  maxIntervals?: number;
  /** A running job without progress this long is flagged stalled (default 10 000 ms). */
  stallAfterMs?: number;
  /** How often changes are pushed to the pages at most (default 50 ms). */
  flushIntervalMs?: number;
}

export interface Dashboard {
  /** `http://HOST:PORT/`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly hub: DashboardHub;
  /** Stops the feeds, ends the streams and closes the listener. */
  close(): Promise<void>;
}

/** Bytes a slow page may have unread before its stream is cut (it reconnects and starts over). */
const MAX_BUFFERED = 4 * 1024 * 1024;
const HEARTBEAT_MS = 15_000;

/** Whether `host` is a loopback address or name. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

function describe(target: SocketTarget): string {
  return 'path' in target ? target.path : `${target.host}:${target.port}`;
}

const PAGE_DIR = new URL('../../page/', import.meta.url);
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/format.js': { file: 'format.js', type: 'text/javascript; charset=utf-8' },
  '/dom.js': { file: 'dom.js', type: 'text/javascript; charset=utf-8' },
  '/timeline.js': { file: 'timeline.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/** Starts the dashboard: one feed per target and the HTTP listener. */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const host = options.host ?? '127.0.0.1';
  const loopback = isLoopback(host);
  if (!loopback && options.allowRemote !== true) {
    throw new Error(
      `refusing to listen on ${host}: not a loopback address (the dashboard shows every job and event of its targets; allow it explicitly)`,
    );
  }
  if (options.targets.length === 0) throw new Error('no QMP target given');
  const now = () => Date.now();
  const hub = new DashboardHub({
    ...(options.maxJobs === undefined ? {} : { maxJobs: options.maxJobs }),
    ...(options.maxLog === undefined ? {} : { maxLog: options.maxLog }),
    ...(options.maxIntervals === undefined ? {} : { maxIntervals: options.maxIntervals }),
    ...(options.stallAfterMs === undefined ? {} : { stallAfterMs: options.stallAfterMs }),
  });
  const names = options.targets.map((t) => t.name ?? describe(t.target));
  for (const name of names) hub.addTarget(name, now());

  const assets = new Map<string, { body: Buffer; type: string }>();
  for (const [path, { file, type }] of Object.entries(ASSETS)) {
    assets.set(path, { body: readFileSync(new URL(file, PAGE_DIR)), type });
  }

  const maxClients = options.maxClients ?? 16;
  const clients = new Set<ServerResponse>();
  const flushIntervalMs = options.flushIntervalMs ?? 50;
  let flushTimer: ReturnType<typeof setTimeout> | undefined;
  let lastFlush = Number.NEGATIVE_INFINITY;
  const flush = () => {
    flushTimer = undefined;
    lastFlush = performance.now();
    const update = hub.takeUpdate(now());
    if (update === undefined || clients.size === 0) return;
    const frame = `data: ${JSON.stringify(update)}\n\n`;
    for (const res of clients) send(res, frame);
  };
  // A change after a quiet spell goes out at once (after the events read with it); under a
  // flood, at most one update per interval carries everything that changed meanwhile.
  const scheduleFlush = () => {
    flushTimer ??= setTimeout(flush, Math.max(0, lastFlush + flushIntervalMs - performance.now()));
  };
  const send = (res: ServerResponse, frame: string) => {
    if (res.writableLength > MAX_BUFFERED) {
      clients.delete(res);
      res.destroy();
      return;
    }
    res.write(frame);
  };
  const heartbeat = setInterval(() => {
    for (const res of clients) send(res, ': keep-alive\n\n');
  }, HEARTBEAT_MS);

  const stop = new AbortController();
  const feeds = options.targets.map((t, i) =>
    feedTarget(hub, names[i] as string, socketTarget(t.target), {
      pollIntervalMs: options.pollIntervalMs ?? 1000,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      now,
      onChange: scheduleFlush,
      signal: stop.signal,
    }),
  );

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (loopback && !isLoopback(hostOf(req.headers.host))) {
      // A page from another site reaching us through DNS rebinding names its own host here.
      return plain(res, 403, 'forbidden: the dashboard answers loopback host names only\n');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return plain(res, 405, 'method not allowed\n');
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const asset = assets.get(path === '/index.html' ? '/' : path);
    if (asset !== undefined) {
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': asset.type });
      return res.end(req.method === 'HEAD' ? undefined : asset.body);
    }
    switch (path) {
      case '/events': {
        if (clients.size >= maxClients) {
          res.setHeader('retry-after', '5');
          return plain(res, 503, 'too many dashboard pages open\n');
        }
        res.writeHead(200, {
          ...SECURITY_HEADERS,
          'content-type': 'text/event-stream; charset=utf-8',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        res.write(`retry: 1000\n\ndata: ${JSON.stringify(hub.hello(now()))}\n\n`);
        clients.add(res);
        res.on('close', () => clients.delete(res));
        return;
      }
      case '/metrics':
        res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': METRICS_CONTENT_TYPE });
        return res.end(
          renderMetrics({ targets: hub.metricsView(now()), sseClients: clients.size }),
        );
      case '/timeline.ndjson': {
        res.writeHead(200, {
          ...SECURITY_HEADERS,
          'content-type': 'application/x-ndjson; charset=utf-8',
        });
        const lines = hub
          .timelines(now())
          .flatMap(({ target, jobs }) =>
            timelineRecords(jobs).map((r) => JSON.stringify({ target, ...r })),
          );
        return res.end(lines.map((line) => `${line}\n`).join(''));
      }
      case '/timeline.otlp.json': {
        const t = now();
        const resourceSpans = hub.timelines(t).flatMap(
          ({ target, jobs }) =>
            timelineToOtel(jobs, {
              now: t,
              traceSeed: target,
              resource: { 'qmpkit.target': target },
            }).resourceSpans,
        );
        res.writeHead(200, {
          ...SECURITY_HEADERS,
          'content-type': 'application/json; charset=utf-8',
        });
        return res.end(JSON.stringify({ resourceSpans }));
      }
      case '/favicon.ico':
        res.writeHead(204, SECURITY_HEADERS);
        return res.end();
      default:
        return plain(res, 404, 'not found\n');
    }
  };

  const server = createServer(handle);
  server.maxConnections = maxClients + 64;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: options.port ?? 8080, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${address.port}/`,
    host: address.address,
    port: address.port,
    hub,
    close() {
      closing ??= (async () => {
        stop.abort();
        clearInterval(heartbeat);
        if (flushTimer !== undefined) clearTimeout(flushTimer);
        for (const res of clients) res.end();
        clients.clear();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await Promise.all([closed, ...feeds]);
      })();
      return closing;
    },
  };
}

function hostOf(header: string | undefined): string {
  if (header === undefined) return '';
  const bracket = /^\[([^\]]+)\]/.exec(header);
  if (bracket !== null) return bracket[1] as string;
  return header.replace(/:\d+$/, '');
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
  res.end(text);
}
