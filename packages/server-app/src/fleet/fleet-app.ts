/**
 * `--fleet N`: many simulated VMs in one process, each with its own block graph, jobs, QMP server
 * and monitors, all on one clock (one timer wheel for every job of the fleet). A `quit` ends its
 * own VM; the process ends when every VM has ended, or on SIGTERM/SIGINT.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { RealClock, type SimClock, VirtualClock } from '@qmpkit/block-job-sim';
import type { AppIo, RunningVm } from '../app.js';
import { fleetMonitors, type MonitorSpec, type ParsedCommandLine, PROGRAM } from '../options.js';

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

/** Opens one VM of the fleet on its monitors and the shared clock. */
export type OpenVm = (
  monitors: readonly MonitorSpec[],
  clock: SimClock,
  label: string,
  index: number,
) => Promise<{ vm: RunningVm } | { error: string }>;

/** Opens the VMs one after the other; on any failure closes those opened and fails. */
export async function startFleetApp(
  parsed: Extract<ParsedCommandLine, { action: 'serve' }>,
  count: number,
  io: AppIo,
  open: OpenVm,
): Promise<{ exitCode: number } | { fleet: RunningFleet }> {
  const clock = parsed.clock === 'virtual' ? new VirtualClock() : new RealClock();
  const closeClock = () => {
    if (clock instanceof RealClock) clock.close();
  };
  const vms: RunningVm[] = [];
  for (let index = 0; index < count; index++) {
    const opened = await open(fleetMonitors(parsed.monitors, index), clock, `vm ${index}`, index);
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
    if (pidfile !== undefined) rmSync(pidfile, { force: true });
  });
  return {
    fleet: {
      vms,
      whenClosed,
      stop: async () => {
        await Promise.all(vms.map((vm) => vm.stop()));
        await whenClosed;
      },
      abort: () => {
        for (const vm of vms) void vm.server.abort();
      },
      exitCode: () => 0,
    },
  };
}
