/**
 * Starting and stopping the bundled server. Only this package reads process.argv/env and exits;
 * the logic here takes its inputs as arguments so it can be tested in-process.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  BlockLayer,
  CLOCK_STEP_COMMAND,
  createSimulator,
  parseBlockdevArgument,
  qemuProfile,
  type SimClock,
  type Simulation,
  type SimulatorCommands,
  type SimulatorHandlers,
  VirtualClock,
  withClockStepCommand,
} from '@qmpkit/block-job-sim';
import { FsImageStore, nodeNbdListen } from '@qmpkit/block-job-sim/node';
import type { Transport } from '@qmpkit/protocol';
import * as qemu72 from '@qmpkit/qapi-types/7.2';
import * as qemu100 from '@qmpkit/qapi-types/10.0';
import { QmpServer } from '@qmpkit/server';
import { listenTcp, listenUnix, type QmpListener } from '@qmpkit/server/node';
import { FleetFaults, startFaults } from './faults/fault-app.js';
import { withFaultCommand } from './faults/spec.js';
import type { FaultExtensionCommands, FaultWire } from './faults/wire.js';
import { SharedBandwidth, slowestPace } from './fleet/bandwidth.js';
import { fleetVms, type RunningFleet, startFleetApp } from './fleet/fleet-app.js';
import type { DiskSpec } from './fleet/fleet-file.js';
import { type LintSession, startLint } from './lint/lint-app.js';
import type { MisuseLinter } from './lint/linter.js';
import { type LintExtensionCommands, lintHandlers, withLintCommand } from './lint/wire.js';
import {
  type ClockKind,
  DEFAULT_QEMU_VERSION,
  DEMO_SOCKET,
  HELP,
  type MonitorSpec,
  type ParsedCommandLine,
  PROGRAM,
  parseCommandLine,
  type QemuVersionOption,
  ServerUsageError,
} from './options.js';
import { type RunningReplay, startReplay } from './replay/replay-server.js';

/** This package's version (read from its package.json, next to src/ and dist/). */
export function appVersion(): string {
  // src/app.ts and dist/app.js both sit one level below the package root.
  const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/** The commands the bundled server can answer: QEMU's, the simulator's and the linter's. */
export type AppCommands = SimulatorCommands & FaultExtensionCommands & LintExtensionCommands;

/** What the app writes to. */
export interface AppIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** A running app. */
export interface RunningApp {
  readonly server: QmpServer<AppCommands>;
  readonly listeners: readonly QmpListener[];
  /** The simulated block layer and jobs behind the server. */
  readonly simulation: Simulation;
  /** Stops listening, ends sessions, removes socket files and the pidfile. */
  stop(): Promise<void>;
  /** The exit status once stopped: 1 with `--lint-fail` and findings, else 0. */
  exitCode(): number;
}

/** Opens the monitors in order; on failure closes what was opened and rethrows. */
export async function startMonitors(
  server: QmpServer,
  monitors: readonly MonitorSpec[],
  io: AppIo,
  options: {
    readonly serveAllClients?: boolean;
    readonly wrapTransport?: (transport: Transport) => Transport;
  } = {},
): Promise<QmpListener[]> {
  const listeners: QmpListener[] = [];
  const common = {
    serveAllClients: options.serveAllClients ?? false,
    ...(options.wrapTransport === undefined ? {} : { wrapTransport: options.wrapTransport }),
  };
  try {
    for (const spec of monitors) {
      const listener =
        spec.endpoint.kind === 'unix'
          ? await listenUnix(server, spec.endpoint.path, common)
          : await listenTcp(server, {
              host: spec.endpoint.host,
              port: spec.endpoint.port,
              ...common,
            });
      listeners.push(listener);
      io.stderr(
        `${PROGRAM}: listening on ${spec.endpoint.kind === 'unix' ? 'unix socket' : 'tcp'} ${listener.address}\n`,
      );
    }
  } catch (error) {
    await server.close();
    throw error;
  }
  return listeners;
}

/**
 * Each QEMU version's runtime schema. This bundle embeds them (and so is GPL-2.0-or-later, like
 * QEMU) and hands the chosen one to the MIT server and simulator, which never load it themselves.
 */
const QEMU_SCHEMAS = {
  '7.2': { schema: qemu72.qmpSchema, schemaExtras: qemu72.qmpSchemaExtras },
  '10.0': { schema: qemu100.qmpSchema, schemaExtras: qemu100.qmpSchemaExtras },
} as const satisfies Record<QemuVersionOption, unknown>;

/**
 * The simulator and the server in front of it. The virtual clock adds `x-qmpkit-clock-step` to
 * the schema; with the real clock the schema is exactly QEMU's.
 */
function createServer(
  simulation: Simulation,
  clock: ClockKind,
  version: string,
  io: AppIo,
  linter?: MisuseLinter,
  faults?: FaultWire,
  tap?: (event: string, data: unknown) => void,
): QmpServer<AppCommands> {
  const { [CLOCK_STEP_COMMAND]: _clockStep, ...qemuHandlers } = simulation.handlers;
  // The simulator offers x-qmpkit-clock-step on its virtual clock only; the schema says so.
  const simulated: SimulatorHandlers = clock === 'virtual' ? simulation.handlers : qemuHandlers;
  const profile = simulation.simulator.profile;
  const qemuSchema = QEMU_SCHEMAS[profile.version];
  let { schema, schemaExtras } =
    clock === 'virtual'
      ? withClockStepCommand(qemuSchema.schema, qemuSchema.schemaExtras)
      : qemuSchema;
  // Faults act on the simulator's handlers; the linter (outside them) sees what the client sent.
  const handlers = faults === undefined ? simulated : faults.wrapHandlers(simulated);
  if (faults !== undefined) ({ schema, schemaExtras } = withFaultCommand(schema, schemaExtras));
  // The linter watches from the handlers' side; x-qmpkit-lint joins the schema only with it.
  if (linter !== undefined) ({ schema, schemaExtras } = withLintCommand(schema, schemaExtras));
  const server = new QmpServer<AppCommands>({
    version: { qemu: profile.qemu, package: `qmpkit ${version}` },
    handlers: linter === undefined ? handlers : lintHandlers(handlers, linter),
    ...(faults === undefined
      ? {}
      : {
          onClientConnect: (c) => faults.clientConnected(c),
          aroundBuiltin: faults.aroundBuiltin,
        }),
    onClientDisconnect: (c) => {
      linter?.clientLeft(c.id);
      faults?.clientLeft(c);
    },
    schema,
    schemaExtras,
    log: (level, message) => {
      io.stderr(`${PROGRAM}: ${level === 'info' ? '' : `${level}: `}${message}\n`);
    },
    // qemu-storage-daemon leaving its main loop cancels every job before it exits; clients
    // see each job end before quit's reply and their connection's end.
    onQuit: () => {
      // The linter judges what clients left behind, not the jobs the server ends on its way out.
      linter?.finish();
      simulation.simulator.cancelAllJobs();
    },
  });
  simulation.setEventBroadcast((event, data) => {
    linter?.event(event, data);
    faults?.event(event, data);
    tap?.(event, data);
    server.emit(event, data);
  });
  return server;
}

/** One simulated VM: its block graph, its jobs, its QMP server on its monitors. */
export interface RunningVm {
  readonly server: QmpServer<AppCommands>;
  readonly listeners: readonly QmpListener[];
  readonly simulation: Simulation;
  /**
   * As qemu-storage-daemon on SIGTERM/SIGINT: every job cancelled, its events sent, then EOF;
   * the monitors close, socket files go.
   */
  stop(): Promise<void>;
}

/**
 * Opens a VM as the command line describes it, on `monitors`: block devices first, as QEMU opens
 * them while it processes its options (a monitor socket only appears once every --blockdev was
 * opened; relative file names are relative to the working directory, as QEMU's are). With
 * `clock`, the VM's jobs run on that shared clock.
 */
async function openVm(
  parsed: Extract<ParsedCommandLine, { action: 'serve' }>,
  monitors: readonly MonitorSpec[],
  io: AppIo,
  version: string,
  options: {
    readonly clock?: SimClock;
    readonly label?: string;
    readonly linter?: MisuseLinter;
    readonly faults?: FaultWire;
    readonly cwd: string;
    /** This VM's own disks (a fleet file's), opened after the command line's. */
    readonly disks?: readonly DiskSpec[];
    /** The storage bandwidth this VM's jobs share (with a fleet's other VMs), and its number. */
    readonly bandwidth?: { readonly shared: SharedBandwidth; readonly vm: number };
  },
): Promise<{ vm: RunningVm } | { error: string }> {
  const label = options.label === undefined ? '' : `${options.label}: `;
  const blockLayer = new BlockLayer({
    store: new FsImageStore(options.cwd),
    schema: QEMU_SCHEMAS[parsed.qemuVersion],
  });
  // A VM's own real clock is the simulator's (closed with it): several VMs can come and go in
  // one process (runCommandLine embedded) without leaving host timers behind.
  const clock = options.clock ?? (parsed.clock === 'virtual' ? new VirtualClock() : undefined);
  const simulation = createSimulator({
    blockLayer,
    profile: qemuProfile(parsed.qemuVersion),
    ...(clock === undefined ? {} : { clock }),
    throughput: parsed.throughput,
    onInternalError: (error) => io.stderr(`${PROGRAM}: ${label}internal error: ${String(error)}\n`),
    // A relative socket path is the VM's working directory's, as QEMU's is its own: VMs
    // embedded in one process (runCommandLine's `cwd`) must not share `./nbd.sock`.
    nbdListen: (address, listenOptions) =>
      nodeNbdListen(
        'path' in address ? { path: resolve(options.cwd, address.path) } : address,
        listenOptions,
      ),
  });
  const disks = [
    ...parsed.blockdevs.map((value) => ({ value, origin: '--blockdev' })),
    ...(options.disks ?? []),
  ];
  for (const { value, origin } of disks) {
    try {
      blockLayer.add(parseBlockdevArgument(value, blockLayer.schema));
    } catch (error) {
      simulation.close();
      return { error: `${label}${origin} ${value}: ${(error as Error).message}` };
    }
  }
  const { faults } = options;
  try {
    faults?.attachBlockLayer(blockLayer);
  } catch (error) {
    simulation.close();
    return { error: `${label}--fault: ${(error as Error).message}` };
  }
  const { bandwidth } = options;
  const paces = [faults?.pace, bandwidth?.shared.pace].filter((p) => p !== undefined);
  if (paces.length > 0) simulation.simulator.setPace(slowestPace(paces));
  faults?.attachSimulator(simulation.simulator);
  bandwidth?.shared.attach(simulation.simulator);
  const server = createServer(
    simulation,
    parsed.clock,
    version,
    io,
    options.linter,
    faults,
    bandwidth === undefined
      ? undefined
      : (event, data) => bandwidth.shared.event(bandwidth.vm, event, data),
  );
  void server.whenClosed.then(() => faults?.close());
  let listeners: QmpListener[];
  try {
    listeners = await startMonitors(server, monitors, io, {
      serveAllClients: parsed.serveAllClients,
      ...(faults === undefined ? {} : { wrapTransport: faults.wrapTransport }),
    });
  } catch (error) {
    simulation.close();
    return { error: `${label}${(error as Error).message}` };
  }
  const stop = async () => {
    simulation.simulator.cancelAllJobs();
    await server.close();
    simulation.close();
  };
  return { vm: { server, listeners, simulation, stop } };
}

/** Where an embedded server runs. */
export interface RunOptions {
  /**
   * The directory relative file names (`filename=disk.qcow2`) are relative to, as a process's
   * working directory is to QEMU's; default `process.cwd()`.
   */
  readonly cwd?: string;
}

/**
 * Runs the command line. Resolves to an exit code for `--help`/`--version`/errors, or to a
 * running app.
 */
export async function runCommandLine(
  args: readonly string[],
  io: AppIo,
  options: RunOptions = {},
): Promise<
  { exitCode: number } | { app: RunningApp } | { replay: RunningReplay } | { fleet: RunningFleet }
> {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(args);
  } catch (error) {
    if (error instanceof ServerUsageError) {
      io.stderr(`${error.message}\n`);
      if (error.message.includes('unrecognized option')) {
        io.stderr(`Try '${PROGRAM} --help' for more information.\n`);
      }
      return { exitCode: 1 };
    }
    throw error;
  }
  if (parsed.action === 'help') {
    io.stdout(HELP);
    return { exitCode: 0 };
  }
  const version = appVersion();
  const cwd = options.cwd ?? process.cwd();
  if (parsed.action === 'version') {
    io.stdout(
      `${PROGRAM} version ${version} (qmpkit; answers QMP like QEMU 7.2 or 10.0, default ${DEFAULT_QEMU_VERSION})\n`,
    );
    return { exitCode: 0 };
  }
  for (const warning of parsed.warnings) io.stderr(`${warning}\n`);
  if (parsed.replay !== undefined) return startReplayApp(parsed, parsed.replay, io);

  const shared =
    parsed.bandwidth === undefined
      ? undefined
      : new SharedBandwidth(parsed.bandwidth, (line) => io.stderr(`${PROGRAM}: ${line}\n`));
  const lint: LintSession | undefined =
    parsed.lint === undefined ? undefined : startLint(parsed.lint, io.stderr, PROGRAM);
  if (parsed.fleet !== undefined || parsed.fleetFile !== undefined) {
    let specs: ReturnType<typeof fleetVms>;
    let faults: FleetFaults | undefined;
    try {
      specs = fleetVms(parsed);
      // Faults in the fleet file alone turn them on (each VM then has x-qmpkit-fault).
      const options =
        parsed.faults ??
        (specs.some((vm) => vm.faults.length > 0)
          ? { seed: undefined, faults: [], files: [] }
          : undefined);
      faults = options === undefined ? undefined : FleetFaults.start(options, io.stderr);
    } catch (error) {
      shared?.close();
      io.stderr(`${PROGRAM}: ${(error as Error).message}\n`);
      return { exitCode: 1 };
    }
    return startFleetApp(
      parsed,
      specs,
      io,
      (spec, monitors, clock, label, index) =>
        openVm(parsed, monitors, io, version, {
          clock,
          label,
          cwd,
          disks: spec.disks,
          ...(lint === undefined ? {} : { linter: lint.linterFor(spec.name) }),
          ...(faults === undefined
            ? {}
            : { faults: faults.wireFor(index, spec.name, spec.faults) }),
          ...(shared === undefined ? {} : { bandwidth: { shared, vm: index } }),
        }),
      lint,
    );
  }

  let faults: FaultWire | undefined;
  try {
    faults = parsed.faults === undefined ? undefined : startFaults(parsed.faults, io.stderr);
  } catch (error) {
    io.stderr(`${PROGRAM}: ${(error as Error).message}\n`);
    return { exitCode: 1 };
  }
  const opened = await openVm(parsed, parsed.monitors, io, version, {
    cwd,
    ...(lint === undefined ? {} : { linter: lint.linter }),
    ...(faults === undefined ? {} : { faults }),
    ...(shared === undefined ? {} : { bandwidth: { shared, vm: 0 } }),
  });
  if ('error' in opened) {
    io.stderr(`${PROGRAM}: ${opened.error}\n`);
    return { exitCode: 1 };
  }
  const { server, listeners, simulation } = opened.vm;
  const { pidfile } = parsed;
  if (pidfile !== undefined) {
    try {
      writeFileSync(pidfile, `${process.pid}\n`);
    } catch (error) {
      await server.close();
      simulation.close();
      io.stderr(`${PROGRAM}: cannot write pidfile ${pidfile}: ${(error as Error).message}\n`);
      return { exitCode: 1 };
    }
  }
  if (parsed.demo) {
    const first = listeners[0]?.address ?? DEMO_SOCKET;
    const unix = parsed.monitors[0]?.endpoint.kind === 'unix';
    const target = unix ? `--socket ${first}` : `--tcp ${first}`;
    io.stdout(
      `qmpkit-server demo: QMP on ${listeners.map((l) => l.address).join(' and ')}, ` +
        `answering like QEMU ${parsed.qemuVersion}; ` +
        'disks disk0, disk1, disk2 (4 GiB each); jobs copy at 256 MiB/s.\n' +
        `  watch the jobs:    qmpkit jobs watch ${target}\n` +
        `  start a mirror:    qmpkit run mirror ${target} --device disk0 --target disk1 --complete\n` +
        `  a QMP shell:       qmpkit shell ${target}\n` +
        'Stop with Ctrl-C.\n',
    );
  }
  void server.whenClosed.then(() => {
    simulation.close();
    shared?.close();
    lint?.finish();
    if (pidfile !== undefined) rmSync(pidfile, { force: true });
  });
  const stop = async () => {
    // The linter judges what clients left behind first, not the jobs ended on the way out.
    lint?.judge();
    await opened.vm.stop();
    if (pidfile !== undefined) rmSync(pidfile, { force: true });
  };
  const exitCode = () => lint?.finish() ?? 0;
  return { app: { server, listeners, simulation, stop, exitCode } };
}

/** `--replay FILE`: a recording served on the monitors instead of the simulator. */
async function startReplayApp(
  parsed: { readonly monitors: readonly MonitorSpec[]; readonly pidfile: string | undefined },
  replay: { readonly file: string; readonly mode: 'strict' | 'tolerant' },
  io: AppIo,
): Promise<{ exitCode: number } | { replay: RunningReplay }> {
  let running: RunningReplay;
  try {
    running = await startReplay({
      ...replay,
      monitors: parsed.monitors,
      log: (line) => io.stderr(`${PROGRAM}: replay: ${line}\n`),
    });
  } catch (error) {
    io.stderr(`${PROGRAM}: ${(error as Error).message}\n`);
    return { exitCode: 1 };
  }
  for (const address of running.addresses) {
    io.stderr(`${PROGRAM}: listening on ${address}, replaying ${replay.file} (${replay.mode})\n`);
  }
  const { pidfile } = parsed;
  if (pidfile !== undefined) {
    try {
      writeFileSync(pidfile, `${process.pid}\n`);
    } catch (error) {
      await running.stop();
      io.stderr(`${PROGRAM}: cannot write pidfile ${pidfile}: ${(error as Error).message}\n`);
      return { exitCode: 1 };
    }
    void running.whenClosed.then(() => rmSync(pidfile, { force: true }));
  }
  return { replay: running };
}
