// The io family's shapes (generate.ts FAMILIES.io): NBD exports and guest writes beside running
// jobs, and queries of the block nodes while the jobs hold their filter nodes. The model of these
// actions is model-io.ts.

import {
  backupSpec,
  CaseBuilder,
  type Chooser,
  MiB,
  mirror64,
  nullCo,
  PAUSES,
  randomVerbs,
  type Shape,
  startSpec,
} from './case-builder.js';
import type { Action, IoAction } from './vocabulary.js';

/** Export ids: mostly a few the case reuses, now and then one QEMU refuses as malformed. */
const EXPORT_IDS = ['e0', 'e1', 'e2'] as const;
/** The nodes an export names: both jobs' sources and targets, a free node, one that is not there. */
const EXPORTED = ['src1', 'dst1', 'src2', 'msrc', 'mdst'] as const;

function exportAdd(choose: Chooser): IoAction {
  const name = choose.chance(25) ? choose.pick(['x', 'y']) : undefined;
  return {
    kind: 'export-add',
    id: choose.chance(4) ? '1e' : choose.pick(EXPORT_IDS),
    node: choose.chance(5) ? 'nx' : choose.pick(EXPORTED),
    writable: choose.chance(60),
    ...(name === undefined ? {} : { name }),
  };
}

/** A write of 4 KiB or 64 KiB, 4 KiB-aligned, anywhere in the 64 MiB node. */
function guestWrite(choose: Chooser): IoAction {
  const length = choose.pick([4096, 65536, 2 * 65536]);
  return {
    kind: 'guest-write',
    id: choose.pick(EXPORT_IDS),
    offset: choose.int(0, (64 * MiB - length) / 4096) * 4096,
    length,
    pattern: choose.int(1, 255),
  };
}

/** One io step or job verb. */
function ioStep(choose: Chooser, ids: readonly string[]): Action[] {
  const roll = choose.int(1, 100);
  if (roll <= 20) return [exportAdd(choose)];
  if (roll <= 28) {
    return [{ kind: 'export-del', id: choose.chance(10) ? 'ex' : choose.pick(EXPORT_IDS) }];
  }
  if (roll <= 32) return [{ kind: 'nbd-server-start' }];
  if (roll <= 36) return [{ kind: 'nbd-server-stop' }];
  if (roll <= 54) return [guestWrite(choose)];
  if (roll <= 64) return [{ kind: 'query-nodes' }];
  if (roll <= 68) return [{ kind: 'query-exports' }];
  return randomVerbs(choose, ids, 1);
}

export const exportsShape: Shape = {
  name: 'exports',
  about:
    'an NBD server and block-export-add/-del (read-only or writable, named or not, and their refusals) of the sources and targets of a throttled backup and a ready mirror (both with named filter nodes), guest writes by qemu-io through writable exports, query-named-block-nodes / -block-exports while the jobs hold their filters, nbd-server-stop with exports, × every job verb',
  build(choose, seed) {
    const b = new CaseBuilder().pairs(2).node(nullCo('msrc')).node(nullCo('mdst'));
    b.profiles.set('mirror:msrc', mirror64);
    const actions: Action[] = [];
    if (choose.chance(70)) actions.push({ kind: 'nbd-server-start' });
    const ids = ['b1'];
    actions.push({ kind: 'backup', ...backupSpec(choose, 'b1', 1, 10), filter: 'f1' });
    if (choose.chance(70)) {
      ids.push('m1');
      actions.push({
        kind: 'mirror',
        ...startSpec(choose, 'm1', 100),
        device: 'msrc',
        target: 'mdst',
        filter: 'f2',
      });
    }
    if (choose.chance(20)) actions.push({ kind: 'verb', verb: choose.pick(PAUSES), id: 'b1' });
    // Steer towards guest writes: a writable export the writes can go through, most of the time
    // of the mirror's source (7.2's mirror copies what they dirty).
    if (choose.chance(70)) {
      const node = ids.includes('m1') && choose.chance(70) ? 'msrc' : choose.pick(['src2', 'dst1']);
      actions.push({ kind: 'export-add', id: 'e0', node, writable: true });
    }
    for (let i = choose.int(6, 16); i > 0; i--) actions.push(...ioStep(choose, ids));
    actions.push({ kind: 'query-nodes' }, { kind: 'query-exports' });
    return b.build(this.name, seed, actions);
  },
};

/** The io family's shapes. */
export const IO_SHAPES: readonly Shape[] = [exportsShape];
