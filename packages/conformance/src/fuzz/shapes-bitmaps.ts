// Dirty bitmaps (issue 16) on null-co nodes: the block-dirty-bitmap-* commands alone and as
// transaction actions, and a backup that syncs one of them, with every verb on the job.

import {
  backupSpec,
  CaseBuilder,
  type Chooser,
  randomVerbs,
  type Shape,
  SMALL_SPEEDS,
} from './case-builder.js';
import type { Action, BackupSpec, BitmapAction } from './vocabulary.js';

/** Bitmap names: mostly ones the case adds, now and then one it never does. */
const NAMES = ['b0', 'b1', 'b2'] as const;
const NODES = ['src1', 'src2'] as const;

const node = (choose: Chooser): string => (choose.chance(5) ? 'nx' : choose.pick(NODES));
const name = (choose: Chooser): string => (choose.chance(6) ? 'zz' : choose.pick(NAMES));

function addAction(choose: Chooser, on: string, bitmap: string): BitmapAction {
  const granularity = choose.pick([undefined, undefined, 512, 1024 * 1024, 1000] as const);
  return {
    command: 'add',
    node: on,
    name: bitmap,
    ...(granularity === undefined ? {} : { granularity }),
    ...(choose.chance(25) ? { disabled: true } : {}),
  };
}

/** One random bitmap command (merge never with an empty list: that crashes QEMU). */
function bitmapAction(choose: Chooser): BitmapAction {
  const command = choose.pick(['add', 'remove', 'clear', 'enable', 'disable', 'merge'] as const);
  if (command === 'add') return addAction(choose, node(choose), name(choose));
  if (command !== 'merge') return { command, node: node(choose), name: name(choose) };
  const on = choose.pick(NODES);
  const other = on === 'src1' ? 'src2' : 'src1';
  const sources = Array.from({ length: choose.int(1, 2) }, () =>
    choose.chance(25) ? { node: other, name: name(choose) } : name(choose),
  );
  return { command, node: on, name: name(choose), sources };
}

/**
 * A transaction action: no enable or disable, which crash qemu-storage-daemon 7.2 when they
 * fail (their abort disables a bitmap they never found); the generator cannot know whether the
 * bitmap will be there.
 */
function transactionAction(choose: Chooser): BitmapAction {
  for (;;) {
    const a = bitmapAction(choose);
    if (a.command !== 'enable' && a.command !== 'disable') return a;
  }
}

/** Bitmap commands, transactions of them, and queries of what the nodes hold. */
function bitmapSteps(choose: Chooser, count: number): Action[] {
  return Array.from({ length: count }, (): Action => {
    const roll = choose.int(1, 100);
    if (roll <= 15) return { kind: 'query-bitmaps' };
    if (roll <= 35) {
      const actions = Array.from({ length: choose.int(1, 4) }, () => transactionAction(choose));
      return { kind: 'bitmap-transaction', actions };
    }
    return { kind: 'bitmap', action: bitmapAction(choose) };
  });
}

/**
 * A backup of pair `n` that syncs a bitmap of its source: sync full (throttled or not) with mode
 * on-success or always, or unthrottled sync bitmap (any mode) or incremental.
 */
function bitmapBackup(choose: Chooser, id: string, n: number): BackupSpec {
  const base = { ...backupSpec(choose, id, n, 0), bitmap: choose.pick(NAMES) };
  const roll = choose.int(1, 100);
  if (roll <= 45) {
    const speed = choose.chance(70) ? choose.pick(SMALL_SPEEDS) : 0;
    return { ...base, speed, sync: 'full', bitmapMode: choose.pick(['on-success', 'always']) };
  }
  if (roll <= 75) {
    const bitmapMode = choose.pick(['on-success', 'always', 'never'] as const);
    return { ...base, speed: 0, sync: 'bitmap', bitmapMode };
  }
  return { ...base, speed: 0, sync: 'incremental' };
}

export const bitmapShape: Shape = {
  name: 'bitmaps',
  about:
    'dirty bitmaps on null-co nodes: block-dirty-bitmap-add/-remove/-clear/-enable/-disable/-merge alone and as transaction actions (a later one failing rolls back), query-named-block-nodes, a backup syncing one (sync full/bitmap/incremental, bitmap-mode on-success/always/never, throttled or not) × every verb and bitmap command while it runs, then another',
  build(choose, seed) {
    const b = new CaseBuilder().pairs(2);
    const actions: Action[] = [];
    for (const bitmap of NAMES.slice(0, choose.int(1, 3))) {
      actions.push({ kind: 'bitmap', action: addAction(choose, 'src1', bitmap) });
    }
    if (choose.chance(60)) {
      actions.push({ kind: 'bitmap', action: addAction(choose, 'src2', choose.pick(NAMES)) });
    }
    actions.push(...bitmapSteps(choose, choose.int(1, 4)), { kind: 'query-bitmaps' });
    actions.push({ kind: 'backup', ...bitmapBackup(choose, 'j1', 1) });
    for (let i = choose.int(3, 8); i > 0; i--) {
      actions.push(
        ...(choose.chance(50) ? randomVerbs(choose, ['j1'], 1) : bitmapSteps(choose, 1)),
      );
    }
    if (choose.chance(50)) actions.push({ kind: 'backup', ...bitmapBackup(choose, 'j2', 2) });
    actions.push(...bitmapSteps(choose, choose.int(1, 4)), { kind: 'query-bitmaps' });
    return b.build(this.name, seed, actions);
  },
};
