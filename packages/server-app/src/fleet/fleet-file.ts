/**
 * `--fleet-file FILE`: the VMs of a fleet by name, each with its own disks, as an orchestrator's
 * inventory describes them (a fleet of identical VMs is `--fleet N`). One statement per line:
 *
 * ```
 * # a comment (a whole line: a disk's options may hold '#')
 * vm web1
 *   disk null-co,node-name=os,size=10737418240
 * ```
 *
 * `vm NAME` starts a VM; each `disk BLOCKDEV` below it (the rest of the line, in --blockdev
 * syntax: key=value or JSON) is one of its disks, each `fault KIND,…` (--fault syntax) a fault
 * of its own, besides the command line's.
 *
 * Parsing is pure (the app reads the file, bounded); every error names the file and the line.
 */
import type { FaultSpec } from '../faults/spec.js';
import type { MonitorSpec } from '../options.js';

/** The largest fleet (each VM holds a few sockets' worth of file descriptors). */
export const MAX_FLEET = 10_000;
/** The largest fleet file read. */
export const MAX_FLEET_FILE_BYTES = 16 * 1024 * 1024;
/** The longest line (a disk in JSON syntax can be long). */
const MAX_LINE = 64 * 1024;
/** The most disks a VM of a fleet file may have. */
export const MAX_VM_DISKS = 256;
/**
 * A VM's name: it can stand in a socket path (`%n`) and a log line, so no `/`, no spaces, no
 * leading dot or dash; not `__proto__` or any name starting with `_`.
 */
const VM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A disk of a VM: the `--blockdev` value and where it was given, for messages. */
export interface DiskSpec {
  readonly value: string;
  /** `FILE:LINE` or `--blockdev VALUE`'s option. */
  readonly origin: string;
}

/** One VM of a fleet. */
export interface FleetVmSpec {
  /** Its name (`%n` in socket paths); a `--fleet N` VM's is its number. */
  readonly name: string;
  /** Its own disks, opened after the command line's `--blockdev` nodes. */
  readonly disks: readonly DiskSpec[];
  /** Its own faults, besides the command line's. */
  readonly faults: readonly FaultSpec[];
}

/** The most faults a VM of a fleet file may have of its own. */
export const MAX_VM_FAULTS = 64;

/** A fleet file that cannot be used; the message names the file and line. */
export class FleetFileError extends Error {
  override readonly name = 'FleetFileError';
}

/**
 * Parses a fleet file's text; `file` is the name used in messages, `parseFault` reads a
 * `fault` statement's value (--fault syntax; it throws with the reason).
 */
export function parseFleetFile(
  text: string,
  file: string,
  parseFault: (text: string) => FaultSpec,
): FleetVmSpec[] {
  const vms: { name: string; line: number; disks: DiskSpec[]; faults: FaultSpec[] }[] = [];
  const lineOf = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const where = `${file}:${i + 1}`;
    const fail = (message: string): never => {
      throw new FleetFileError(`${where}: ${message}`);
    };
    const raw = lines[i]!.endsWith('\r') ? lines[i]!.slice(0, -1) : lines[i]!;
    if (raw.length > MAX_LINE) fail(`line longer than ${MAX_LINE} characters`);
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const space = line.search(/\s/);
    const keyword = space < 0 ? line : line.slice(0, space);
    const rest = space < 0 ? '' : line.slice(space).trim();
    switch (keyword) {
      case 'vm': {
        if (!VM_NAME.test(rest)) {
          fail(
            `vm '${rest}': a VM's name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
          );
        }
        const earlier = lineOf.get(rest);
        if (earlier !== undefined) fail(`vm '${rest}' is already named on line ${earlier}`);
        if (vms.length === MAX_FLEET) fail(`more than ${MAX_FLEET} VMs`);
        lineOf.set(rest, i + 1);
        vms.push({ name: rest, line: i + 1, disks: [], faults: [] });
        break;
      }
      case 'disk': {
        const vm = vms.at(-1);
        if (vm === undefined) fail("'disk' before any 'vm' line: which VM is it for?");
        if (rest === '') fail("'disk' needs a block device, in --blockdev syntax");
        if (vm!.disks.length === MAX_VM_DISKS) {
          fail(`vm '${vm!.name}' has more than ${MAX_VM_DISKS} disks`);
        }
        vm!.disks.push({ value: rest, origin: `${where}: disk` });
        break;
      }
      case 'fault': {
        const vm = vms.at(-1);
        if (vm === undefined) fail("'fault' before any 'vm' line: which VM is it for?");
        if (rest === '') fail("'fault' needs a fault, in --fault syntax");
        if (vm!.faults.length === MAX_VM_FAULTS) {
          fail(`vm '${vm!.name}' has more than ${MAX_VM_FAULTS} faults`);
        }
        try {
          vm!.faults.push(parseFault(rest));
        } catch (error) {
          fail(`fault ${rest}: ${(error as Error).message}`);
        }
        break;
      }
      default:
        fail(
          `unknown statement '${keyword}' (expected 'vm NAME', 'disk BLOCKDEV' or 'fault KIND,...')`,
        );
    }
  }
  if (vms.length === 0) throw new FleetFileError(`${file}: no VMs (a 'vm NAME' line per VM)`);
  return vms.map(({ name, disks, faults }) => ({ name, disks, faults }));
}

/**
 * The monitors of VM `index` (named `name`) of a fleet: `%d` in socket paths is its number, `%n`
 * its name; TCP ports shift by its number (port 0 stays "any free port").
 */
export function fleetMonitors(
  monitors: readonly MonitorSpec[],
  index: number,
  name = String(index),
): MonitorSpec[] {
  return monitors.map((m) => ({
    origin: m.origin,
    endpoint:
      m.endpoint.kind === 'unix'
        ? {
            kind: 'unix',
            path: m.endpoint.path.replaceAll('%d', String(index)).replaceAll('%n', name),
          }
        : { ...m.endpoint, port: m.endpoint.port === 0 ? 0 : m.endpoint.port + index },
  }));
}

/**
 * Checks that the VMs' monitors can all open: no two VMs on one socket path, no port beyond
 * 65535. Returns the problem, or undefined.
 */
export function fleetMonitorProblem(
  monitors: readonly MonitorSpec[],
  vms: readonly FleetVmSpec[],
): string | undefined {
  for (const monitor of monitors) {
    const { endpoint } = monitor;
    if (endpoint.kind === 'tcp' && endpoint.port !== 0 && endpoint.port + vms.length - 1 > 65535) {
      return `${monitor.origin}: ports beyond 65535 for ${vms.length} VMs`;
    }
    if (
      endpoint.kind === 'unix' &&
      vms.length > 1 &&
      !endpoint.path.includes('%d') &&
      !endpoint.path.includes('%n')
    ) {
      return `${monitor.origin}: with ${vms.length} VMs the socket path needs '%d' (the VM's number) or '%n' (its name)`;
    }
  }
  return undefined;
}
