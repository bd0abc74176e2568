// Seeded generation of job-API sequences. A case is fully determined by its seed: the seed picks
// a shape (which nodes exist, which jobs are made) and then every choice inside it, through one
// pure-rand generator. The sequence is a list of abstract actions; the model (model.ts) turns it
// into the scenario to run, so a shrunk sequence (any sub-list) is predicted afresh.

import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';
import type { SetupStep } from '../scenario.js';
import {
  type Action,
  type BackupSpec,
  type JobProfile,
  type Setup,
  type StartSpec,
  VERBS,
  type Verb,
} from './vocabulary.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** A generated case: where it runs and what it does. */
export interface FuzzCase {
  readonly seed: number;
  readonly shape: string;
  readonly setup: readonly SetupStep[];
  readonly blockdevs: readonly string[];
  /** What the model needs to know about the nodes. */
  readonly model: Setup;
  readonly actions: readonly Action[];
}

/** Choices drawn from one seeded generator. */
export class Chooser {
  readonly #rng: RandomGenerator;
  constructor(seed: number) {
    this.#rng = xoroshiro128plus(seed);
  }
  int(from: number, to: number): number {
    return uniformInt(this.#rng, from, to);
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from nothing');
    return items[this.int(0, items.length - 1)] as T;
  }
  chance(percent: number): boolean {
    return this.int(1, 100) <= percent;
  }
}

export interface Shape {
  readonly name: string;
  /** What the shape exercises. */
  readonly about: string;
  build(choose: Chooser, seed: number): FuzzCase;
}

// ---------------------------------------------------------------------------------------------
// Nodes and how jobs progress on them (job-semantics.md §8.1, §8.3; the scenarios' measurements)

const SIZE = 64 * MiB;
const nullCo = (nodeName: string, size = SIZE): string =>
  JSON.stringify({ driver: 'null-co', 'node-name': nodeName, size });
const qcow2 = (nodeName: string, filename: string, backing?: string): string =>
  JSON.stringify({
    driver: 'qcow2',
    'node-name': nodeName,
    file: { driver: 'file', filename },
    ...(backing ? { backing } : {}),
  });

const profile = (p: Partial<JobProfile> & Pick<JobProfile, 'type'>): JobProfile => ({
  // The model fills in the key it looked the profile up by.
  key: '',
  len: SIZE,
  stops: [],
  wakeCopies: true,
  readyPhase: false,
  endless: false,
  instant: false,
  ...p,
});

/** A backup between null-co nodes: one 1 MiB block-copy chunk, then asleep; unthrottled, instant. */
const backupFull = profile({ type: 'backup', stops: [MiB], wakeCopies: false, instant: true });
/** sync none copies nothing and waits for guest writes. */
const backupNone = profile({ type: 'backup', wakeCopies: false, endless: true });
/** A mirror of a 64 MiB null-co node: 16 MiB buffers; ready once a wake finds nothing dirty. */
const mirror64 = profile({
  type: 'mirror',
  stops: [16 * MiB, 32 * MiB, 48 * MiB, 64 * MiB],
  readyPhase: true,
  instant: true,
});

/** The null-co pair srcN → dstN, backup-able. */
function addPair(
  n: number,
  profiles: Map<string, JobProfile>,
  blockdevs: string[],
  nodes: Set<string>,
): void {
  for (const name of [`src${n}`, `dst${n}`]) {
    blockdevs.push(nullCo(name));
    nodes.add(name);
  }
  profiles.set(`backup:src${n}`, backupFull);
  profiles.set(`backup-none:src${n}`, backupNone);
}

/** null-co pairs src1 → dst1 … srcN → dstN. */
function nullPairs(
  count: number,
  profiles: Map<string, JobProfile>,
  blockdevs: string[],
  nodes: Set<string>,
): void {
  for (let n = 1; n <= count; n++) addPair(n, profiles, blockdevs, nodes);
}

/**
 * Fresh pairs (src11 → dst11, …) for starts meant to fail: a start that succeeds after all (its
 * id was free by then) must not leave a job on nodes a later one uses, which would make QEMU
 * report a busy node and drain twice instead.
 */
type Spare = () => number;
function spares(profiles: Map<string, JobProfile>, blockdevs: string[], nodes: Set<string>): Spare {
  let n = 10;
  return () => {
    n++;
    addPair(n, profiles, blockdevs, nodes);
    return n;
  };
}

/**
 * base.qcow2 (1 MiB at 0) ← mid.qcow2 (1 MiB at 8M) ← top.qcow2 (1 MiB at 16M), 64 MiB each.
 * A stream of top copies base's and mid's data in 512 KiB chunks (what top has is skipped, free
 * ranges count at once); a commit of mid into base copies mid's MiB; an active commit of top
 * converges (mirror engine) on what top and mid hold.
 */
const threeLayerChain: readonly SetupStep[] = [
  { qemuImg: ['create', '-q', '-f', 'qcow2', 'base.qcow2', '64M'] },
  { qemuIo: { image: 'base.qcow2', commands: ['write 0 1M'] } },
  { qemuImg: ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'mid.qcow2'] },
  { qemuIo: { image: 'mid.qcow2', commands: ['write 8M 1M'] } },
  { qemuImg: ['create', '-q', '-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2', 'top.qcow2'] },
  { qemuIo: { image: 'top.qcow2', commands: ['write 16M 1M'] } },
];
const HALF = 512 * KiB;
const streamTop = profile({ type: 'stream', stops: [HALF, MiB, 8 * MiB + HALF, 9 * MiB] });
const commitMid = profile({ type: 'commit', stops: [8 * MiB + HALF, 9 * MiB] });
const activeCommitTop = profile({ type: 'commit', len: 2 * MiB, readyPhase: true });

// ---------------------------------------------------------------------------------------------
// Choices shared by the shapes

/** Positive speeds small enough that a woken job's next sleep outlasts any sequence (§8.3). */
const SMALL_SPEEDS = [1, 2, 512, 4096] as const;

/** Ids a verb may name: the shape's jobs, mostly, and now and then one that never existed. */
function pickId(choose: Chooser, ids: readonly string[]): string {
  return choose.chance(8) ? 'nope' : choose.pick(ids);
}

function randomVerbs(choose: Chooser, ids: readonly string[], count: number): Action[] {
  const actions: Action[] = [];
  for (let i = 0; i < count; i++) {
    const verb: Verb = choose.pick(VERBS);
    actions.push(
      verb === 'set-speed-positive'
        ? { kind: 'verb', verb, id: pickId(choose, ids), speed: choose.pick(SMALL_SPEEDS) }
        : { kind: 'verb', verb, id: pickId(choose, ids) },
    );
  }
  return actions;
}

function startSpec(choose: Chooser, id: string, unthrottledPercent: number): StartSpec {
  return {
    id,
    speed: choose.chance(unthrottledPercent) ? 0 : choose.pick(SMALL_SPEEDS),
    autoFinalize: choose.chance(60),
    autoDismiss: choose.chance(60),
  };
}

function backupSpec(choose: Chooser, id: string, n: number, unthrottledPercent = 15): BackupSpec {
  return {
    ...startSpec(choose, id, unthrottledPercent),
    device: `src${n}`,
    target: `dst${n}`,
    sync: choose.chance(15) ? 'none' : 'full',
  };
}

const PAUSES = ['job-pause', 'block-job-pause'] as const;

/** A drain with nothing else: an empty transaction (§5.5). */
const drainOnly: Action = { kind: 'transaction', backups: [] };

/** Starts that fail: a used id, an unknown node (backups still drain, §5.5). */
function failingBackup(choose: Chooser, usedId: string, spare: Spare): Action {
  const spec = backupSpec(choose, usedId, spare());
  return choose.chance(50)
    ? { kind: 'backup', ...spec }
    : { kind: 'backup', ...spec, id: 'bx', target: 'nope' };
}

/** Interleaves verbs on `ids` with the occasional drain or failing start. */
function verbsWithDisturbances(
  choose: Chooser,
  ids: readonly string[],
  count: number,
  spare: Spare,
): Action[] {
  const actions: Action[] = [];
  for (const verb of randomVerbs(choose, ids, count)) {
    actions.push(verb);
    if (choose.chance(10)) actions.push(drainOnly);
    if (choose.chance(6)) actions.push(failingBackup(choose, choose.pick(ids), spare));
  }
  return actions;
}

// ---------------------------------------------------------------------------------------------
// Shapes

/** One or two blockdev-backups between null-co nodes × every verb (issue 12's class 1 shape). */
const throttledBackup: Shape = {
  name: 'throttled-backup',
  about:
    'blockdev-backup between null-co nodes (sync full/none, speed small or 0) × every verb, drains, failing starts',
  build(choose, seed) {
    const profiles = new Map<string, JobProfile>();
    const blockdevs: string[] = [];
    const nodes = new Set<string>();
    nullPairs(3, profiles, blockdevs, nodes);
    const spare = spares(profiles, blockdevs, nodes);
    const actions: Action[] = [{ kind: 'backup', ...backupSpec(choose, 'b1', 1) }];
    const ids = ['b1'];
    actions.push(...verbsWithDisturbances(choose, ids, choose.int(2, 6), spare));
    if (choose.chance(40)) {
      ids.push('b2');
      actions.push({ kind: 'backup', ...backupSpec(choose, 'b2', 2) });
    }
    actions.push(...verbsWithDisturbances(choose, ids, choose.int(3, 10), spare));
    return { seed, shape: this.name, setup: [], blockdevs, model: { nodes, profiles }, actions };
  },
};

/** A mirror (to ready, or throttled on the way there), with backups draining it. */
const mirrorShape: Shape = {
  name: 'mirror',
  about:
    'blockdev-mirror of a 64 MiB null-co node (unthrottled to ready, or throttled), drains by backups, failing starts × every verb',
  build(choose, seed) {
    const profiles = new Map<string, JobProfile>([['mirror:msrc', mirror64]]);
    const blockdevs: string[] = [nullCo('msrc'), nullCo('mdst'), nullCo('mdst2')];
    const nodes = new Set(['msrc', 'mdst', 'mdst2']);
    nullPairs(2, profiles, blockdevs, nodes);
    const spare = spares(profiles, blockdevs, nodes);
    const actions: Action[] = [
      { kind: 'mirror', ...startSpec(choose, 'm1', 50), device: 'msrc', target: 'mdst' },
    ];
    const ids = ['m1'];
    // Steer towards standby (and paused) now and then: random verbs alone rarely get there.
    if (choose.chance(35)) actions.push({ kind: 'verb', verb: choose.pick(PAUSES), id: 'm1' });
    actions.push(...verbsWithDisturbances(choose, ids, choose.int(2, 6), spare));
    if (choose.chance(25)) {
      // A second mirror of the same source: refused while m1 holds it (§5.4).
      actions.push({
        kind: 'mirror',
        ...startSpec(choose, 'm2', 50),
        device: 'msrc',
        target: 'mdst2',
      });
    }
    if (choose.chance(40)) {
      ids.push('b1');
      actions.push({ kind: 'backup', ...backupSpec(choose, 'b1', 1) });
    }
    actions.push(...verbsWithDisturbances(choose, ids, choose.int(3, 10), spare));
    return { seed, shape: this.name, setup: [], blockdevs, model: { nodes, profiles }, actions };
  },
};

/** Stream, commit or active commit on a three-layer qcow2 chain. */
const chainShape: Shape = {
  name: 'stream-commit',
  about:
    'block-stream / block-commit (non-active, active) on a qcow2 chain, throttled or not, with backups draining it, failing starts × every verb',
  build(choose, seed) {
    const profiles = new Map<string, JobProfile>([
      ['stream:top', streamTop],
      ['commit:top/mid', commitMid],
      ['commit:top', activeCommitTop],
    ]);
    const blockdevs: string[] = [
      qcow2('base', 'base.qcow2'),
      qcow2('mid', 'mid.qcow2', 'base'),
      qcow2('top', 'top.qcow2', 'mid'),
    ];
    const nodes = new Set(['base', 'mid', 'top']);
    nullPairs(2, profiles, blockdevs, nodes);
    const spare = spares(profiles, blockdevs, nodes);
    const kind = choose.pick(['stream', 'commit', 'active-commit'] as const);
    const actions: Action[] = [];
    if (kind === 'stream') {
      actions.push({ kind: 'stream', ...startSpec(choose, 'j1', 30), device: 'top' });
    } else if (kind === 'commit') {
      actions.push({
        kind: 'commit',
        ...startSpec(choose, 'j1', 30),
        device: 'top',
        topNode: 'mid',
        baseNode: 'base',
      });
    } else {
      actions.push({ kind: 'commit', ...startSpec(choose, 'j1', 100), device: 'top' });
    }
    const ids = ['j1'];
    actions.push(...verbsWithDisturbances(choose, ids, choose.int(2, 6), spare));
    if (kind === 'stream' && choose.chance(30)) {
      // A second stream of the same node: busy while j1 runs (§5.4).
      actions.push({ kind: 'stream', ...startSpec(choose, 'j2', 0), device: 'top' });
    }
    if (choose.chance(40)) {
      ids.push('b1');
      actions.push({ kind: 'backup', ...backupSpec(choose, 'b1', 1) });
    }
    actions.push(...verbsWithDisturbances(choose, ids, choose.int(3, 10), spare));
    return {
      seed,
      shape: this.name,
      setup: threeLayerChain,
      blockdevs,
      model: { nodes, profiles },
      actions,
    };
  },
};

/** Transactions of backups: grouped or individual, and ones whose later action fails. */
const transactionShape: Shape = {
  name: 'transaction',
  about:
    'transaction of two throttled backups (grouped / individual / default), or one whose later action fails, × every verb',
  build(choose, seed) {
    const profiles = new Map<string, JobProfile>();
    const blockdevs: string[] = [];
    const nodes = new Set<string>();
    nullPairs(3, profiles, blockdevs, nodes);
    const spare = spares(profiles, blockdevs, nodes);
    const mode = choose.pick(['grouped', 'individual', undefined] as const);
    const t1 = { ...backupSpec(choose, 't1', 1, 0), sync: 'full' as const };
    const t2 = { ...backupSpec(choose, 't2', 2, 0), sync: 'full' as const };
    const actions: Action[] = [];
    if (choose.chance(25)) {
      // A later action fails: the earlier job is rolled back inside the command (§5.5).
      const bad = choose.chance(50) ? { ...t2, target: 'nope' } : { ...t2, id: 't1' };
      actions.push({ kind: 'transaction', ...(mode ? { mode } : {}), backups: [t1, bad] });
    }
    actions.push({ kind: 'transaction', ...(mode ? { mode } : {}), backups: [t1, t2] });
    const ids = ['t1', 't2'];
    // Steer towards waiting: a grouped member given speed 0 finishes and waits for the other.
    if (choose.chance(60))
      actions.push({ kind: 'verb', verb: 'set-speed-zero', id: choose.pick(ids) });
    actions.push(...verbsWithDisturbances(choose, ids, choose.int(4, 14), spare));
    return { seed, shape: this.name, setup: [], blockdevs, model: { nodes, profiles }, actions };
  },
};

/**
 * A backup whose source read or target write at 2 MiB fails (blkdebug), with every error policy
 * and both errnos (§5.1, §6.7), then every verb on what is left of it.
 */
const ioErrorShape: Shape = {
  name: 'io-error',
  about:
    'blockdev-backup over blkdebug (read error on the source or write error on the target, EIO or ENOSPC) × every error policy, then every verb',
  build(choose, seed) {
    const profiles = new Map<string, JobProfile>();
    const blockdevs: string[] = [];
    const nodes = new Set<string>();
    nullPairs(3, profiles, blockdevs, nodes);
    const spare = spares(profiles, blockdevs, nodes);
    const operation = choose.pick(['read', 'write'] as const);
    const errno = choose.pick(['EIO', 'ENOSPC'] as const);
    const policy = choose.pick(['report', 'ignore', 'stop', 'enospc', 'auto'] as const);
    // A stopped job is resumed or cancelled into a retry, which must then succeed.
    const once = policy === 'report' ? choose.chance(50) : true;
    const rule = {
      event: 'none',
      iotype: operation,
      errno: errno === 'EIO' ? 5 : 28,
      sector: 4096,
      once,
    };
    // The failing node sits over src1 (reads) or dst1 (writes).
    const bad = operation === 'read' ? 'bsrc' : 'bdst';
    blockdevs.push(
      JSON.stringify({
        driver: 'blkdebug',
        'node-name': bad,
        image: operation === 'read' ? 'src1' : 'dst1',
        'inject-error': [rule],
      }),
    );
    nodes.add(bad);
    const device = operation === 'read' ? 'bsrc' : 'src1';
    const target = operation === 'read' ? 'dst1' : 'bdst';
    profiles.set(`backup:${device}`, {
      ...backupFull,
      failure: { operation, errno, once, lost: MiB },
    });
    const b1: BackupSpec = {
      ...startSpec(choose, 'b1', 100),
      device,
      target,
      sync: 'full',
      ...(operation === 'read' ? { onSourceError: policy } : { onTargetError: policy }),
    };
    const actions: Action[] = [{ kind: 'backup', ...b1 }];
    const ids = ['b1'];
    actions.push(...verbsWithDisturbances(choose, ids, choose.int(2, 6), spare));
    if (choose.chance(40)) {
      ids.push('b2');
      actions.push({ kind: 'backup', ...backupSpec(choose, 'b2', 2) });
    }
    actions.push(...verbsWithDisturbances(choose, ids, choose.int(3, 8), spare));
    return { seed, shape: this.name, setup: [], blockdevs, model: { nodes, profiles }, actions };
  },
};

/**
 * A mirror whose target fails a write (blkdebug over a null-co target; the source is a raw file
 * with 8 MiB of data, since a null-co source has none to copy) with every error policy: issue 12's
 * class 4. Then every verb on what is left of it.
 */
const mirrorErrorShape: Shape = {
  name: 'mirror-error',
  about:
    'blockdev-mirror to a blkdebug target whose write at 2 MiB fails (EIO or ENOSPC) × every on-target-error policy, then every verb',
  build(choose, seed) {
    const profiles = new Map<string, JobProfile>();
    const blockdevs: string[] = [];
    const nodes = new Set<string>();
    nullPairs(1, profiles, blockdevs, nodes);
    const spare = spares(profiles, blockdevs, nodes);
    const errno = choose.pick(['EIO', 'ENOSPC'] as const);
    const policy = choose.pick(['report', 'ignore', 'stop', 'enospc', 'auto'] as const);
    const once = policy === 'report' ? choose.chance(50) : true;
    blockdevs.push(
      JSON.stringify({ driver: 'file', 'node-name': 'msrc', filename: 'src.raw' }),
      nullCo('mdst'),
      JSON.stringify({
        driver: 'blkdebug',
        'node-name': 'bdst',
        image: 'mdst',
        'inject-error': [
          { event: 'none', iotype: 'write', errno: errno === 'EIO' ? 5 : 28, sector: 4096, once },
        ],
      }),
    );
    for (const name of ['msrc', 'mdst', 'bdst']) nodes.add(name);
    profiles.set('mirror:msrc', {
      ...mirror64,
      // A raw file source: real I/O, never done inside a command.
      instant: false,
      stops: [],
      failure: { operation: 'write', errno, once, lost: 0 },
    });
    const actions: Action[] = [
      {
        kind: 'mirror',
        ...startSpec(choose, 'm1', 100),
        device: 'msrc',
        target: 'bdst',
        onTargetError: policy,
      },
    ];
    const ids = ['m1'];
    actions.push(...verbsWithDisturbances(choose, ids, choose.int(2, 6), spare));
    if (choose.chance(40)) {
      ids.push('b1');
      actions.push({ kind: 'backup', ...backupSpec(choose, 'b1', 1) });
    }
    actions.push(...verbsWithDisturbances(choose, ids, choose.int(3, 8), spare));
    const setup: SetupStep[] = [
      { qemuImg: ['create', '-q', '-f', 'raw', 'src.raw', '64M'] },
      { qemuIo: { image: 'src.raw', commands: ['write 0 8M'] } },
    ];
    // A stopped mirror resumed with a speed limit goes on at a pace the model cannot follow (it
    // retries the failed range, then copies a chunk per wake from wherever it was): keep m1
    // unthrottled (speed 0 instead of a positive one).
    const steerable = actions.map(
      (a): Action =>
        a.kind === 'verb' && a.verb === 'set-speed-positive' && a.id === 'm1'
          ? { kind: 'verb', verb: 'set-speed-zero', id: 'm1' }
          : a,
    );
    return {
      seed,
      shape: this.name,
      setup,
      blockdevs,
      model: { nodes, profiles },
      actions: steerable,
    };
  },
};

/** Every shape the generator knows. */
export const SHAPES: readonly Shape[] = [
  throttledBackup,
  mirrorShape,
  chainShape,
  transactionShape,
  ioErrorShape,
  mirrorErrorShape,
];

/**
 * The case for `seed`: the seed picks the shape, then everything in it. Nothing else goes in, so a
 * seed names the same case on every machine and every day (for one version of this file).
 */
export function generateCase(seed: number): FuzzCase {
  const choose = new Chooser(seed);
  const shape = choose.pick(SHAPES);
  return shape.build(choose, seed);
}
