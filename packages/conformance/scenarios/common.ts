// Building blocks shared by the scenario files: block node definitions and sizes.

export const MiB = 1024 * 1024;

/** A `null-co` node (no data, instant I/O unless `latency-ns` is given). */
export function nullCo(
  nodeName: string,
  size: number,
  extra: Record<string, unknown> = {},
): string {
  return JSON.stringify({ driver: 'null-co', 'node-name': nodeName, size, ...extra });
}

/** A qcow2 node over a file in the scenario directory; `backing: null` cuts the chain there. */
export function qcow2(
  nodeName: string,
  filename: string,
  extra: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    driver: 'qcow2',
    'node-name': nodeName,
    file: { driver: 'file', filename },
    ...extra,
  });
}

/** A blkdebug node over `image` (a node name) with error injection rules. */
export function blkdebug(
  nodeName: string,
  image: string,
  injectError: ReadonlyArray<Record<string, unknown>>,
): string {
  return JSON.stringify({
    driver: 'blkdebug',
    'node-name': nodeName,
    image,
    'inject-error': injectError,
  });
}
