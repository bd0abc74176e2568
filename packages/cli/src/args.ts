/**
 * The command line of `qmpkit`: which command, which server, which options. Pure: reads only
 * the argument list it is given; help texts live here too.
 */

import { parseArgs } from 'node:util';
import type { CommandArgs } from '@qmpkit/client';
import { parseQemuSize } from '@qmpkit/protocol';
import type { MirrorSyncMode } from '@qmpkit/qapi-types/7.2';
import {
  CliUsageError,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_INTERVAL_MS,
  DEFAULT_TCP_HOST,
  parseTcpAddress,
  type Target,
} from './args-common.js';
import { type DashboardCommand, dashboardHelp, parseDashboard } from './dashboard-args.js';
import {
  type NormalizeCommand,
  normalizeHelp,
  parseNormalizeCommand,
  parseRecordCommand,
  type RecordCommand,
  recordHelp,
} from './record-args.js';

export type JobKind = 'mirror' | 'commit' | 'stream' | 'backup';
export const JOB_KINDS: readonly JobKind[] = ['mirror', 'commit', 'stream', 'backup'];

interface Common {
  target: Target;
  connectTimeoutMs: number;
}

export interface ShellCommand extends Common {
  command: 'shell';
  log: string | undefined;
  /** History file; undefined when history is off. */
  history: string | undefined;
  compact: boolean;
  /** Echo each command object before sending it (qmp-shell's -v). */
  verbose: boolean;
}

export interface ExecCommand extends Common {
  command: 'exec';
  name: string;
  /** The words after the command name: `key=value` pairs, or one JSON object. */
  words: string[];
  compact: boolean;
}

export interface JobsCommand extends Common {
  command: 'jobs';
  json: boolean;
}

export interface WatchCommand extends Common {
  command: 'watch';
  json: boolean;
  intervalMs: number;
  untilIdle: boolean;
  waitForJob: boolean;
}

/** The job-starting commands `run` sends, each with its arguments. */
export type RunJobStart =
  | { qmpCommand: 'blockdev-mirror'; args: CommandArgs<'blockdev-mirror'> }
  | { qmpCommand: 'blockdev-backup'; args: CommandArgs<'blockdev-backup'> }
  | { qmpCommand: 'block-commit'; args: CommandArgs<'block-commit'> }
  | { qmpCommand: 'block-stream'; args: CommandArgs<'block-stream'> };

export interface RunCommand extends Common {
  command: 'run';
  kind: JobKind;
  /** The QMP command that starts the job. */
  qmpCommand: RunJobStart['qmpCommand'];
  /** Its arguments (job-id always set). */
  args: RunJobStart['args'];
  jobId: string;
  /** What to do when the job is ready (mirror, active commit); undefined = stay ready. */
  onReady: 'complete' | 'soft-cancel' | undefined;
  json: boolean;
  intervalMs: number;
}

export interface HelpCommand {
  command: 'help';
  text: string;
}

export interface VersionCommand {
  command: 'version';
}

export type Invocation =
  | RecordCommand
  | NormalizeCommand
  | DashboardCommand
  | VersionCommand
  | ShellCommand
  | ExecCommand
  | JobsCommand
  | WatchCommand
  | RunCommand
  | HelpCommand;

type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>;

const TARGET_OPTIONS: OptionSpec = {
  socket: { type: 'string' },
  tcp: { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

const TARGET_HELP = `Server (one of):
  --socket PATH        QMP unix socket (qemu-storage-daemon --chardev socket,path=PATH,server=on)
  --tcp HOST:PORT      QMP TCP socket; HOST defaults to ${DEFAULT_TCP_HOST} (--tcp 4444)
  --timeout MS         connect, greeting and negotiation time limit (default ${DEFAULT_CONNECT_TIMEOUT_MS})
  -h, --help           this help`;

export const MAIN_HELP = `Usage: qmpkit <command> [options]

A command-line client for QEMU's QMP monitor (QEMU, qemu-storage-daemon, qmpkit-server).

Commands:
  shell                        interactive QMP shell (qmp-shell syntax), with history and completion
  exec COMMAND [key=value...]  run one command and print its reply as JSON
  jobs                         list the jobs: type, status, progress, speed, error
  jobs watch                   live job progress (bars on a terminal, NDJSON otherwise)
  run mirror|commit|stream|backup ...
                               start a block job, show its progress, wait for its end
  record --socket PATH --listen PATH --out FILE
                               record the QMP sessions of any client through a transparent proxy
  normalize SESSION.qmp.jsonl  a recording's normalized transcript (a regression fixture)
  dashboard                    a live web page of the jobs of one or more targets, with metrics

Every command takes --socket PATH or --tcp HOST:PORT, and --help. qmpkit --version prints the
version.
Exit codes: 0 success, 1 QEMU error, failed job or connection failure, 2 usage error,
130 interrupted (Ctrl-C).`;

const HELP: Record<string, string> = {
  shell: `Usage: qmpkit shell (--socket PATH | --tcp HOST:PORT) [options]

An interactive QMP shell in the style of QEMU's qmp-shell:
  command-name [key=value ...]      e.g.  job-pause id=m1
  nested keys with dots             e.g.  blockdev-add driver=null-co node-name=n0 size=1048576
                                          blockdev-add driver=raw node-name=r0 file.driver=file file.filename=/tmp/x
  values: numbers, true/false, null, JSON objects/arrays ({...}, [...]), else strings;
          a quoted value is always a string (id="1")
  a raw command object              e.g.  {"execute": "query-jobs"}
  transaction(                      one action per line, then ")" to send
Replies are pretty-printed, events are shown as they arrive. Tab completes command names,
argument names (nested too) and enum values from the server's query-qmp-schema.
Ctrl-D leaves (exit 0), Ctrl-C leaves (exit 130).

Options:
  --log FILE           append a transcript (NDJSON: every command sent, reply and event) to FILE
  --history FILE       history file (default $QMPKIT_HISTORY or ~/.qmpkit_history; 1000 lines)
  --no-history         keep no history file
  --compact            print replies on one line
  -v, --verbose        echo each command as the JSON object sent

${TARGET_HELP}`,
  exec: `Usage: qmpkit exec COMMAND [key=value ... | JSON] (--socket PATH | --tcp HOST:PORT)

Runs one QMP command and prints its return value as JSON on stdout. Arguments use the shell's
key=value syntax (see qmpkit shell --help), or one JSON object:
  qmpkit exec query-jobs --socket /run/qsd.sock
  qmpkit exec job-pause id=m1 --socket /run/qsd.sock
  qmpkit exec blockdev-add '{"driver": "null-co", "node-name": "n0"}' --socket /run/qsd.sock
When QEMU answers with an error, prints "<class>: <desc>" (QEMU's text) on stderr, exit 1.

Options:
  --compact            print the reply on one line

${TARGET_HELP}`,
  jobs: `Usage: qmpkit jobs [--json] (--socket PATH | --tcp HOST:PORT)
       qmpkit jobs watch [options]

Lists the jobs (query-jobs, with the speed limit from query-block-jobs): id, type, status,
progress, speed and error.

Options:
  --json               print a JSON array of {id, type, status, current, total, percent, speed, error}

${TARGET_HELP}`,
  watch: `Usage: qmpkit jobs watch [options] (--socket PATH | --tcp HOST:PORT)

Shows every job's progress live: status, a progress bar, percent, rate and ETA, driven by job
events and by query-jobs every --interval. The percentage never goes back when a job's total
grows (a ready mirror's does). On a terminal it draws bars; with --json, or when stdout is not a
terminal, it writes one JSON object per change (NDJSON; fields in the README).
Runs until Ctrl-C (exit 130), or with --until-idle until no job is active (exit 0).

Options:
  --json               NDJSON even on a terminal
  --interval MS        query-jobs period (default ${DEFAULT_INTERVAL_MS})
  --until-idle         exit 0 once no job is active (concluded jobs awaiting dismissal do not count)
  --wait-for-job       with --until-idle: wait for a first job before checking (start the watcher
                       before the job)

${TARGET_HELP}`,
  run: `Usage: qmpkit run mirror|commit|stream|backup [options] (--socket PATH | --tcp HOST:PORT)

Starts a block job, shows its progress, and waits for its end: exit 0 when it completed, 1 with
QEMU's error when it could not start or failed. Ctrl-C cancels the job (job-cancel), exit 130.
See qmpkit run <type> --help.`,
};

const RUN_HELP: Record<JobKind, string> = {
  mirror: `Usage: qmpkit run mirror --device NODE --target NODE [options]

blockdev-mirror: copies --device to --target, then stays ready (keeps them in sync) until you
say what to do: --complete switches to the target (job-complete); --cancel-on-ready leaves the
target as a copy without switching (block-job-cancel); with neither it stays ready until Ctrl-C.`,
  commit: `Usage: qmpkit run commit --device NODE [--top-node NODE] [--base-node NODE] [options]

block-commit: merges the images between --top-node and --base-node into --base-node. Committing
the active layer (no --top-node) becomes ready like a mirror: see --complete / --cancel-on-ready.`,
  stream: `Usage: qmpkit run stream --device NODE [--base-node NODE] [options]

block-stream: copies the data of the backing chain (down to --base-node) into --device.`,
  backup: `Usage: qmpkit run backup --device NODE --target NODE [--sync MODE] [options]

blockdev-backup: copies --device to --target (sync full by default).`,
};

const RUN_COMMON_HELP = `  --job-id ID          the job's id (default: the --device name)
  --speed N            speed limit in bytes/s, K/M/G/T suffixes allowed (10M); 0 = unlimited
  --json               write the job's changes as NDJSON (as jobs watch --json), then its outcome
  --interval MS        query-jobs period for the progress (default ${DEFAULT_INTERVAL_MS})`;

const RUN_OPTIONS: Record<JobKind, { spec: OptionSpec; help: string }> = {
  mirror: {
    spec: {
      device: { type: 'string' },
      target: { type: 'string' },
      sync: { type: 'string' },
      complete: { type: 'boolean' },
      'cancel-on-ready': { type: 'boolean' },
    },
    help: `  --device NODE        source node (required)
  --target NODE        target node (required; added beforehand with blockdev-add)
  --sync MODE          full (default), top or none
  --complete           when ready, complete: switch to the target (job-complete)
  --cancel-on-ready    when ready, finish without switching (block-job-cancel)`,
  },
  commit: {
    spec: {
      device: { type: 'string' },
      'top-node': { type: 'string' },
      'base-node': { type: 'string' },
      complete: { type: 'boolean' },
      'cancel-on-ready': { type: 'boolean' },
    },
    help: `  --device NODE        the chain's active node (required)
  --top-node NODE      the top of the range to commit (default: the active node)
  --base-node NODE     the node to commit into (default: the bottom of the chain)
  --complete           active commit: when ready, complete (job-complete)
  --cancel-on-ready    active commit: when ready, finish without switching (block-job-cancel)`,
  },
  stream: {
    spec: { device: { type: 'string' }, 'base-node': { type: 'string' } },
    help: `  --device NODE        the node to copy the data into (required)
  --base-node NODE     stop at this backing node (default: the whole chain)`,
  },
  backup: {
    spec: { device: { type: 'string' }, target: { type: 'string' }, sync: { type: 'string' } },
    help: `  --device NODE        source node (required)
  --target NODE        target node (required; same size as the source)
  --sync MODE          full (default), top or none`,
  },
};

const RUN_COMMON_SPEC: OptionSpec = {
  'job-id': { type: 'string' },
  speed: { type: 'string' },
  json: { type: 'boolean' },
  interval: { type: 'string' },
};

/** The help text of `command` (`shell`, `exec`, `jobs`, `watch`, `run`, `run mirror`, …). */
export function helpText(command?: string): string {
  if (command === undefined) return MAIN_HELP;
  if (command.startsWith('run ')) {
    const kind = command.slice(4) as JobKind;
    const options = RUN_OPTIONS[kind];
    if (options !== undefined) {
      return `${RUN_HELP[kind]}\n\nOptions:\n${options.help}\n${RUN_COMMON_HELP}\n\n${TARGET_HELP}`;
    }
  }
  if (command === 'record') return recordHelp();
  if (command === 'normalize') return normalizeHelp();
  if (command === 'dashboard') return dashboardHelp();
  return HELP[command] ?? MAIN_HELP;
}

/**
 * A byte count as QEMU reads one (qemu_strtosz: `1048576`, `512K`, `10M`, `1G`, `0x100000`), in
 * whole bytes: a fraction (`1.5M`) is refused, since QMP's `speed` is an integer.
 */
export function parseByteCount(text: string, option: string): number {
  const bytes = text.includes('.') ? undefined : parseQemuSize(text);
  if (bytes === undefined)
    throw new CliUsageError(`${option} ${text}: expected a number of bytes (e.g. 10M)`);
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CliUsageError(`${option} ${text}: too large`);
  }
  return Number(bytes);
}

function positiveInt(text: string | undefined, option: string, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new CliUsageError(`${option} ${text}: expected a positive whole number`);
  }
  return Number(text);
}

type Values = Record<string, string | boolean | undefined>;

function parse(
  args: readonly string[],
  spec: OptionSpec,
  command: string,
  allowPositionals: boolean,
): { values: Values; positionals: string[] } {
  try {
    const result = parseArgs({
      args: [...args],
      options: { ...TARGET_OPTIONS, ...spec },
      allowPositionals,
      strict: true,
    });
    return { values: result.values as Values, positionals: result.positionals };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // parseArgs explains '--' at length; the first sentence is what matters here.
    throw new CliUsageError(message.split('. ')[0]?.replace(/\.$/, '') ?? message, command);
  }
}

function common(values: Values, command: string): Common {
  const socket = values.socket as string | undefined;
  const tcp = values.tcp as string | undefined;
  if (socket !== undefined && tcp !== undefined) {
    throw new CliUsageError('give either --socket or --tcp, not both', command);
  }
  let target: Target;
  if (socket !== undefined) {
    if (socket === '') throw new CliUsageError('--socket needs a path', command);
    target = { path: socket };
  } else if (tcp !== undefined) {
    target = parseTcpAddress(tcp);
  } else {
    throw new CliUsageError(
      'say where the QMP server is: --socket PATH or --tcp HOST:PORT',
      command,
    );
  }
  const connectTimeoutMs = positiveInt(
    values.timeout as string | undefined,
    '--timeout',
    DEFAULT_CONNECT_TIMEOUT_MS,
  );
  return { target, connectTimeoutMs };
}

function required(values: Values, name: string, command: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') {
    throw new CliUsageError(`--${name} is required`, command);
  }
  return value;
}

/**
 * Reads the command line (without `node` and the script). `env` and `home` give the default
 * history file. Throws `CliUsageError`.
 */
export function parseCommandLine(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
  home = '',
): Invocation {
  const [first, ...rest] = argv;
  if (first === '--version' || first === '-V') return { command: 'version' };
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    const topic = first === 'help' ? rest.join(' ') || undefined : undefined;
    return { command: 'help', text: helpText(topic) };
  }
  switch (first) {
    case 'shell': {
      const { values, positionals } = parse(
        rest,
        {
          log: { type: 'string' },
          history: { type: 'string' },
          'no-history': { type: 'boolean' },
          compact: { type: 'boolean' },
          verbose: { type: 'boolean', short: 'v' },
        },
        'shell',
        true,
      );
      if (values.help === true) return { command: 'help', text: helpText('shell') };
      if (positionals.length > 0) {
        throw new CliUsageError(`unexpected argument '${positionals[0]}'`, 'shell');
      }
      const defaultHistory =
        env.QMPKIT_HISTORY ??
        (home === '' ? undefined : `${home.replace(/\/$/, '')}/.qmpkit_history`);
      return {
        command: 'shell',
        ...common(values, 'shell'),
        log: values.log as string | undefined,
        history:
          values['no-history'] === true
            ? undefined
            : ((values.history as string | undefined) ?? defaultHistory),
        compact: values.compact === true,
        verbose: values.verbose === true,
      };
    }
    case 'exec': {
      const { values, positionals } = parse(rest, { compact: { type: 'boolean' } }, 'exec', true);
      if (values.help === true) return { command: 'help', text: helpText('exec') };
      const [name, ...words] = positionals;
      if (name === undefined) throw new CliUsageError('exec needs a COMMAND', 'exec');
      return {
        command: 'exec',
        ...common(values, 'exec'),
        name,
        words,
        compact: values.compact === true,
      };
    }
    case 'jobs': {
      if (rest[0] === 'watch') {
        const { values, positionals } = parse(
          rest.slice(1),
          {
            json: { type: 'boolean' },
            interval: { type: 'string' },
            'until-idle': { type: 'boolean' },
            'wait-for-job': { type: 'boolean' },
          },
          'watch',
          true,
        );
        if (values.help === true) return { command: 'help', text: helpText('watch') };
        if (positionals.length > 0) {
          throw new CliUsageError(`unexpected argument '${positionals[0]}'`, 'watch');
        }
        return {
          command: 'watch',
          ...common(values, 'watch'),
          json: values.json === true,
          intervalMs: positiveInt(
            values.interval as string | undefined,
            '--interval',
            DEFAULT_INTERVAL_MS,
          ),
          untilIdle: values['until-idle'] === true,
          waitForJob: values['wait-for-job'] === true,
        };
      }
      const { values, positionals } = parse(rest, { json: { type: 'boolean' } }, 'jobs', true);
      if (values.help === true) return { command: 'help', text: helpText('jobs') };
      if (positionals.length > 0) {
        throw new CliUsageError(
          `unexpected argument '${positionals[0]}' (did you mean 'jobs watch'?)`,
          'jobs',
        );
      }
      return { command: 'jobs', ...common(values, 'jobs'), json: values.json === true };
    }
    case 'run':
      return parseRun(rest);
    case 'record':
      return parseRecordCommand(rest);
    case 'normalize':
      return parseNormalizeCommand(rest);
    case 'dashboard':
      return parseDashboard(rest);
    default:
      throw new CliUsageError(`unknown command '${first}'`);
  }
}

function parseRun(argv: readonly string[]): Invocation {
  const [kindText, ...rest] = argv;
  if (kindText === undefined || kindText === '-h' || kindText === '--help') {
    if (kindText === undefined)
      throw new CliUsageError('run needs a job type: mirror, commit, stream or backup', 'run');
    return { command: 'help', text: helpText('run') };
  }
  if (!(JOB_KINDS as readonly string[]).includes(kindText)) {
    throw new CliUsageError(
      `unknown job type '${kindText}' (mirror, commit, stream or backup)`,
      'run',
    );
  }
  const kind = kindText as JobKind;
  const name = `run ${kind}`;
  const { values, positionals } = parse(
    rest,
    { ...RUN_OPTIONS[kind].spec, ...RUN_COMMON_SPEC },
    name,
    true,
  );
  if (values.help === true) return { command: 'help', text: helpText(name) };
  if (positionals.length > 0)
    throw new CliUsageError(`unexpected argument '${positionals[0]}'`, name);
  const device = required(values, 'device', name);
  const jobId = (values['job-id'] as string | undefined) ?? device;
  const speed =
    values.speed === undefined ? {} : { speed: parseByteCount(values.speed as string, '--speed') };
  const named = (option: 'top-node' | 'base-node') =>
    values[option] === undefined ? {} : { [option]: values[option] as string };
  // The mode as the user wrote it: QEMU answers a mode it does not know with its own error.
  const sync = ((values.sync as string | undefined) ?? 'full') as MirrorSyncMode;
  let start: RunJobStart;
  switch (kind) {
    case 'mirror': {
      const target = required(values, 'target', name);
      const args = { 'job-id': jobId, device, ...speed, target, sync };
      start = { qmpCommand: 'blockdev-mirror', args };
      break;
    }
    case 'backup': {
      const target = required(values, 'target', name);
      const args = { 'job-id': jobId, device, ...speed, target, sync };
      start = { qmpCommand: 'blockdev-backup', args };
      break;
    }
    case 'commit':
      start = {
        qmpCommand: 'block-commit',
        args: { 'job-id': jobId, device, ...speed, ...named('top-node'), ...named('base-node') },
      };
      break;
    case 'stream':
      start = {
        qmpCommand: 'block-stream',
        args: { 'job-id': jobId, device, ...speed, ...named('base-node') },
      };
      break;
  }
  if (values.complete === true && values['cancel-on-ready'] === true) {
    throw new CliUsageError('give either --complete or --cancel-on-ready, not both', name);
  }
  const onReady =
    values.complete === true
      ? 'complete'
      : values['cancel-on-ready'] === true
        ? 'soft-cancel'
        : undefined;
  return {
    command: 'run',
    ...common(values, name),
    kind,
    qmpCommand: start.qmpCommand,
    args: start.args,
    jobId,
    onReady,
    json: values.json === true,
    intervalMs: positiveInt(
      values.interval as string | undefined,
      '--interval',
      DEFAULT_INTERVAL_MS,
    ),
  };
}
