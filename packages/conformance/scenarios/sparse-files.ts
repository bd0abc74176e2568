// A raw file with holes: QEMU's file driver reports them through block status (SEEK_DATA), and
// the block-status-driven copies — mirror (reads only data) and backup's block-copy (writes
// zeroes where the source reads as zeroes) — never read them, so an error injected in a hole
// never fires. The whole length still counts as progress. Expected values: QEMU 7.2.22.

import { completed, ok, type Scenario, send, statuses } from '../src/scenario.js';
import { backupStarts, becomesReady, blkdebug, completesReady, MiB, nullCo } from './common.js';

const SIZE = 64 * MiB;

/** src.raw: 8 MiB of data, then a hole; every read at 32 MiB (sector 65536) fails. */
const sparseSource = {
  setup: [
    { qemuImg: ['create', '-q', '-f', 'raw', 'src.raw', '64M'] },
    { qemuIo: { image: 'src.raw', commands: ['write 0 8M'] } },
  ],
  blockdevs: [
    JSON.stringify({ driver: 'file', 'node-name': 'f', filename: 'src.raw' }),
    blkdebug('bad', 'f', [{ event: 'none', iotype: 'read', errno: 5, sector: 65536 }]),
    nullCo('dst', SIZE),
  ],
};

export const sparseFileScenarios: Scenario[] = [
  {
    name: 'mirror-of-a-sparse-file-never-reads-its-hole',
    about:
      'a mirror of a raw file whose reads fail inside a hole: it reads only the data, so it reaches ready with the whole length done, and completes',
    ...sparseSource,
    steps: [
      send('blockdev-mirror', { 'job-id': 'm1', device: 'bad', target: 'dst', sync: 'full' }),
      ...statuses('m1', 'created', 'running'),
      ok(),
      ...becomesReady('mirror', 'm1', SIZE),
      ...completesReady('mirror', 'm1', SIZE),
    ],
  },
  {
    name: 'backup-of-a-sparse-file-never-reads-its-hole',
    about:
      'a backup of a raw file whose reads fail inside a hole: block-copy writes zeroes for the hole without reading it, and the backup completes',
    ...sparseSource,
    steps: [
      ...backupStarts({ 'job-id': 'b1', device: 'bad', target: 'dst', sync: 'full' }),
      ...statuses('b1', 'waiting', 'pending'),
      completed('backup', 'b1', SIZE),
      ...statuses('b1', 'concluded', 'null'),
    ],
  },
];
