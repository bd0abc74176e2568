// The differential tester's model of the io family's actions beside the jobs of JobModel: the NBD
// server and its exports (nbd-server-start/-stop, block-export-add/-del, query-block-exports,
// BLOCK_EXPORT_DELETED), guest writes through a writable export (the real qemu-io), and
// query-named-block-nodes while backups and mirrors hold their filter nodes. Written from QEMU's
// block/export/export.c (the order of block-export-add's checks: id, node, permissions, then the
// NBD server's own) and nbd/server.c, and from what qemu-storage-daemon 7.2.22 and 10.0.2
// answered (/work/coord/difftest-notes.md, session 5):
//
// - Attaching an export to a node drains nothing on 7.2; on 10.0 it is one change of the graph
//   (a drain of every job). Letting go of it (block-export-del, nbd-server-stop, or a refusal
//   by the NBD server after the export was attached) drains the node twice — each job using it
//   pauses and resumes twice — and on 10.0 then changes the graph once more.
// - nbd-server-stop lets go of its exports oldest first; 7.2 reports each BLOCK_EXPORT_DELETED
//   right after its own drains, 10.0 reports them all at the end, newest first.
// - A copy-before-write filter does not share `write` on the backup's source: a writable export
//   of it is refused, naming the filter. A mirror's target shares nothing: any export of it is
//   refused.
// - A guest write to a ready mirror's source is copied by the mirror on 7.2 (its dirty bitmap
//   sits on the source; len and offset grow by the dirty granules); on 10.0 the export writes
//   below mirror_top, whose bitmap never sees it.

import { HANG_GUARD_MS } from '@qmpkit/test-support';
import { bitmapInfo, filterNodeInfo, nullCoInfo } from '../block-node-info.js';
import {
  event,
  generic,
  ok,
  type Pattern,
  pollBlockJob,
  run,
  type Step,
  send,
  status,
} from '../scenario.js';
import { SIZE } from './case-builder.js';
import type { JobModel } from './model.js';
import { drainable, graphChanges, type ModelJob, type Prediction } from './model-support.js';
import type { ModelVersion } from './model-version.js';
import type { IoAction, IoCoverage, IoRow, Setup } from './vocabulary.js';

/** The NBD server's listening socket, relative to the case's directory. */
export const NBD_SOCKET = 'nbd.sock';

/** A mirror's dirty-bitmap granularity over null-co (no cluster size): 64 KiB. */
const MIRROR_GRANULARITY = 65536;

interface ExportRecord {
  readonly id: string;
  readonly node: string;
  readonly name: string;
  readonly writable: boolean;
}

export interface IoPrediction extends Prediction {
  readonly io: IoCoverage[];
}

/** A job's nodes are its own until its clean-up (before COMPLETED or CANCELLED). */
const holdsNodes = (job: ModelJob): boolean =>
  job.status !== 'concluded' && job.status !== 'aborting';

export class IoModel {
  readonly #jobs: JobModel;
  readonly #setup: Setup;
  readonly #version: ModelVersion;
  /** Situations met that a known difference is tied to (held-back.ts). */
  readonly traits = new Set<string>();
  #serverRunning = false;
  /** How many of JobModel's pivots the exports have followed. */
  #pivotsSeen = 0;
  /** Newest first, as query-block-exports lists them. */
  #exports: ExportRecord[] = [];

  constructor(jobs: JobModel, setup: Setup, version: ModelVersion) {
    this.#jobs = jobs;
    this.#setup = setup;
    this.#version = version;
  }

  /** The job holding `node` as its source or target, if any. */
  #holder(node: string): ModelJob | undefined {
    return this.#jobs.jobs.find((j) => holdsNodes(j) && (j.device === node || j.target === node));
  }

  #row(node: string): IoRow {
    const job = this.#holder(node);
    return job === undefined ? 'none' : (job.status as IoRow);
  }

  /** 10.0: `times` changes of the graph under the write lock (every job drained). */
  #graph(times: number): Step[] {
    if (!this.#version.graphLockDrainsAll) return [];
    return graphChanges(this.#jobs.jobs, this.#setup.nodes, times);
  }

  /** Letting go of an export attached to `node`: two drains of it, and on 10.0 a graph change. */
  #detach(node: string): Step[] {
    const using = this.#jobs.jobs.filter(
      (j) => holdsNodes(j) && (j.device === node || j.target === node),
    );
    const drained = drainable(using, this.#setup.nodes);
    const pair = [
      ...drained.map((j) => status(j.id, j.status === 'ready' ? 'standby' : 'paused')),
      ...drained.map((j) => status(j.id, j.status)),
    ];
    return [...pair, ...pair, ...this.#graph(1)];
  }

  apply(action: IoAction): IoPrediction {
    this.#followPivots();
    switch (action.kind) {
      case 'nbd-server-start': {
        const request = send('nbd-server-start', {
          addr: { type: 'unix', data: { path: NBD_SOCKET } },
        });
        if (this.#serverRunning) return steps([request, generic('NBD server already running')]);
        this.#serverRunning = true;
        return steps([request, ok()]);
      }
      case 'nbd-server-stop':
        return this.#serverStop();
      case 'export-add':
        return this.#exportAdd(action);
      case 'export-del': {
        const request = send('block-export-del', { id: action.id });
        const exp = this.#exports.find((e) => e.id === action.id);
        if (exp === undefined)
          return steps([request, generic(`Export '${action.id}' is not found`)]);
        const io: IoCoverage[] = [{ column: 'export-del', row: this.#row(exp.node) }];
        this.#exports = this.#exports.filter((e) => e !== exp);
        return steps(
          [request, ...this.#detach(exp.node), event('BLOCK_EXPORT_DELETED', { id: exp.id }), ok()],
          io,
        );
      }
      case 'query-exports':
        return steps([
          send('query-block-exports'),
          ok(
            this.#exports.map((e) => ({
              id: e.id,
              type: 'nbd',
              'node-name': e.node,
              'shutting-down': false,
            })),
          ),
        ]);
      case 'query-nodes':
        return this.#queryNodes();
      case 'guest-write':
        return this.#guestWrite(action);
    }
  }

  /** Exports of a mirror's source that pivoted to its target now export the target. */
  #followPivots(): void {
    for (; this.#pivotsSeen < this.#jobs.pivoted.length; this.#pivotsSeen++) {
      const { from, to } = this.#jobs.pivoted[this.#pivotsSeen] as { from: string; to: string };
      this.#exports = this.#exports.map((e) => (e.node === from ? { ...e, node: to } : e));
    }
  }

  #serverStop(): IoPrediction {
    const request = send('nbd-server-stop');
    if (!this.#serverRunning) return steps([request, generic('NBD server not running')]);
    this.#serverRunning = false;
    const oldestFirst = [...this.#exports].reverse();
    this.#exports = [];
    const before: Step[] = [];
    const io: IoCoverage[] = [];
    for (const exp of oldestFirst) {
      io.push({ column: 'server-stop', row: this.#row(exp.node) });
      before.push(...this.#detach(exp.node));
      if (!this.#version.graphLockDrainsAll) before.push(deleted(exp));
    }
    if (this.#version.graphLockDrainsAll) before.push(...[...oldestFirst].reverse().map(deleted));
    return steps([request, ...before, ok()], io);
  }

  /** block-export-add, its checks in blk_exp_add's order, then the NBD server's. */
  #exportAdd(a: Extract<IoAction, { kind: 'export-add' }>): IoPrediction {
    const request = send('block-export-add', {
      type: 'nbd',
      id: a.id,
      'node-name': a.node,
      ...(a.writable ? { writable: true } : {}),
      ...(a.name === undefined ? {} : { name: a.name }),
    });
    const refused = (reply: Step, before: Step[] = []): IoPrediction =>
      steps([request, ...before, reply], [{ column: 'export-refused', row: this.#row(a.node) }]);
    if (!/^[A-Za-z][A-Za-z0-9_.-]*$/.test(a.id)) return refused(generic('Invalid block export id'));
    if (this.#exports.some((e) => e.id === a.id)) {
      return refused(generic(`Block export id '${a.id}' is already in use`));
    }
    if (!this.#setup.nodes.has(a.node)) {
      return refused(generic(`Cannot find device='' nor node-name='${a.node}'`));
    }
    const conflict = this.#permissionConflict(a.node, a.writable);
    if (conflict !== undefined) {
      return refused(generic(conflict), this.#graph(1));
    }
    // Attached: from here a refusal lets go of the node again.
    const attached = this.#graph(1);
    const name = a.name ?? a.node;
    if (!this.#serverRunning) {
      return refused(generic('NBD server not running'), [...attached, ...this.#detach(a.node)]);
    }
    if (this.#exports.some((e) => e.name === name)) {
      return refused(generic(`NBD server already has export named '${name}'`), [
        ...attached,
        ...this.#detach(a.node),
      ]);
    }
    this.#exports.unshift({ id: a.id, node: a.node, name, writable: a.writable });
    return steps([request, ...attached, ok()], [{ column: 'export-add', row: this.#row(a.node) }]);
  }

  /** Why the node's users refuse the export's permissions (block.c's conflict text), if they do. */
  #permissionConflict(node: string, writable: boolean): string | undefined {
    const job = this.#holder(node);
    if (job === undefined) return undefined;
    const root = `an unnamed block device (uses node '${node}' as 'root' child)`;
    if (job.target === node && job.profile.type === 'mirror') {
      const perms = writable ? 'consistent read, write' : 'consistent read';
      return `Permission conflict on node '${node}': permissions '${perms}' are both required by ${root} and unshared by ${root}.`;
    }
    if (job.device === node && job.profile.type === 'backup' && writable) {
      return `Permission conflict on node '${node}': permissions 'write' are both required by ${root} and unshared by node '${job.filter}' (uses node '${node}' as 'file' child).`;
    }
    return undefined;
  }

  /**
   * qemu-io writes through export `id`. Predicted when nothing it sets in motion is left to
   * timing: the node has no job, or the job does not see the write, or (7.2) it is a ready,
   * unthrottled mirror that copies the dirty granules and comes to rest (polled). Otherwise the
   * action is left out.
   */
  #guestWrite(a: Extract<IoAction, { kind: 'guest-write' }>): IoPrediction {
    const exp = this.#exports.find((e) => e.id === a.id);
    if (exp === undefined || !exp.writable || !this.#serverRunning) return steps([]);
    const job = this.#holder(exp.node);
    const copies =
      job !== undefined &&
      job.profile.type === 'mirror' &&
      job.device === exp.node &&
      !this.#version.graphLockDrainsAll;
    if (copies && !(job.status === 'ready' && job.speed === 0 && !job.userPaused)) {
      return steps([]);
    }
    const write = qemuIoWrite(exp.name, a);
    const io: IoCoverage[] = [{ column: 'guest-write', row: this.#row(exp.node) }];
    if (!copies) return steps([write], io);
    const first = Math.floor(a.offset / MIRROR_GRANULARITY);
    const last = Math.floor((a.offset + a.length - 1) / MIRROR_GRANULARITY);
    const grown = (last - first + 1) * MIRROR_GRANULARITY;
    const len = job.profile.len + grown;
    job.profile = { ...job.profile, len };
    job.offset += grown;
    const offset = job.offset;
    const settled: Step = {
      ...pollBlockJob(
        job.id,
        `copied the guest write: offset and len ${offset}`,
        (j) => j.busy === false && j.offset === offset && j.len === len,
      ),
      timeoutMs: HANG_GUARD_MS,
    };
    return steps([write, settled], io);
  }

  /** query-named-block-nodes: the filters of the jobs holding them (newest first), then the nodes. */
  #queryNodes(): IoPrediction {
    const filtered = this.#jobs.jobs.filter((j) => j.filter !== undefined && holdsNodes(j));
    // A finished job's filter goes at its clean-up, which waits for finalization: left out.
    if (filtered.some((j) => j.status === 'waiting' || j.status === 'pending')) return steps([]);
    const onNode = new Map<string, Pattern[]>();
    const filters: Pattern[] = [];
    for (const job of filtered) {
      const { filter: own, source } = this.#jobBitmaps(job);
      if (source !== undefined) onNode.set(job.device, [source]);
      const driver = job.profile.type === 'backup' ? 'copy-before-write' : 'mirror_top';
      filters.push(filterNodeInfo(job.filter as string, driver, SIZE, own));
    }
    const nodes = [...this.#setup.nodes]
      .reverse()
      .map((node) => nullCoInfo(node, SIZE, onNode.get(node)));
    const io: IoCoverage[] = filtered.length
      ? filtered.map((j) => ({ column: 'query-nodes', row: j.status as IoRow }))
      : [{ column: 'query-nodes', row: 'none' }];
    return steps([send('query-named-block-nodes', { flat: true }), ok([...filters, ...nodes])], io);
  }

  /**
   * A job's anonymous bitmaps (scenarios/job-bitmaps.ts): a backup's copy bitmap (what is left to
   * copy) on its source (7.2) or last on its filter (10.0), beside the filter's access (all set)
   * and done bitmaps; a mirror's dirty bitmap (empty at rest) on its source, recording (7.2), or
   * on mirror_top, not recording (10.0).
   */
  #jobBitmaps(job: ModelJob): { filter: Pattern[]; source?: Pattern } {
    const anonymous = (count: number, recording = false): Pattern =>
      bitmapInfo(undefined, { recording, count });
    const on10 = this.#version.graphLockDrainsAll;
    if (job.profile.type === 'backup') {
      const left = anonymous(job.profile.len - job.offset);
      const own = [anonymous(SIZE), anonymous(0)];
      return on10 ? { filter: [...own, left] } : { filter: own, source: left };
    }
    const dirty = job.profile.len - job.offset;
    return on10 ? { filter: [anonymous(dirty)] } : { filter: [], source: anonymous(dirty, true) };
  }
}

const steps = (list: Step[], io: IoCoverage[] = []): IoPrediction => ({
  steps: list,
  coverage: [],
  io,
});

const deleted = (exp: ExportRecord): Step => event('BLOCK_EXPORT_DELETED', { id: exp.id });

/** The real qemu-io writing through the export named `name`; it must print what it wrote. */
export function qemuIoWrite(
  name: string,
  w: { offset: number; length: number; pattern: number },
): Step {
  const uri = `nbd+unix:///${name}?socket=${NBD_SOCKET}`;
  const command = `write -P ${w.pattern} ${w.offset} ${w.length}`;
  return run(
    'bash',
    ['-o', 'pipefail', '-c', `qemu-io -f raw -c '${command}' '${uri}' | grep -v ' ops; '`],
    { stdout: `wrote ${w.length}/${w.length} bytes at offset ${w.offset}\n` },
  );
}
