/**
 * `--fleet N` / `--fleet-file FILE`: many simulated VMs in one process, each with its own block
 * graph, jobs, QMP server and monitors, all on one clock (one timer wheel for every job of the
 * fleet). A `quit` ends its own VM; the process ends when every VM has ended, or on
 * SIGTERM/SIGINT.
 */
import { closeSync, fstatSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { RealClock, type SimClock, VirtualClock } from '@qmpkit/block-job-sim';
import type { AppIo, RunningVm } from '../app.js';
import { parseFaultOption } from '../faults/spec.js';
import type { LintSession } from '../lint/lint-app.js';
import { type MonitorSpec, type ParsedCommandLine, PROGRAM, splitQemuOpts } from '../options.js';
import {
  FleetFileError,
  type FleetVmSpec,
  fleetMonitorProblem,
  fleetMonitors,
  MAX_FLEET_FILE_BYTES,
  parseFleetFile,
} from './fleet-file.js';

/** A running fleet. */
export interface RunningFleet {
  readonly vms: readonly RunningVm[];
  /** Stops every VM (jobs cancelled, monitors closed), removes the pidfile. */
  stop(): Promise<void>;
  /** Cuts every client off at once (a second signal). */
  abort(): void;
  /** Resolves once every VM has ended. */
  readonly whenClosed: Promise<void>;
  exitCode(): number;
}

/** Opens one VM of the fleet (its number `index`) on its monitors and the shared clock. */
export type OpenVm = (
  vm: FleetVmSpec,
  monitors: readonly MonitorSpec[],
  clock: SimClock,
  label: string,
  index: number,
) => Promise<{ vm: RunningVm } | { error: string }>;

/**
 * The VMs the command line asks for: `--fleet N` (named by number, no disks of their own) or a
 * `--fleet-file` (read, bounded, and checked). Throws an Error naming the file at fault.
 */
export function fleetVms(
  parsed: Extract<ParsedCommandLine, { action: 'serve' }>,
): readonly FleetVmSpec[] {
  if (parsed.fleetFile === undefined) {
    return Array.from({ length: parsed.fleet ?? 1 }, (_, i) => ({
      name: String(i),
      disks: [],
      faults: [],
    }));
  }
  const file = parsed.fleetFile;
  let text: string;
  try {
    const fd = openSync(file, 'r');
    try {
      const { size } = fstatSync(fd);
      if (size > MAX_FLEET_FILE_BYTES) {
        throw new FleetFileError(`${file}: larger than ${MAX_FLEET_FILE_BYTES} bytes`);
      }
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    if (error instanceof FleetFileError) throw new Error(`--fleet-file ${error.message}`);
    throw new Error(`--fleet-file ${file}: ${(error as Error).message}`);
  }
  let vms: FleetVmSpec[];
  try {
    vms = parseFleetFile(text, file, (fault) => parseFaultOption(fault, splitQemuOpts));
  } catch (error) {
    if (error instanceof FleetFileError) throw new Error(`--fleet-file ${error.message}`);
    throw error;
  }
  const problem = fleetMonitorProblem(parsed.monitors, vms);
  if (problem !== undefined) throw new Error(`--fleet-file ${file}: ${problem}`);
  return vms;
}

/** Opens the VMs one after the other; on any failure closes those opened and fails. */
export async function startFleetApp(
  parsed: Extract<ParsedCommandLine, { action: 'serve' }>,
  specs: readonly FleetVmSpec[],
  io: AppIo,
  open: OpenVm,
  /** The linter of every VM (`--lint`): judged when the fleet stops, reported at exit. */
  lint?: LintSession,
): Promise<{ exitCode: number } | { fleet: RunningFleet }> {
  const count = specs.length;
  const clock = parsed.clock === 'virtual' ? new VirtualClock() : new RealClock();
  const closeClock = () => {
    if (clock instanceof RealClock) clock.close();
  };
  const vms: RunningVm[] = [];
  for (const [index, spec] of specs.entries()) {
    const monitors = fleetMonitors(parsed.monitors, index, spec.name);
    const opened = await open(spec, monitors, clock, `vm ${spec.name}`, index);
    if ('error' in opened) {
      await Promise.all(vms.map((vm) => vm.stop()));
      closeClock();
      io.stderr(`${PROGRAM}: ${opened.error}\n`);
      return { exitCode: 1 };
    }
    vms.push(opened.vm);
  }
  const { pidfile } = parsed;
  if (pidfile !== undefined) {
    try {
      writeFileSync(pidfile, `${process.pid}\n`);
    } catch (error) {
      await Promise.all(vms.map((vm) => vm.stop()));
      closeClock();
      io.stderr(`${PROGRAM}: cannot write pidfile ${pidfile}: ${(error as Error).message}\n`);
      return { exitCode: 1 };
    }
  }
  io.stderr(`${PROGRAM}: fleet of ${count} VMs running\n`);
  const whenClosed = Promise.all(vms.map((vm) => vm.server.whenClosed)).then(() => {
    for (const vm of vms) vm.simulation.close();
    closeClock();
    lint?.finish();
    if (pidfile !== undefined) rmSync(pidfile, { force: true });
  });
  return {
    fleet: {
      vms,
      whenClosed,
      stop: async () => {
        // The linter judges what clients left behind first, not the jobs ended on the way out.
        lint?.judge();
        await Promise.all(vms.map((vm) => vm.stop()));
        await whenClosed;
      },
      abort: () => {
        for (const vm of vms) void vm.server.abort();
      },
      exitCode: () => lint?.finish() ?? 0,
    },
  };
}
