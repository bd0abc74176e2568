// The QAPI types this package reads and returns come from @qmpkit/qapi-types (QEMU 7.2's schema);
// this file adds what is specific to the simulator: which drivers it runs.

import { BlockdevDriver } from '@qmpkit/qapi-types';

/** The drivers whose nodes this package simulates. */
export const SIMULATED_DRIVERS = ['null-co', 'file', 'raw', 'qcow2', 'blkdebug'] as const;
export type SimulatedDriver = (typeof SIMULATED_DRIVERS)[number];

export function isBlockdevDriver(name: string): name is BlockdevDriver {
  return (BlockdevDriver as readonly string[]).includes(name);
}

export function isSimulatedDriver(name: string): name is SimulatedDriver {
  return (SIMULATED_DRIVERS as readonly string[]).includes(name);
}
