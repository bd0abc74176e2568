// Found by the differential tester (helper "difftest", finding throttled-file-backup-woken, 15:40
// UTC): a throttled backup of a raw FILE that is woken copies the rest with real file I/O, after
// the waking command's reply, on QEMU 7.2.22 and 10.0.2; qmpkit-server used to finish it inside
// the command (waiting … null before the reply), as it would from null-co.
import { completed, idleAt, ok, type Scenario, send, status, statuses } from '../src/scenario.js';
import { backupStarts, MiB, nullCo } from './common.js';

const SIZE = 16 * MiB;

/** A 16 MiB raw file with 4 MiB of data, backed up at 4096 B/s to null-co. */
const fileBackup: Pick<Scenario, 'setup' | 'blockdevs'> = {
  setup: [
    { qemuImg: ['create', '-q', '-f', 'raw', 'src.raw', String(SIZE)] },
    { qemuIo: { image: 'src.raw', commands: ['write 0 4M'] } },
  ],
  blockdevs: [
    JSON.stringify({ driver: 'file', 'node-name': 'f', filename: 'src.raw' }),
    nullCo('dst', SIZE),
  ],
};

const startThrottled = [
  ...backupStarts({
    'job-id': 'b1',
    device: 'f',
    target: 'dst',
    sync: 'full',
    speed: 4096,
  }),
  idleAt('b1', MiB),
];

const endsAfterTheReply = [
  ...statuses('b1', 'waiting', 'pending'),
  completed('backup', 'b1', SIZE),
  ...statuses('b1', 'concluded', 'null'),
];

export const throttledFileBackupScenarios: Scenario[] = [
  {
    name: 'throttled-backup-of-a-file-unthrottled-finishes-after-the-reply',
    about:
      'a backup of a raw file at 4096 B/s copies its first 1 MiB chunk and sleeps; set-speed 0 is answered first, then the backup copies the rest (file I/O) and completes',
    ...fileBackup,
    steps: [
      ...startThrottled,
      send('block-job-set-speed', { device: 'b1', speed: 0 }),
      ok(),
      ...endsAfterTheReply,
    ],
  },
  {
    name: 'throttled-backup-of-a-file-resumed-unthrottled-finishes-after-the-reply',
    about:
      'a backup of a raw file at 4096 B/s, paused, unthrottled while paused, then resumed: running, the reply to job-resume, then the rest of the copy (file I/O) and its completion',
    ...fileBackup,
    steps: [
      ...startThrottled,
      send('job-pause', { id: 'b1' }),
      status('b1', 'paused'),
      ok(),
      send('block-job-set-speed', { device: 'b1', speed: 0 }),
      ok(),
      send('job-resume', { id: 'b1' }),
      status('b1', 'running'),
      ok(),
      ...endsAfterTheReply,
    ],
  },
];
