// What is specific to the simulator beyond QEMU's schema: which drivers it runs.

/** The drivers whose nodes this package simulates. */
export const SIMULATED_DRIVERS = ['null-co', 'file', 'raw', 'qcow2', 'blkdebug'] as const;
export type SimulatedDriver = (typeof SIMULATED_DRIVERS)[number];

export function isSimulatedDriver(name: string): name is SimulatedDriver {
  return (SIMULATED_DRIVERS as readonly string[]).includes(name);
}
