// The README's example, run as written (in a temporary directory instead of process.cwd()).
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { BlockLayer, jobBlockerReason, parseBlockdevArgument } from '../src/index.js';
import { FsImageStore } from '../src/node/index.js';
import { qemuSchema } from '../src/qemu-schema.test-helper.js';

test('the README example', () => {
  const dir = mkdtempSync(join(tmpdir(), 'block-job-sim-readme-'));
  try {
    const layer = new BlockLayer({ store: new FsImageStore(dir), schema: qemuSchema });
    layer.create({ driver: 'file', filename: 'disk.qcow2', size: 0 });
    layer.add({ driver: 'file', filename: 'disk.qcow2', 'node-name': 'disk-file' });
    layer.create({ driver: 'qcow2', file: 'disk-file', size: 64 * 1024 * 1024 });
    layer.add(parseBlockdevArgument('qcow2,node-name=disk,file=disk-file', layer.schema));
    const [disk] = layer.queryNamedBlockNodes();
    expect([disk?.['node-name'], disk?.image['virtual-size']]).toEqual(['disk', 67108864]);
    const release = layer.block(layer.lookupNode('disk'), jobBlockerReason('stream'));
    expect(() => layer.del('disk')).toThrow(
      "Node 'disk' is busy: block device is in use by block job: stream",
    );
    release();
    layer.del('disk');
    // Four clusters of metadata: header, refcount table, refcount block, L1 table.
    expect(statSync(join(dir, 'disk.qcow2')).size).toBe(4 * 65536);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
