/**
 * qmpkit-server's command line: qemu-storage-daemon's own syntax for what it supports, so it
 * can replace the real binary in an existing test setup, plus two plain shortcuts.
 *
 * Options are processed in order, like QEMU's: `--monitor chardev=ID` must follow the
 * `--chardev` it names. Errors use QEMU's shape: `PROG: --option VALUE: what is wrong`.
 */

import { hasErrorMarker, parseQemuSize, stampErrorMarker } from '@qmpkit/protocol';
import { checkSeed, type FaultSpec, FaultSpecError, parseFaultOption } from './faults/spec.js';
import { fleetMonitorProblem, MAX_FLEET } from './fleet/fleet-file.js';

export const PROGRAM = 'qmpkit-server';

/** Where a monitor listens. */
export type Endpoint =
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number };

/** A monitor to start, in command-line order. */
export interface MonitorSpec {
  readonly endpoint: Endpoint;
  /** The option that defined it, for messages. */
  readonly origin: string;
}

/** Which clock the simulated jobs run on. */
export type ClockKind = 'real' | 'virtual';

/** The QEMU versions qmpkit-server can answer like (`--qemu-version`), oldest first. */
export const QEMU_VERSIONS = ['7.2', '10.0'] as const;
export type QemuVersionOption = (typeof QEMU_VERSIONS)[number];
/**
 * The version spoken without `--qemu-version`: the newest one every conformance scenario has been
 * verified on against the real qemu-storage-daemon of that version.
 */
export const DEFAULT_QEMU_VERSION: QemuVersionOption = '10.0';

/** The block devices the `--demo` configuration opens (QEMU `--blockdev` syntax). */
export const DEMO_BLOCKDEVS: readonly string[] = [
  'null-co,node-name=disk0,size=4294967296,read-zeroes=on',
  'null-co,node-name=disk1,size=4294967296,read-zeroes=on',
  'null-co,node-name=disk2,size=4294967296,read-zeroes=on',
];
/** The unix socket the `--demo` configuration listens on, in the working directory. */
export const DEMO_SOCKET = 'qmpkit.sock';
/** How fast an unthrottled demo job copies, so that a mirror takes long enough to watch. */
export const DEMO_THROUGHPUT = 256 * 1024 * 1024;

/** What `--lint`, `--lint-report`, `--lint-fail` and `--lint-poll-interval` ask for. */
export interface LintOptions {
  /** Write the findings there as JSON at exit. */
  readonly reportFile: string | undefined;
  /** Exit with status 1 when there are findings. */
  readonly fail: boolean;
  /** `query-jobs` / `query-block-jobs` closer together than this are `poll-too-fast`. */
  readonly minPollIntervalMs: number;
}

/** What `--fault`, `--faults` and `--fault-seed` ask for. */
export interface FaultOptions {
  /** `--fault-seed`; undefined: the first file's seed, else a random one (printed). */
  readonly seed: number | undefined;
  /** `--fault` values, in command-line order. */
  readonly faults: readonly FaultSpec[];
  /** `--faults` files, read at start-up (their faults come before the `--fault` ones). */
  readonly files: readonly string[];
}

export type ParsedCommandLine =
  | { readonly action: 'help' }
  | { readonly action: 'version' }
  | {
      readonly action: 'serve';
      readonly monitors: readonly MonitorSpec[];
      /** `--blockdev` values, in command-line order (opened before any monitor listens). */
      readonly blockdevs: readonly string[];
      readonly clock: ClockKind;
      /** The QEMU version to answer like: its schema, greeting and job behaviour. */
      readonly qemuVersion: QemuVersionOption;
      /** Bytes per second of an unthrottled job; Infinity: no simulated time. */
      readonly throughput: number;
      /** `--bandwidth`: bytes per second the jobs of every VM share; undefined: no budget. */
      readonly bandwidth: number | undefined;
      readonly pidfile: string | undefined;
      /** Serve every client of a monitor at once (QEMU serves one at a time). */
      readonly serveAllClients: boolean;
      readonly demo: boolean;
      /** `--replay FILE`: serve a `qmpkit record` recording instead of simulating. */
      readonly replay: { readonly file: string; readonly mode: 'strict' | 'tolerant' } | undefined;
      /** The misuse linter (`--lint` and the options that imply it); undefined when off. */
      readonly lint: LintOptions | undefined;
      /** `--fleet N`: how many VMs to simulate, each on its own monitors; undefined: one. */
      readonly fleet: number | undefined;
      /** `--fleet-file FILE`: the VMs (names, disks) to simulate, read at start-up. */
      readonly fleetFile: string | undefined;
      /** The fault plan (`--fault`, `--faults`, `--fault-seed`); undefined when off. */
      readonly faults: FaultOptions | undefined;
      readonly warnings: string[];
    };

/** A command-line mistake; `message` is the full line to print. */
export class ServerUsageError extends Error {
  override readonly name = 'ServerUsageError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    stampErrorMarker(this, 'ServerUsageError');
  }

  /** True for a ServerUsageError from any copy of this package (by its marker). */
  static isInstance(value: unknown): value is ServerUsageError {
    return hasErrorMarker(value, 'ServerUsageError');
  }
}

export const HELP = `Usage: ${PROGRAM} [options]
A QMP server that answers like qemu-storage-daemon 7.2 or 10.0 (qmpkit).

  -h, --help             display this help and exit
  -V, --version          output version information and exit

  --chardev socket,path=<path>,server=on,wait=off,id=<id>
  --chardev socket,host=<host>,port=<port>,server=on,wait=off,id=<id>
                         a listening socket for a monitor (qemu-storage-daemon syntax)
  --monitor [chardev=]<id>[,mode=control][,pretty=off]
                         serve QMP on that chardev

  --socket <path>        shortcut: a QMP monitor on a unix socket
  --tcp <host>:<port>    shortcut: a QMP monitor on TCP (host 127.0.0.1 for loopback)

  --blockdev <options>   a block node, as qemu-storage-daemon takes it (key=value or JSON):
                         null-co, file, raw, qcow2 and blkdebug nodes are simulated
  --qemu-version 7.2|10.0
                         the QEMU version to answer like (default ${DEFAULT_QEMU_VERSION}): its QMP
                         schema, greeting, query-version, and its job behaviour (10.0:
                         block-job-change, actively-synced, every graph change drains
                         every job)
  --clock real|virtual   the clock jobs run on (default real); with 'virtual', time moves
                         only when a client sends x-qmpkit-clock-step {"ns": N}
  --throughput <bytes>   how fast an unthrottled job copies, per second (suffixes K, M, G,
                         T); default: unlimited, so unthrottled jobs take no time, as on
                         QEMU's null-co
  --pidfile <path>       write the process id there once started; removed on exit
  --serve-all-clients    serve every client of a monitor at once; by default, as QEMU does,
                         a monitor serves one client and greets the next when it leaves
  --replay <file>        serve a session recorded by 'qmpkit record' instead of simulating:
                         the n-th client gets the recording's n-th connection
  --replay-mode strict|tolerant
                         strict (default): the client must send the recorded commands with
                         the recorded arguments, in order; tolerant: only the command names
                         must match, and events carry the current time. A divergence is
                         answered with a GenericError naming the expected command, and logged
  --lint                 watch the clients for job API misuse (concluded jobs never dismissed,
                         job-complete before READY, a failed job's error never read, the
                         start command's reply taken for the job's end, polling too fast, jobs
                         without job-id, deprecated commands); adds x-qmpkit-lint, which
                         returns the findings so far; a summary on stderr at exit
  --lint-report <file>   with --lint: write the findings as JSON there at exit
  --lint-fail            with --lint: exit status 1 when there are findings
  --lint-poll-interval <ms>
                         with --lint: the shortest polling interval allowed (default 100)
  --fault <kind>[,key=value...]
                         a seeded fault (repeatable): hold-greeting[,ms=N],
                         delay-reply,ms=N[,jitter=N][,command=C], events-first[,command=C],
                         drop,command=C | drop,job=ID,status=S, split[,pieces=N],
                         coalesce,ms=N, dismiss-race[,job=ID][,ms=N],
                         io-error,node=N,at=PERCENT[,errno=ENOSPC|EIO][,iotype=read|write]
                         [,count=1], slow-progress[,job=ID],rate=BYTES|percent=P,
                         stall-progress[,job=ID][,ms=N]; each also takes
                         probability=P and count=N; adds x-qmpkit-fault, which adds
                         faults and returns what fired
  --faults <file>        faults from a JSON file {"seed": N, "faults": [{"kind": ...}]}
  --fault-seed <n>       the seed of the faults' choices (default: random, printed on
                         stderr); the same seed and commands meet the same faults
  --fleet <n>            simulate n VMs (1-10000) in one process, each with its own block
                         graph (every --blockdev opened in each) and its own monitors: '%d'
                         in a socket path is the VM's number (0 to n-1); a TCP port p
                         becomes p+number (port 0: any free port for each)
  --fleet-file <file>    simulate the VMs a file names, each with its own disks: a line
                         'vm NAME' per VM, then a line 'disk BLOCKDEV' per disk (--blockdev
                         syntax) and 'fault KIND,...' per fault of its own; '%n' in a socket
                         path is the VM's name, '%d' its number. In a fleet, --lint and
                         faults watch each VM on its own (fault seed: the seed + VM number)
  --bandwidth <bytes>    storage bandwidth per second that the jobs of every VM share, in
                         equal parts (suffixes K, M, G, T)
  --demo                 the demo configuration: disks disk0, disk1 and disk2 (4 GiB null-co),
                         jobs copying at 256 MiB/s, every client served at once, and a
                         monitor on ./${DEMO_SOCKET} unless another monitor is given

Each monitor serves one client at a time, like QEMU's. Unix sockets are created with
mode 0600 and removed on exit. SIGINT, SIGTERM and the QMP command 'quit' stop the server.
`;

/** Splits QEMU's `key=value,...` syntax (`,,` is a literal comma). */
export function splitQemuOpts(text: string): [string, string | undefined][] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === ',') {
      if (text[i + 1] === ',') {
        current += ',';
        i++;
        continue;
      }
      parts.push(current);
      current = '';
      continue;
    }
    current += c;
  }
  parts.push(current);
  return parts.map((part) => {
    const eq = part.indexOf('=');
    return eq < 0 ? [part, undefined] : [part.slice(0, eq), part.slice(eq + 1)];
  });
}

function parseBool(value: string | undefined): boolean | undefined {
  if (value === undefined) return true; // a bare key means "on" in QemuOpts
  if (['on', 'yes', 'true', 'y'].includes(value)) return true;
  if (['off', 'no', 'false', 'n'].includes(value)) return false;
  return undefined;
}

interface Chardev {
  readonly id: string;
  readonly endpoint: Endpoint;
  used: boolean;
}

const OPTIONS_WITH_VALUE = new Set([
  '--chardev',
  '--clock',
  '--qemu-version',
  '--throughput',
  '--bandwidth',
  '--monitor',
  '--blockdev',
  '--socket',
  '--tcp',
  '--object',
  '--export',
  '--nbd-server',
  '--pidfile',
  '--replay',
  '--replay-mode',
  '--lint-report',
  '--lint-poll-interval',
  '--fault',
  '--faults',
  '--fault-seed',
  '--fleet',
  '--fleet-file',
  '--trace',
  '-T',
]);
const UNSUPPORTED = new Set([
  '--object',
  '--export',
  '--nbd-server',
  '--daemonize',
  '--trace',
  '-T',
]);

function fail(option: string, value: string, message: string): never {
  throw new ServerUsageError(`${PROGRAM}: ${option} ${value}: ${message}`);
}

function parsePort(option: string, value: string, port: string | undefined): number {
  if (port === undefined || !/^\d+$/.test(port) || Number(port) > 65535) {
    fail(option, value, `invalid port '${port ?? ''}'`);
  }
  return Number(port);
}

function parseChardev(value: string): Chardev {
  const option = '--chardev';
  const opts = splitQemuOpts(value);
  const [backend, backendValue] = opts[0] ?? ['', undefined];
  const kind = backendValue === undefined ? backend : undefined;
  const settings = new Map<string, string | undefined>();
  for (const [key, v] of backendValue === undefined ? opts.slice(1) : opts) {
    if (key === 'backend' && kind === undefined) {
      settings.set('backend', v);
      continue;
    }
    settings.set(key, v);
  }
  const type = kind ?? settings.get('backend');
  settings.delete('backend');
  const id = settings.get('id');
  if (id === undefined || id === '') fail(option, value, 'chardev: no id specified');
  if (type !== 'socket') {
    fail(option, value, `chardev backend '${type ?? ''}' is not supported (only 'socket' is)`);
  }
  const known = new Set(['id', 'path', 'host', 'port', 'server', 'wait', 'ipv4', 'ipv6']);
  for (const [key, v] of [...settings]) {
    // QemuOpts' deprecated short booleans: `server` means server=on, `nowait` means wait=off.
    if (v === undefined && !known.has(key) && key.startsWith('no') && known.has(key.slice(2))) {
      settings.delete(key);
      settings.set(key.slice(2), 'off');
      continue;
    }
    if (!known.has(key)) fail(option, value, `Invalid parameter '${key}'`);
  }
  const flag = (key: string, absent: boolean) =>
    settings.has(key) ? parseBool(settings.get(key)) : absent;
  const server = flag('server', false);
  if (server !== true) fail(option, value, 'only server=on sockets are supported');
  const wait = flag('wait', true);
  if (wait === undefined) fail(option, value, "Parameter 'wait' expects 'on' or 'off'");
  if (wait) fail(option, value, 'wait=on is not supported; use wait=off');
  const path = settings.get('path');
  const host = settings.get('host');
  if (path !== undefined) {
    if (host !== undefined || settings.has('port')) {
      fail(option, value, "'path' cannot be combined with 'host' or 'port'");
    }
    if (path === '') fail(option, value, "Parameter 'path' is empty");
    return { id, endpoint: { kind: 'unix', path }, used: false };
  }
  if (host === undefined) fail(option, value, 'chardev: socket: no host given');
  const port = parsePort(option, value, settings.get('port'));
  return { id, endpoint: { kind: 'tcp', host, port }, used: false };
}

function parseMonitor(value: string, chardevs: Map<string, Chardev>): MonitorSpec {
  const option = '--monitor';
  const opts = splitQemuOpts(value);
  let chardev: string | undefined;
  opts.forEach(([key, v], index) => {
    if (index === 0 && v === undefined) {
      chardev = key;
      return;
    }
    switch (key) {
      case 'chardev':
        chardev = v;
        break;
      case 'mode':
        if (v !== 'control') fail(option, value, 'only mode=control is supported');
        break;
      case 'pretty':
        if (parseBool(v) !== false) fail(option, value, 'pretty=on is not supported');
        break;
      case 'id':
        break;
      default:
        fail(option, value, `Invalid parameter '${key}'`);
    }
  });
  if (chardev === undefined || chardev === '')
    fail(option, value, "Parameter 'chardev' is missing");
  const found = chardevs.get(chardev);
  if (found === undefined) fail(option, value, `chardev "${chardev}" not found`);
  if (found.used) fail(option, value, `chardev "${chardev}" is already in use`);
  found.used = true;
  return { endpoint: found.endpoint, origin: `${option} ${value}` };
}

/** A byte count as QEMU reads one (qemu_strtosz: `256M`, `1.5G`, `0x1000`), above zero. */
function parseBytes(option: string, value: string): number {
  const bytes = parseQemuSize(value);
  if (bytes === undefined || bytes === 0n) {
    fail(option, value, 'expected a positive number of bytes (suffixes K, M, G, T)');
  }
  return Number(bytes);
}

/** What a fleet needs: a socket path per VM, and a single VM's extras left out. */
function checkFleet(
  count: number | undefined,
  monitors: readonly MonitorSpec[],
  others: {
    readonly demo: boolean;
    readonly replayFile: string | undefined;
  },
): void {
  if (others.replayFile !== undefined || others.demo) {
    throw new ServerUsageError(
      `${PROGRAM}: --fleet simulates VMs: --replay and --demo do not apply`,
    );
  }
  // A fleet file's size is known once it is read (fleetMonitorProblem then).
  if (count === undefined) return;
  const problem = fleetMonitorProblem(
    monitors,
    Array.from({ length: count }, (_, i) => ({ name: String(i), disks: [], faults: [] })),
  );
  if (problem !== undefined) {
    throw new ServerUsageError(`${PROGRAM}: --fleet ${count}: ${problem}`);
  }
}

/** Parses the arguments (without the program name). Throws `ServerUsageError`. */
export function parseCommandLine(args: readonly string[]): ParsedCommandLine {
  const chardevs = new Map<string, Chardev>();
  const monitors: MonitorSpec[] = [];
  const blockdevs: string[] = [];
  let clock: ClockKind = 'real';
  let qemuVersion: QemuVersionOption = DEFAULT_QEMU_VERSION;
  let throughput: number | undefined;
  let bandwidth: number | undefined;
  let pidfile: string | undefined;
  let serveAllClients = false;
  let demo = false;
  let replayFile: string | undefined;
  let replayMode: 'strict' | 'tolerant' | undefined;
  let lint = false;
  let lintReport: string | undefined;
  let lintFail = false;
  let lintPollMs = 100;
  let faultSeed: number | undefined;
  const faults: FaultSpec[] = [];
  const faultFiles: string[] = [];
  let faultsOn = false;
  let fleet: number | undefined;
  let fleetFile: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-h' || arg === '--help') return { action: 'help' };
    if (arg === '-V' || arg === '--version') return { action: 'version' };
    let option = arg;
    let value: string | undefined;
    if (arg.startsWith('--') && arg.includes('=')) {
      option = arg.slice(0, arg.indexOf('='));
      value = arg.slice(arg.indexOf('=') + 1);
    }
    if (!option.startsWith('-'))
      throw new ServerUsageError(`${PROGRAM}: ${arg}: Unexpected argument`);
    if (OPTIONS_WITH_VALUE.has(option) && value === undefined) {
      value = args[++i];
      if (value === undefined) {
        throw new ServerUsageError(`${PROGRAM}: option '${option}' requires an argument`);
      }
    }
    if (UNSUPPORTED.has(option)) {
      throw new ServerUsageError(
        `${PROGRAM}: ${value === undefined ? option : `${option} ${value}`}: not supported by ${PROGRAM}`,
      );
    }
    switch (option) {
      case '--chardev': {
        const chardev = parseChardev(value!);
        if (chardevs.has(chardev.id)) {
          fail(
            option,
            value!,
            `attempt to add duplicate property '${chardev.id}' to object (type 'container')`,
          );
        }
        chardevs.set(chardev.id, chardev);
        break;
      }
      case '--monitor':
        monitors.push(parseMonitor(value!, chardevs));
        break;
      case '--blockdev':
        if (value === '') fail(option, value, "Parameter 'driver' is missing");
        blockdevs.push(value!);
        break;
      case '--clock':
        if (value !== 'real' && value !== 'virtual') {
          fail(option, value!, "expected 'real' or 'virtual'");
        }
        clock = value;
        break;
      case '--qemu-version': {
        const version = QEMU_VERSIONS.find((v) => v === value);
        if (version === undefined) fail(option, value!, `expected ${QEMU_VERSIONS.join(' or ')}`);
        qemuVersion = version;
        break;
      }
      case '--throughput':
        throughput = parseBytes(option, value!);
        break;
      case '--bandwidth':
        bandwidth = parseBytes(option, value!);
        break;
      case '--pidfile':
        if (value === '') fail(option, value, 'empty path');
        pidfile = value;
        break;
      case '--serve-all-clients':
        if (value !== undefined) fail(option, value, 'takes no value');
        serveAllClients = true;
        break;
      case '--demo':
        if (value !== undefined) fail(option, value, 'takes no value');
        demo = true;
        break;
      case '--lint':
      case '--lint-fail':
        if (value !== undefined) fail(option, value, 'takes no value');
        lint = true;
        if (option === '--lint-fail') lintFail = true;
        break;
      case '--lint-report':
        if (value === '') fail(option, value, 'empty path');
        lint = true;
        lintReport = value;
        break;
      case '--lint-poll-interval':
        if (!/^\d+$/.test(value!) || Number(value) > 3_600_000) {
          fail(option, value!, 'expected a number of milliseconds');
        }
        lint = true;
        lintPollMs = Number(value);
        break;
      case '--fault':
        try {
          faults.push(parseFaultOption(value!, splitQemuOpts));
        } catch (error) {
          if (error instanceof FaultSpecError) fail(option, value!, error.message);
          throw error;
        }
        faultsOn = true;
        break;
      case '--faults':
        if (value === '') fail(option, value, 'empty path');
        faultFiles.push(value!);
        faultsOn = true;
        break;
      case '--fault-seed':
        try {
          faultSeed = checkSeed(/^\d+$/.test(value!) ? Number(value) : Number.NaN);
        } catch (error) {
          if (error instanceof FaultSpecError) fail(option, value!, error.message);
          throw error;
        }
        faultsOn = true;
        break;
      case '--fleet':
        if (!/^\d+$/.test(value!) || Number(value) < 1 || Number(value) > MAX_FLEET) {
          fail(option, value!, `expected a number of VMs from 1 to ${MAX_FLEET}`);
        }
        fleet = Number(value);
        break;
      case '--fleet-file':
        if (value === '') fail(option, value, 'empty path');
        fleetFile = value;
        break;
      case '--replay':
        if (value === '') fail(option, value, 'empty path');
        replayFile = value;
        break;
      case '--replay-mode':
        if (value !== 'strict' && value !== 'tolerant') {
          fail(option, value!, "expected 'strict' or 'tolerant'");
        }
        replayMode = value;
        break;
      case '--socket':
        if (value === '') fail(option, value, 'empty socket path');
        monitors.push({ endpoint: { kind: 'unix', path: value! }, origin: `${option} ${value}` });
        break;
      case '--tcp': {
        const colon = value!.lastIndexOf(':');
        if (colon <= 0) fail(option, value!, 'expected HOST:PORT');
        let host = value!.slice(0, colon);
        if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
        const port = parsePort(option, value!, value!.slice(colon + 1));
        monitors.push({ endpoint: { kind: 'tcp', host, port }, origin: `${option} ${value}` });
        break;
      }
      default:
        throw new ServerUsageError(`${PROGRAM}: unrecognized option '${arg}'`);
    }
  }
  const warnings = [...chardevs.values()]
    .filter((c) => !c.used)
    .map((c) => `${PROGRAM}: chardev "${c.id}" has no --monitor and is not opened`);
  if (demo && monitors.length === 0) {
    monitors.push({ endpoint: { kind: 'unix', path: DEMO_SOCKET }, origin: '--demo' });
  }
  if (replayMode !== undefined && replayFile === undefined) {
    throw new ServerUsageError(`${PROGRAM}: --replay-mode needs --replay FILE`);
  }
  if (replayFile !== undefined && lint) {
    throw new ServerUsageError(`${PROGRAM}: --lint watches the simulator's clients, not a replay`);
  }
  if (replayFile !== undefined && faultsOn) {
    throw new ServerUsageError(`${PROGRAM}: faults act on the simulator's clients, not a replay`);
  }
  if (replayFile !== undefined && (demo || blockdevs.length > 0)) {
    throw new ServerUsageError(
      `${PROGRAM}: --replay serves a recording: --demo and --blockdev do not apply`,
    );
  }
  if (replayFile !== undefined && bandwidth !== undefined) {
    throw new ServerUsageError(
      `${PROGRAM}: --replay serves a recording: --bandwidth does not apply`,
    );
  }
  if (fleet !== undefined && fleetFile !== undefined) {
    throw new ServerUsageError(`${PROGRAM}: --fleet and --fleet-file: give one or the other`);
  }
  if (fleet !== undefined || fleetFile !== undefined) {
    checkFleet(fleet, monitors, { demo, replayFile });
  }
  if (monitors.length === 0) {
    throw new ServerUsageError(
      `${PROGRAM}: no monitor given (use --chardev with --monitor, --socket or --tcp; see --help)`,
    );
  }
  return {
    action: 'serve',
    monitors,
    blockdevs: demo ? [...DEMO_BLOCKDEVS, ...blockdevs] : blockdevs,
    clock,
    qemuVersion,
    throughput: throughput ?? (demo ? DEMO_THROUGHPUT : Number.POSITIVE_INFINITY),
    bandwidth,
    pidfile,
    serveAllClients: serveAllClients || demo,
    demo,
    replay:
      replayFile === undefined ? undefined : { file: replayFile, mode: replayMode ?? 'strict' },
    lint: lint
      ? { reportFile: lintReport, fail: lintFail, minPollIntervalMs: lintPollMs }
      : undefined,
    fleet,
    fleetFile,
    faults: faultsOn ? { seed: faultSeed, faults, files: faultFiles } : undefined,
    warnings,
  };
}
