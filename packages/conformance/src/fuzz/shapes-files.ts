// Shapes on raw files: a sparse source whose holes a block-status-driven copy never reads.

import {
  CaseBuilder,
  followUp,
  injectError,
  keepUnthrottled,
  MiB,
  profile,
  type Shape,
  startSpec,
} from './case-builder.js';
import type { Action, ErrorPolicy } from './vocabulary.js';

const POLICIES: readonly ErrorPolicy[] = ['report', 'ignore', 'stop', 'enospc', 'auto'];

/** src.raw's size: small, as every byte of it is real I/O on a machine shared by many. */
const FILE_SIZE = 16 * MiB;
/** Sectors (512 B) inside the hole of src.raw (data only in its first 4 MiB). */
const HOLE_SECTORS = [4 * 2048, 8 * 2048, 16 * 2048 - 8] as const;

/**
 * src.raw, 16 MiB with 4 MiB of data at 0 and a hole after it (qemu-img create + qemu-io write),
 * under a blkdebug node `bad` whose reads inside the hole fail, mirrored or backed up to null-co
 * (scenarios/sparse-files.ts). Mirror and backup read by block status: they write zeroes for the
 * hole without reading it, so the error never fires, whatever the policy; the whole length still
 * counts. A file's I/O is real: the copy runs after the command's reply. The mirror stays
 * unthrottled (how a rate limit meets the zero writes of a hole is not modelled); a backup may be
 * throttled (one 1 MiB chunk of data, then asleep, as from null-co).
 */
export const sparseFileShape: Shape = {
  name: 'sparse-file',
  about:
    'blockdev-mirror / blockdev-backup of a raw file with a hole whose reads fail (blkdebug) × every on-source-error policy: the hole is never read; then every verb',
  build(choose, seed) {
    const b = new CaseBuilder().pairs(1);
    const errno = choose.pick(['EIO', 'ENOSPC'] as const);
    const rule = injectError({
      event: 'none',
      iotype: 'read',
      errno,
      sector: choose.pick(HOLE_SECTORS),
      once: choose.chance(50),
    });
    b.node({ driver: 'file', 'node-name': 'f', filename: 'src.raw' });
    b.node({ driver: 'blkdebug', 'node-name': 'bad', image: 'f', 'inject-error': [rule] });
    b.node({ driver: 'null-co', 'node-name': 'mdst', size: FILE_SIZE });
    b.setup.push(
      { qemuImg: ['create', '-q', '-f', 'raw', 'src.raw', String(FILE_SIZE)] },
      { qemuIo: { image: 'src.raw', commands: ['write 0 4M'] } },
    );
    const len = FILE_SIZE;
    b.profiles.set('mirror:bad', profile({ type: 'mirror', len, readyPhase: true }));
    b.profiles.set('backup:bad', profile({ type: 'backup', len, stops: [MiB], wakeCopies: false }));
    b.profiles.set(
      'backup-none:bad',
      profile({ type: 'backup', len, wakeCopies: false, endless: true }),
    );
    const policy = choose.chance(80) ? { onSourceError: choose.pick(POLICIES) } : {};
    const ids = ['j1'];
    if (choose.chance(50)) {
      const actions: Action[] = [
        {
          kind: 'mirror',
          ...startSpec(choose, 'j1', 100),
          device: 'bad',
          target: 'mdst',
          ...policy,
        },
        ...followUp(choose, b, ids, { id: 'b1', pair: 1 }, { laterMax: 8 }),
      ];
      return b.build(this.name, seed, keepUnthrottled(actions, 'j1'));
    }
    const actions: Action[] = [
      {
        kind: 'backup',
        ...startSpec(choose, 'j1', 40),
        device: 'bad',
        target: 'mdst',
        sync: choose.chance(15) ? 'none' : 'full',
        ...policy,
      },
      ...followUp(choose, b, ids, { id: 'b1', pair: 1 }, { laterMax: 8 }),
    ];
    return b.build(this.name, seed, actions);
  },
};
