// Shapes on a three-layer qcow2 chain: stream, commit and active commit, and their injected I/O
// errors.

import {
  CaseBuilder,
  followUp,
  injectError,
  KiB,
  keepUnthrottled,
  MiB,
  profile,
  type Shape,
  startSpec,
} from './case-builder.js';
import type { Action, ErrorPolicy, InjectedError } from './vocabulary.js';

/**
 * base.qcow2 (1 MiB at 0) ← mid.qcow2 (1 MiB at 8M) ← top.qcow2 (1 MiB at 16M), 64 MiB each.
 * A stream of top copies base's and mid's data in 512 KiB chunks (what top has is skipped, free
 * ranges count at once); a commit of mid into base copies mid's MiB; an active commit of top
 * converges (mirror engine) on what top and mid hold, one MiB per wake when throttled.
 */
function threeLayerChain(b: CaseBuilder, files: Partial<Record<Layer, unknown>> = {}): void {
  b.setup.push(
    { qemuImg: ['create', '-q', '-f', 'qcow2', 'base.qcow2', '64M'] },
    { qemuIo: { image: 'base.qcow2', commands: ['write 0 1M'] } },
    { qemuImg: ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'mid.qcow2'] },
    { qemuIo: { image: 'mid.qcow2', commands: ['write 8M 1M'] } },
    { qemuImg: ['create', '-q', '-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2', 'top.qcow2'] },
    { qemuIo: { image: 'top.qcow2', commands: ['write 16M 1M'] } },
  );
  const backing: Record<Layer, string | undefined> = { base: undefined, mid: 'base', top: 'mid' };
  for (const layer of ['base', 'mid', 'top'] as const) {
    b.node({
      driver: 'qcow2',
      'node-name': layer,
      file: files[layer] ?? { driver: 'file', filename: `${layer}.qcow2` },
      ...(backing[layer] ? { backing: backing[layer] } : {}),
    });
  }
  b.profiles.set('stream:top', streamTop);
  b.profiles.set('commit:top/mid', commitMid);
  b.profiles.set('commit:top', activeCommitTop);
}
type Layer = 'base' | 'mid' | 'top';

const HALF = 512 * KiB;
const streamTop = profile({ type: 'stream', stops: [HALF, MiB, 8 * MiB + HALF, 9 * MiB] });
const commitMid = profile({ type: 'commit', stops: [8 * MiB + HALF, 9 * MiB] });
const activeCommitTop = profile({
  type: 'commit',
  len: 2 * MiB,
  stops: [MiB, 2 * MiB],
  readyPhase: true,
});

type ChainJob = 'stream' | 'commit' | 'active-commit';

function chainJob(
  kind: ChainJob,
  spec: ReturnType<typeof startSpec>,
  onError?: ErrorPolicy,
): Action {
  const policy = onError ? { onError } : {};
  if (kind === 'stream') return { kind: 'stream', ...spec, device: 'top', ...policy };
  if (kind === 'commit') {
    return { kind: 'commit', ...spec, device: 'top', topNode: 'mid', baseNode: 'base', ...policy };
  }
  return { kind: 'commit', ...spec, device: 'top', ...policy };
}

/** Stream, commit or active commit on a three-layer qcow2 chain. */
export const chainShape: Shape = {
  name: 'stream-commit',
  about:
    'block-stream / block-commit (non-active, active) on a qcow2 chain, throttled or not, with backups draining it, failing starts × every verb',
  build(choose, seed) {
    const b = new CaseBuilder();
    threeLayerChain(b);
    b.pairs(2);
    const kind = choose.pick(['stream', 'commit', 'active-commit'] as const);
    const ids = ['j1'];
    // A second stream of the same node: busy while j1 runs (§5.4).
    const secondStream = (): Action[] =>
      kind === 'stream' && choose.chance(30)
        ? [{ kind: 'stream', ...startSpec(choose, 'j2', 0), device: 'top' }]
        : [];
    const actions: Action[] = [
      chainJob(kind, startSpec(choose, 'j1', kind === 'active-commit' ? 50 : 30)),
      ...followUp(choose, b, ids, { id: 'b1', pair: 1 }, { between: secondStream }),
    ];
    return b.build(this.name, seed, actions);
  },
};

/**
 * Where a chain job's request fails: under which layer's file, read or write, how far the job
 * got, and the operation its BLOCK_JOB_ERROR names. The blkdebug rule is armed by the qcow2
 * driver's data event (read_aio, write_aio): the layer's first data request fails, whatever its
 * offset in the file.
 */
interface ChainFailure {
  readonly layer: Layer;
  readonly iotype: 'read' | 'write';
  readonly at: number;
  /** A stream's copy-on-read write error is reported as a read (stream.c). */
  readonly reported: 'read' | 'write';
}
const STREAM_FAILURES: readonly ChainFailure[] = [
  { layer: 'base', iotype: 'read', at: 0, reported: 'read' },
  { layer: 'mid', iotype: 'read', at: 8 * MiB, reported: 'read' },
  { layer: 'top', iotype: 'write', at: 0, reported: 'read' },
];
const COMMIT_FAILURES: readonly ChainFailure[] = [
  { layer: 'mid', iotype: 'read', at: 8 * MiB, reported: 'read' },
  { layer: 'base', iotype: 'write', at: 8 * MiB, reported: 'write' },
];

/** An unthrottled stream or commit whose read or write fails, × every on-error policy. */
export const chainErrorShape: Shape = {
  name: 'chain-error',
  about:
    'block-stream / block-commit on a qcow2 chain whose first data read or write of one layer fails (blkdebug under its file, EIO or ENOSPC) × every on-error policy, then every verb',
  build(choose, seed) {
    const kind = choose.pick(['stream', 'commit'] as const);
    const where = choose.pick(kind === 'stream' ? STREAM_FAILURES : COMMIT_FAILURES);
    const errno = choose.pick(['EIO', 'ENOSPC'] as const);
    const policy = choose.pick(['report', 'ignore', 'stop', 'enospc', 'auto'] as const);
    const once = policy === 'report' ? choose.chance(50) : true;
    const event = where.iotype === 'read' ? 'read_aio' : 'write_aio';
    const b = new CaseBuilder();
    threeLayerChain(b, {
      [where.layer]: {
        driver: 'blkdebug',
        image: { driver: 'file', filename: `${where.layer}.qcow2` },
        'inject-error': [injectError({ event, iotype: where.iotype, errno, once })],
      },
    });
    b.pairs(2);
    const key = kind === 'stream' ? 'stream:top' : 'commit:top/mid';
    const failure: InjectedError = { operation: where.reported, errno, once, at: where.at };
    b.profiles.set(key, { ...(b.profiles.get(key) as typeof streamTop), failure });
    const ids = ['j1'];
    const actions: Action[] = [
      chainJob(kind, startSpec(choose, 'j1', 100), policy),
      ...followUp(choose, b, ids, { id: 'b1', pair: 1 }, { laterMax: 8 }),
    ];
    return b.build(this.name, seed, keepUnthrottled(actions, 'j1'));
  },
};
