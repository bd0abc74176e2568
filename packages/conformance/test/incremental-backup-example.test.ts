// The server-app README's incremental backup example (full and incremental backup jobs into raw
// files, guest writes through an NBD export, restore, compare), run as written with the built `qmpkit` and
// `qmpkit-server`, and again with `qemu-storage-daemon` (7.2) in place of `qmpkit-server`, as the
// README says: both runs must succeed and print the same, QEMU's output being the expectation.
import { HANG_GUARD_MS } from '@qmpkit/test-support';
import { afterEach, expect, test } from 'vitest';
import { requireQemu } from '../src/daemon.js';
import { readmeExample, runScript } from './readme-script.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

test(
  "the README's incremental backup example prints the same on qmpkit-server as on QEMU",
  async () => {
    requireQemu();
    const script = readmeExample('../../server-app/README.md', 'Incremental backup, end to end');
    expect(script).toContain('qmpkit-server --blockdev');
    const onQemu = await runScript(
      script.replace('qmpkit-server --blockdev', 'qemu-storage-daemon --blockdev'),
      'qmpkit-readme-incremental-qemu-',
    );
    cleanups.push(onQemu.cleanUp);
    expect(onQemu.code, onQemu.output).toBe(0);
    expect(onQemu.output).toContain('Images are identical.\n');
    // QEMU's increment holds the two stretches the guest wrote after the full backup, in 64 KiB
    // clusters (the backup's cluster size on a raw target).
    expect(onQemu.output).toContain('[4194304,65536]\n[10485760,131072]\n');

    const onQmpkit = await runScript(script, 'qmpkit-readme-incremental-');
    cleanups.push(onQmpkit.cleanUp);
    expect(onQmpkit.code, onQmpkit.output).toBe(0);
    expect(onQmpkit.output).toBe(onQemu.output);
  },
  3 * HANG_GUARD_MS,
);
