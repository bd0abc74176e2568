/**
 * The command line of `qmpkit dashboard` and its help. Pure; the command itself is in
 * commands/dashboard.ts (loaded only when run).
 */
import { parseArgs } from 'node:util';
import type { DashboardTarget } from '@qmpkit/dashboard/node';
import {
  CliUsageError,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_INTERVAL_MS,
  parseTcpAddress,
} from './args-common.js';

export const DEFAULT_LISTEN = '127.0.0.1:8080';

export interface DashboardCommand {
  command: 'dashboard';
  targets: DashboardTarget[];
  listen: { host: string; port: number };
  allowRemote: boolean;
  intervalMs: number;
  connectTimeoutMs: number;
  stallAfterMs: number;
}

/** The help text (a function: args.ts and this module import each other). */
export function dashboardHelp(): string {
  return `Usage: qmpkit dashboard (--socket PATH | --tcp HOST:PORT)... [options]

Serves a live web page of the targets' block jobs: a progress bar, rate, ETA and status per job,
a timeline of every job seen (status bands over time, progress line), the event log, filters by
job type and status; plus Prometheus metrics at /metrics and the timeline as /timeline.ndjson and
/timeline.otlp.json. Give --socket or --tcp once per VM (one row group each). Prints the URL,
then runs until Ctrl-C or SIGTERM.

QEMU serves one client per monitor: give the dashboard a monitor of its own (a second
--chardev/--monitor pair), or run qmpkit-server with --serve-all-clients.

Options:
  --socket PATH        a QMP unix socket (repeatable)
  --tcp HOST:PORT      a QMP TCP socket (repeatable)
  --listen HOST:PORT   where the page is served (default ${DEFAULT_LISTEN}; port 0 picks one)
  --allow-remote       allow a --listen address that is not loopback (anyone who reaches it sees
                       every job and event; there is no authentication)
  --interval MS        query-jobs period (default ${DEFAULT_INTERVAL_MS})
  --stall-after MS     flag a running job without progress for this long (default 10000)
  --timeout MS         connect, greeting and negotiation time limit (default ${DEFAULT_CONNECT_TIMEOUT_MS})
  -h, --help           this help`;
}

function positiveInt(text: string | undefined, option: string, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new CliUsageError(`${option} ${text}: expected a positive whole number`, 'dashboard');
  }
  return Number(text);
}

/** Reads `qmpkit dashboard`'s arguments (after the word `dashboard`). */
export function parseDashboard(
  argv: readonly string[],
): DashboardCommand | { command: 'help'; text: string } {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; tokens: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, tokens: true, strict: true });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new CliUsageError(message.split('. ')[0]?.replace(/\.$/, '') ?? message, 'dashboard');
  }
  const { values, tokens } = parsed;
  if (values.help === true) return { command: 'help', text: dashboardHelp() };
  const targets: DashboardTarget[] = [];
  // In command-line order, so the page lists the VMs as given.
  for (const token of tokens) {
    if (token.kind !== 'option' || token.value === undefined) continue;
    if (token.name === 'socket') {
      if (token.value === '') throw new CliUsageError('--socket needs a path', 'dashboard');
      targets.push({ name: token.value, target: { path: token.value } });
    } else if (token.name === 'tcp') {
      const address = parseTcpAddress(token.value);
      targets.push({ name: `${address.host}:${address.port}`, target: address });
    }
  }
  if (targets.length === 0) {
    throw new CliUsageError(
      'say where the QMP server is: --socket PATH or --tcp HOST:PORT',
      'dashboard',
    );
  }
  const names = new Set<string>();
  for (const t of targets) {
    if (names.has(t.name as string))
      throw new CliUsageError(`${t.name} is given twice`, 'dashboard');
    names.add(t.name as string);
  }
  return {
    command: 'dashboard',
    targets,
    listen: parseListen(values.listen ?? DEFAULT_LISTEN),
    allowRemote: values['allow-remote'] === true,
    intervalMs: positiveInt(values.interval, '--interval', DEFAULT_INTERVAL_MS),
    connectTimeoutMs: positiveInt(values.timeout, '--timeout', DEFAULT_CONNECT_TIMEOUT_MS),
    stallAfterMs: positiveInt(values['stall-after'], '--stall-after', 10_000),
  };
}

const OPTIONS = {
  socket: { type: 'string', multiple: true },
  tcp: { type: 'string', multiple: true },
  listen: { type: 'string' },
  'allow-remote': { type: 'boolean' },
  interval: { type: 'string' },
  'stall-after': { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `HOST:PORT`, `[V6]:PORT` or `:PORT`/`PORT` (host 127.0.0.1); port 0 is allowed here. */
function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text) ?? /^()()(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (m === null || port > 65535) {
    throw new CliUsageError(
      `--listen ${text}: expected HOST:PORT (port 0 picks a free one)`,
      'dashboard',
    );
  }
  const host = m[1] ?? (m[2] === '' || m[2] === undefined ? '127.0.0.1' : m[2]);
  return { host, port };
}
