// A mirror's copy mode after QEMU 8.2: `block-job-change` switches a running mirror from
// background to write-blocking, and `query-block-jobs` reports `actively-synced` for mirrors
// (block/mirror.c: mirror_change, mirror_query). Only profiles with `mirrorCopyModeChange` use
// this module. What was measured on QEMU 10.0.2:
//
// - block-job-change: a job id that is no block job → DeviceNotActive "Block job 'x' not found";
//   then the job verb `change` (running, paused, ready, standby); then a job other than a mirror
//   (a backup, a stream, …) → "Job type does not support change". For a mirror only the copy mode
//   counts — the union's `type` is not compared with the job's: a type without a `copy-mode`
//   member asks for the first mode, background. The mode it already has: `{}`. Background from
//   write-blocking: "Change to copy mode 'background' is not implemented". No event either way.
// - actively-synced: false until a write-blocking mirror has converged (READY) and its loop has
//   run once in write-blocking mode: at READY for one started (or switched while copying) in that
//   mode; for one switched while ready, at its next ready-loop iteration, which QEMU schedules
//   every BLOCK_JOB_SLICE_TIME (100 ms) — the simulator takes the end of that period. It stays
//   true through pending and concluded.

import type { MirrorCopyMode } from '@qmpkit/qapi-types/10.0';
import { commandError, generic } from '../jobs/blockdev/context.js';
import type { JobRun } from '../jobs/driver.js';
import type { JobRuntime } from '../runtime/job-runtime.js';

/** QEMU's BLOCK_JOB_SLICE_TIME: how often a ready mirror's loop wakes. */
const READY_LOOP_PERIOD_NS = 100_000_000;

/** The statuses in which a job accepts the verb `change` (QEMU 10.0's job verb table). */
const CHANGE_ALLOWED: ReadonlySet<string> = new Set(['running', 'paused', 'ready', 'standby']);

interface MirrorMode {
  readonly run: JobRun;
  mode: MirrorCopyMode;
  /** Clock time from which a converged write-blocking mirror counts as actively synced. */
  syncedFrom: number;
}

/** The copy modes of the mirrors one simulator runs. */
export class MirrorCopyModes {
  readonly #rt: JobRuntime;
  readonly #mirrors = new Map<string, MirrorMode>();

  constructor(rt: JobRuntime) {
    this.#rt = rt;
  }

  /** A mirror job `id` was just created with copy mode `mode` (default background). */
  started(id: string, mode: MirrorCopyMode | undefined): void {
    const run = this.#rt.drivers.get(id);
    if (run === undefined || run.state.kind !== 'mirror') return;
    this.prune();
    this.#mirrors.set(id, { run, mode: mode ?? 'background', syncedFrom: 0 });
  }

  /** `block-job-change`. */
  change(args: {
    readonly id: string;
    readonly type: string;
    readonly 'copy-mode'?: string;
  }): Record<string, never> {
    const { engine } = this.#rt;
    const job = engine.job(args.id);
    if (job === undefined || !job.isBlockJob) {
      throw commandError('DeviceNotActive', `Block job '${args.id}' not found`);
    }
    if (!CHANGE_ALLOWED.has(job.status)) {
      throw generic(`Job '${job.id}' in state '${job.status}' cannot accept command verb 'change'`);
    }
    const mirror = this.#mirrors.get(job.id);
    if (mirror === undefined || mirror.run !== this.#rt.drivers.get(job.id)) {
      throw generic('Job type does not support change');
    }
    const wanted = (args.type === 'mirror' ? args['copy-mode'] : undefined) ?? 'background';
    if (wanted === mirror.mode) return {};
    if (wanted !== 'write-blocking') {
      throw generic(`Change to copy mode '${wanted}' is not implemented`);
    }
    mirror.mode = 'write-blocking';
    const state = mirror.run.state;
    // From now on guest writes through mirror_top go to the target synchronously (job-data.ts).
    if (state.kind === 'mirror') state.writeBlocking = true;
    mirror.syncedFrom =
      state.kind === 'mirror' && state.phase === 'ready'
        ? this.#rt.clock.now() + READY_LOOP_PERIOD_NS
        : 0;
    return {};
  }

  /** `query-block-jobs` entries with `actively-synced` added to every mirror's. */
  decorate<T extends { readonly type: string; readonly device: string }>(
    entries: readonly T[],
  ): Array<T | (T & { 'actively-synced': boolean })> {
    this.prune();
    return entries.map((entry) => {
      if (entry.type !== 'mirror') return entry;
      const mirror = this.#mirrors.get(entry.device);
      return { ...entry, 'actively-synced': mirror !== undefined && this.#synced(mirror) };
    });
  }

  /** Forgets mirrors whose job is gone. */
  private prune(): void {
    for (const [id, mirror] of this.#mirrors) {
      if (this.#rt.engine.job(id) === undefined) this.#mirrors.delete(id);
      else if (this.#rt.drivers.get(id) !== undefined && this.#rt.drivers.get(id) !== mirror.run) {
        this.#mirrors.delete(id);
      }
    }
  }

  #synced(mirror: MirrorMode): boolean {
    const state = mirror.run.state;
    return (
      mirror.mode === 'write-blocking' &&
      state.kind === 'mirror' &&
      state.phase === 'ready' &&
      this.#rt.clock.now() >= mirror.syncedFrom
    );
  }
}
