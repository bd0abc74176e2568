// Dirty bitmaps (issue 16): the block-dirty-bitmap-* commands, their refusals, the
// `dirty-bitmaps` member of query-named-block-nodes, and bitmap actions in `transaction` with
// QEMU's rollback. Expected values: qemu-storage-daemon 7.2.22.

import { bitmapInfo, nullCoInfo } from '../src/block-node-info.js';
import {
  byVersion,
  call,
  generic,
  ok,
  type Pattern,
  type Scenario,
  type Step,
  send,
} from '../src/scenario.js';
import { MiB, nullCo } from './common.js';

const SIZE = 64 * MiB;

export { bitmapInfo, nullCoInfo };

/** The bitmaps of node n0 (the only node) as query-named-block-nodes shows them. */
const n0Bitmaps = (...bitmaps: Pattern[]) => [
  send('query-named-block-nodes', { flat: true }),
  ok([nullCoInfo('n0', SIZE, bitmaps.length === 0 ? undefined : bitmaps)]),
];

const b = (node: string, name: string) => ({ node, name });

/** One action of each bitmap kind QEMU 7.2 survives in a grouped transaction. */
const bitmapActions: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
  ['block-dirty-bitmap-add', { node: 'n0', name: 'b1' }],
  ['block-dirty-bitmap-remove', b('n0', 'b0')],
  ['block-dirty-bitmap-clear', b('n0', 'b0')],
  ['block-dirty-bitmap-disable', b('n0', 'b0')],
  ['block-dirty-bitmap-merge', { node: 'n0', target: 'b0', bitmaps: ['b0'] }],
];

/** Each action alone in a grouped transaction, refused in the version's spelling. */
const groupedRefusals = (
  actions: ReadonlyArray<readonly [string, Record<string, unknown>]>,
  property: 'Transaction property' | 'transaction property',
): Step[] =>
  actions.flatMap(([type, data]) => [
    send('transaction', {
      actions: [{ type, data }],
      properties: { 'completion-mode': 'grouped' },
    }),
    generic(`Action '${type}' does not support ${property} completion-mode = grouped`),
  ]);

export const bitmapScenarios: Scenario[] = [
  {
    name: 'bitmap-add-remove-enable-disable-and-refusals',
    about:
      'block-dirty-bitmap-add/-remove/-clear/-enable/-disable/-merge and x-debug-block-dirty-bitmap-sha256 on a null-co node: the default granularity (64 KiB without clusters), newest bitmap first, recording follows enable/disable, and every refusal in QEMU words (lookups say "Node … not found" except add, which says "Cannot find device…")',
    blockdevs: [nullCo('n0', SIZE)],
    steps: [
      ...n0Bitmaps(),
      ...call('block-dirty-bitmap-add', { node: 'n0', name: 'b0' }),
      send('block-dirty-bitmap-add', { node: 'n0', name: 'b0' }),
      generic('Bitmap already exists: b0'),
      send('block-dirty-bitmap-add', { node: 'n0', name: '' }),
      generic('Bitmap name cannot be empty'),
      send('block-dirty-bitmap-add', { node: 'nx', name: 'b1' }),
      generic("Cannot find device='nx' nor node-name='nx'"),
      send('block-dirty-bitmap-add', { node: 'n0', name: 'b1', granularity: 1000 }),
      generic('Granularity must be power of 2 and at least 512'),
      send('block-dirty-bitmap-add', { node: 'n0', name: 'b1', granularity: 256 }),
      generic('Granularity must be power of 2 and at least 512'),
      send('block-dirty-bitmap-add', { node: 'n0', name: 'b1', persistent: true }),
      generic("Can't store persistent bitmaps to n0: Operation not supported"),
      ...call('block-dirty-bitmap-add', {
        node: 'n0',
        name: 'b2',
        disabled: true,
        granularity: 512,
      }),
      ...n0Bitmaps(bitmapInfo('b2', { granularity: 512, recording: false }), bitmapInfo('b0')),
      send('block-dirty-bitmap-remove', b('n0', 'zz')),
      generic("Dirty bitmap 'zz' not found"),
      send('block-dirty-bitmap-remove', b('nx', 'zz')),
      generic("Node 'nx' not found"),
      send('block-dirty-bitmap-clear', b('nx', 'b0')),
      generic("Node 'nx' not found"),
      send('block-dirty-bitmap-enable', b('n0', 'zz')),
      generic("Dirty bitmap 'zz' not found"),
      ...call('block-dirty-bitmap-clear', b('n0', 'b2')),
      ...call('block-dirty-bitmap-disable', b('n0', 'b0')),
      ...call('block-dirty-bitmap-disable', b('n0', 'b0')),
      ...call('block-dirty-bitmap-enable', b('n0', 'b2')),
      ...n0Bitmaps(bitmapInfo('b2', { granularity: 512 }), bitmapInfo('b0', { recording: false })),
      ...call('block-dirty-bitmap-merge', {
        node: 'n0',
        target: 'b0',
        bitmaps: ['b2', b('n0', 'b2')],
      }),
      send('block-dirty-bitmap-merge', { node: 'n0', target: 'b0', bitmaps: ['nope'] }),
      generic("Dirty bitmap 'nope' not found"),
      send('block-dirty-bitmap-merge', { node: 'n0', target: 'nope', bitmaps: ['b2'] }),
      generic("Dirty bitmap 'nope' not found"),
      send('block-dirty-bitmap-merge', { node: 'n0', target: 'b0', bitmaps: [b('nx', 'b2')] }),
      generic("Node 'nx' not found"),
      send('x-debug-block-dirty-bitmap-sha256', b('n0', 'b0')),
      // 1024 granules of 64 KiB: sixteen zero 64-bit words.
      ok({ sha256: '38723a2e5e8a17aa7950dc008209944e898f69a7bd10a23c839d341e935fd5ca' }),
      ...call('block-dirty-bitmap-remove', b('n0', 'b0')),
      ...call('block-dirty-bitmap-remove', b('n0', 'b2')),
      ...n0Bitmaps(),
    ],
  },
  {
    name: 'bitmap-merge-of-different-sizes-refused',
    about:
      'block-dirty-bitmap-merge across nodes of different sizes is refused with both sizes named, and the target stays as it was',
    blockdevs: [nullCo('n0', SIZE), nullCo('s1', MiB)],
    steps: [
      ...call('block-dirty-bitmap-add', { node: 'n0', name: 'b0' }),
      ...call('block-dirty-bitmap-add', { node: 's1', name: 'small' }),
      send('block-dirty-bitmap-merge', { node: 'n0', target: 'b0', bitmaps: [b('s1', 'small')] }),
      generic(
        `Bitmaps are of different sizes (destination size is ${SIZE}, source size is ${MiB}) and can't be merged`,
      ),
    ],
  },
  {
    name: 'bitmap-transaction-rolls-back-every-action',
    about:
      'a transaction of bitmap actions whose last action fails undoes the others in reverse order: the added bitmap is gone, the disabled one records again, the removed one is back',
    blockdevs: [nullCo('n0', SIZE)],
    steps: [
      ...call('block-dirty-bitmap-add', { node: 'n0', name: 'b0' }),
      ...call('block-dirty-bitmap-add', { node: 'n0', name: 'b9' }),
      send('transaction', {
        actions: [
          { type: 'block-dirty-bitmap-add', data: { node: 'n0', name: 'b1' } },
          { type: 'block-dirty-bitmap-disable', data: b('n0', 'b0') },
          { type: 'block-dirty-bitmap-clear', data: b('n0', 'b0') },
          { type: 'block-dirty-bitmap-merge', data: { node: 'n0', target: 'b0', bitmaps: ['b1'] } },
          { type: 'block-dirty-bitmap-remove', data: b('n0', 'b9') },
          { type: 'block-dirty-bitmap-add', data: { node: 'n0', name: 'b0' } },
        ],
      }),
      generic('Bitmap already exists: b0'),
      ...n0Bitmaps(bitmapInfo('b9'), bitmapInfo('b0')),
      send('transaction', {
        actions: [
          { type: 'block-dirty-bitmap-remove', data: b('n0', 'b9') },
          { type: 'block-dirty-bitmap-clear', data: b('n0', 'b9') },
        ],
      }),
      generic("Bitmap 'b9' is currently in use by another operation and cannot be used"),
      ...n0Bitmaps(bitmapInfo('b9'), bitmapInfo('b0')),
      ...call('transaction', {
        actions: [
          { type: 'block-dirty-bitmap-add', data: { node: 'n0', name: 'b1', disabled: true } },
          { type: 'block-dirty-bitmap-remove', data: b('n0', 'b9') },
          { type: 'block-dirty-bitmap-disable', data: b('n0', 'b0') },
        ],
      }),
      ...n0Bitmaps(bitmapInfo('b1', { recording: false }), bitmapInfo('b0', { recording: false })),
    ],
  },
  {
    name: 'bitmap-actions-refuse-grouped-transactions',
    about:
      'bitmap actions take part only in completion-mode individual transactions; the refusal names the action. QEMU 7.2 refuses while it prepares the action ("Transaction property"; enable is left out: 7.2 crashes on it, see the block-job-sim README); 10.0 checks every action before it prepares any ("transaction property"), so a backup before a bitmap action creates no job',
    blockdevs: [nullCo('n0', SIZE), nullCo('t0', SIZE)],
    steps: [
      ...call('block-dirty-bitmap-add', { node: 'n0', name: 'b0' }),
      byVersion({
        '7.2': groupedRefusals(bitmapActions, 'Transaction property'),
        '10.0': [
          ...groupedRefusals(
            [...bitmapActions, ['block-dirty-bitmap-enable', b('n0', 'b0')]],
            'transaction property',
          ),
          send('transaction', {
            actions: [
              {
                type: 'blockdev-backup',
                data: { 'job-id': 'j', device: 'n0', target: 't0', sync: 'full' },
              },
              { type: 'block-dirty-bitmap-clear', data: b('n0', 'b0') },
            ],
            properties: { 'completion-mode': 'grouped' },
          }),
          generic(
            "Action 'block-dirty-bitmap-clear' does not support transaction property completion-mode = grouped",
          ),
        ],
      }),
      send('query-named-block-nodes', { flat: true }),
      ok([nullCoInfo('t0', SIZE), nullCoInfo('n0', SIZE, [bitmapInfo('b0')])]),
    ],
  },
];
