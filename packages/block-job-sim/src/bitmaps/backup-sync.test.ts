// Backups with dirty bitmaps on the simulator. Expected counts are QEMU 7.2.22's (the conformance
// scenarios bitmap-backups.ts hold the same cases against qemu-storage-daemon).
import { beforeEach, expect, test } from 'vitest';
import { MiB, mirrorPair, Scenario } from '../jobs/scenario.test-helper.js';

let s: Scenario;
beforeEach(() => {
  s = new Scenario();
});

const bitmaps = () =>
  (
    s.run('query-named-block-nodes', { flat: true }) as Array<{
      'node-name': string;
      'dirty-bitmaps'?: unknown[];
    }>
  ).find((n) => n['node-name'] === 'src')?.['dirty-bitmaps'];

test('a cancelled backup in mode always leaves dirty what it did not copy', () => {
  mirrorPair(s, 64 * MiB);
  s.run('block-dirty-bitmap-add', { node: 'src', name: 'b2', disabled: true });
  s.backup({ 'job-id': 'j', bitmap: 'b2', 'bitmap-mode': 'always', speed: 1 });
  s.run('job-cancel', { id: 'j' });
  s.take();
  expect(bitmaps()).toEqual([
    {
      name: 'b2',
      count: 63 * MiB,
      granularity: 65536,
      recording: false,
      busy: false,
      persistent: false,
    },
  ]);
});
