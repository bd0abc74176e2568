// Image files for the drive-* commands: bdrv_img_create() of a new target, bdrv_open() of it as
// a node of its own, and dropping that node when its job goes away.

import type { BlockNode } from '../../block-layer.js';
import { generic, type JobFactory } from './context.js';

/** bdrv_img_create(): an empty image of `format`, optionally over a backing image. */
export function createImage(
  jobs: JobFactory,
  path: string,
  format: string,
  size: number,
  backing: BlockNode | undefined,
): void {
  const layer = jobs.layer;
  if (format !== 'raw' && format !== 'qcow2') {
    throw generic(`qmpkit does not simulate creating '${format}' images`);
  }
  layer.create({ driver: 'file', filename: path, size: format === 'raw' ? size : 0 });
  if (format === 'raw') return;
  // qcow2 is formatted through a node over the new file, as QEMU does, then let go.
  const helper = `qmpkit-create-${jobs.uniqueNumber()}`;
  layer.add({ driver: 'file', 'node-name': helper, filename: path });
  try {
    layer.create(
      {
        driver: 'qcow2',
        file: helper,
        size,
        ...(backing !== undefined
          ? {
              'backing-file': layer.blockDeviceInfo(backing, true).file,
              'backing-fmt': backing.driver as 'qcow2',
            }
          : {}),
      },
      { graphChanges: true },
    );
  } finally {
    layer.del(helper);
  }
}

/**
 * bdrv_open() of an image file for a drive-* target (its backing file is not opened). QEMU
 * names such a node `#blockNNN`; the simulated block layer only takes user-style names, so
 * without `node-name` it is `qmpkit-target-N`. Without a format, qcow2 is recognized by its
 * header, anything else is raw (probed once, as QEMU does).
 */
export function openImage(
  jobs: JobFactory,
  path: string,
  format: string | undefined,
  nodeName: string | undefined,
): BlockNode {
  const layer = jobs.layer;
  const name = nodeName ?? `qmpkit-target-${jobs.uniqueNumber()}`;
  const driver = format ?? layer.probeFormat(path);
  if (driver !== 'raw' && driver !== 'qcow2') {
    throw generic(`qmpkit does not simulate opening '${driver}' images`);
  }
  const file = { driver: 'file', filename: path } as const;
  layer.add(
    driver === 'qcow2'
      ? { driver, 'node-name': name, file, backing: null }
      : { driver, 'node-name': name, file },
  );
  return layer.lookupNode(name);
}

/** The drive-* target node goes away with its job (its last reference is dropped). */
export function closeImage(jobs: JobFactory, node: BlockNode): void {
  try {
    jobs.layer.del(node.nodeName);
  } catch {
    // Someone else uses it now (a node on top of it): it stays, as QEMU would keep it.
  }
}

/** bdrv_has_zero_init(): a new image reads as zeroes (qcow2, raw over a file; not null-co). */
export function hasZeroInit(node: BlockNode): boolean {
  switch (node.driver) {
    case 'qcow2':
    case 'file':
      return true;
    case 'raw':
      return node.file !== undefined && hasZeroInit(node.file);
    default:
      return false;
  }
}
