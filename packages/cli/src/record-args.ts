/**
 * The command line of `qmpkit record` (kept apart from args.ts, which holds the client commands).
 */
import { parseArgs } from 'node:util';
import {
  CliUsageError,
  DEFAULT_CONNECT_TIMEOUT_MS,
  parseTcpAddress,
  type Target,
} from './args-common.js';

export interface RecordCommand {
  command: 'record';
  /** The QMP server to record. */
  upstream: Target;
  /** Where the proxy listens for clients. */
  listen: Target;
  /** The recording file (created or truncated, mode 0600). */
  out: string;
  connectTimeoutMs: number;
}

/** The help of `qmpkit record` (a function: args.ts and this module import each other). */
export function recordHelp(): string {
  return `Usage: qmpkit record (--socket PATH | --tcp HOST:PORT) (--listen PATH | --listen-tcp HOST:PORT)
                     --out FILE [--timeout MS]

Records QMP sessions: listens where a client expects QEMU, connects each client to the real
server, forwards every byte both ways unchanged, and writes every message with its direction and
a monotonic time to FILE (JSON Lines, format "qmpkit-recording" version 1; see the README).
Replay it with qmpkit-server --replay FILE. Each client gets its own connection to the server and
its own connection number in the recording.
Ctrl-C or SIGTERM stops recording: the file is flushed and closed, complete lines only (exit 0).

Options:
  --socket PATH        the QMP server to record, on a unix socket
  --tcp HOST:PORT      ... or on TCP; HOST defaults to 127.0.0.1
  --listen PATH        listen for clients on this unix socket (mode 0600; a stale one is replaced)
  --listen-tcp HOST:PORT
                       ... or on TCP; HOST defaults to 127.0.0.1 (loopback); port 0 picks one
  --out FILE           the recording to write (mode 0600, replaced if it exists)
  --timeout MS         how long to wait for the server when a client connects (default ${DEFAULT_CONNECT_TIMEOUT_MS})
  -h, --help           this help`;
}

function listenTcp(text: string): { host: string; port: number } {
  // Port 0 (pick a free one) is fine for a listener, unlike for --tcp.
  const zero = /^(?:(.*):)?0$/.exec(text);
  if (zero !== null) return { ...parseTcpAddress(`${zero[1] ?? ''}:1`), port: 0 };
  return parseTcpAddress(text);
}

/** `qmpkit record …` (the arguments after `record`). Throws `CliUsageError`. */
export function parseRecordCommand(
  argv: readonly string[],
): RecordCommand | { command: 'help'; text: string } {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        socket: { type: 'string' },
        tcp: { type: 'string' },
        listen: { type: 'string' },
        'listen-tcp': { type: 'string' },
        out: { type: 'string' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
      strict: true,
    }));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new CliUsageError(message.split('. ')[0]?.replace(/\.$/, '') ?? message, 'record');
  }
  if (values.help === true) return { command: 'help', text: recordHelp() };
  const one = (a: string, b: string, what: string): [string, string | undefined] => {
    const va = values[a] as string | undefined;
    const vb = values[b] as string | undefined;
    if (va !== undefined && vb !== undefined) {
      throw new CliUsageError(`give either --${a} or --${b}, not both`, 'record');
    }
    if (va === undefined && vb === undefined) {
      throw new CliUsageError(`say ${what}: --${a} or --${b}`, 'record');
    }
    if ((va ?? vb) === '')
      throw new CliUsageError(`--${va !== undefined ? a : b} needs a value`, 'record');
    return va !== undefined ? [a, va] : [b, vb];
  };
  const [upstreamKind, upstreamText] = one('socket', 'tcp', 'which server to record');
  const [listenKind, listenText] = one('listen', 'listen-tcp', 'where to listen for clients');
  const out = values.out as string | undefined;
  if (out === undefined || out === '') throw new CliUsageError('--out FILE is required', 'record');
  const upstream: Target =
    upstreamKind === 'socket' ? { path: upstreamText! } : parseTcpAddress(upstreamText!);
  const listen: Target = listenKind === 'listen' ? { path: listenText! } : listenTcp(listenText!);
  if ('path' in upstream && 'path' in listen && upstream.path === listen.path) {
    throw new CliUsageError('--listen must differ from --socket', 'record');
  }
  const timeout = values.timeout as string | undefined;
  let connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS;
  if (timeout !== undefined) {
    if (!/^\d+$/.test(timeout) || Number(timeout) < 1 || !Number.isSafeInteger(Number(timeout))) {
      throw new CliUsageError(`--timeout ${timeout}: expected a positive whole number`, 'record');
    }
    connectTimeoutMs = Number(timeout);
  }
  return { command: 'record', upstream, listen, out, connectTimeoutMs };
}

export interface NormalizeCommand {
  command: 'normalize';
  /** The recording to read. */
  file: string;
  ids: boolean;
  progress: boolean;
  tempDirs: string[];
}

/** The help of `qmpkit normalize`. */
export function normalizeHelp(): string {
  return `Usage: qmpkit normalize SESSION.qmp.jsonl [--ids] [--progress] [--temp-dir DIR ...]

Prints the normalized transcript of a recording made by qmpkit record: one line per message,
"→" from the client, "←" from the server, object keys sorted, with what differs from run to run
masked — event timestamps and the version's build string always; with --ids the command ids
(numbered by first appearance), with --progress job progress values, with --temp-dir every
occurrence of DIR in a string. Each connection starts with a "# connection N" line. Two sessions
that behaved the same print the same lines: keep one as a regression fixture, diff the next.

Options:
  --ids                number the command/reply ids instead of comparing them
  --progress           mask current-progress/total-progress and offset/len
  --temp-dir DIR       replace DIR by <tmp> wherever a string contains it (repeatable)
  -h, --help           this help`;
}

/** `qmpkit normalize …` (the arguments after `normalize`). Throws `CliUsageError`. */
export function parseNormalizeCommand(
  argv: readonly string[],
): NormalizeCommand | { command: 'help'; text: string } {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        ids: { type: 'boolean' },
        progress: { type: 'boolean' },
        'temp-dir': { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    }) as { values: Record<string, unknown>; positionals: string[] };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new CliUsageError(message.split('. ')[0]?.replace(/\.$/, '') ?? message, 'normalize');
  }
  const { values, positionals } = parsed;
  if (values.help === true) return { command: 'help', text: normalizeHelp() };
  if (positionals.length !== 1 || positionals[0] === '') {
    throw new CliUsageError('normalize needs one recording file', 'normalize');
  }
  return {
    command: 'normalize',
    file: positionals[0]!,
    ids: values.ids === true,
    progress: values.progress === true,
    tempDirs: (values['temp-dir'] as string[] | undefined) ?? [],
  };
}
