// Random sequences of QMP verbs and driver signals over several jobs and transactions. The driver
// keeps to its side of the contract (it only reports what a coroutine could do in that state);
// the verbs are thrown at the engine blindly. Whatever happens, the invariants hold.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  BlockdevOnError,
  type Effect,
  type JobCommandArgs,
  JobEngine,
  JobEngineInvariantError,
  type JobResult,
  type JobType,
} from '../src/index.js';
import { referenceAllowsTransition } from './reference-tables.js';

const SLOTS = ['j0', 'j1', 'j2', 'j3', 'nope'] as const;
const TYPES: JobType[] = ['mirror', 'stream', 'backup', 'commit', 'create'];
const COMMANDS = [
  'job-pause',
  'job-resume',
  'job-cancel',
  'job-complete',
  'job-finalize',
  'job-dismiss',
  'block-job-pause',
  'block-job-resume',
  'block-job-cancel',
  'block-job-complete',
  'block-job-finalize',
  'block-job-dismiss',
  'block-job-set-speed',
] as const satisfies readonly (keyof JobCommandArgs)[];

const slot = fc.constantFrom(...SLOTS);
const op = fc.oneof(
  fc.record({
    kind: fc.constant('create' as const),
    id: slot,
    type: fc.constantFrom(...TYPES),
    activeCommit: fc.boolean(),
    autoFinalize: fc.boolean(),
    autoDismiss: fc.boolean(),
    speed: fc.constantFrom(0, 0, 1, 100, -1),
    startNow: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('group' as const),
    a: slot,
    b: slot,
    autoFinalizeA: fc.boolean(),
    autoFinalizeB: fc.boolean(),
    autoDismiss: fc.boolean(),
  }),
  fc.record({ kind: fc.constantFrom('start' as const, 'rollback' as const), id: slot }),
  fc.record({
    kind: fc.constant('verb' as const),
    command: fc.constantFrom(...COMMANDS),
    id: slot,
    force: fc.boolean(),
    speed: fc.constantFrom(-1, 0, 1, 1000),
  }),
  fc.record({
    kind: fc.constantFrom(
      'sleep' as const,
      'wake' as const,
      'pausePoint' as const,
      'converged' as const,
      'finish' as const,
      'fail' as const,
      'pauseInternal' as const,
      'resumeInternal' as const,
      'progress' as const,
    ),
    id: slot,
  }),
  fc.record({
    kind: fc.constant('ioError' as const),
    id: slot,
    policy: fc.constantFrom(...BlockdevOnError),
    nospace: fc.boolean(),
    read: fc.boolean(),
  }),
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

/** Watches every effect the engine returns and checks the invariants as they stream by. */
class Checker {
  readonly engine = new JobEngine();
  /** Status per ID as the events told it ('undefined' before creation). */
  readonly seen = new Map<string, string>();
  readonly aborted = new Set<string>();
  readonly internalPauses = new Map<string, number>();
  readonly everCreated = new Set<string>();

  take(result: JobResult, what: string): JobResult {
    let previous: Effect | undefined;
    for (const effect of result.effects) {
      if (effect.type === 'event') {
        if (effect.event === 'JOB_STATUS_CHANGE') {
          const { id, status } = effect.data;
          // An ID freed by `null` may be taken again by a new job, which starts from undefined.
          const last = this.seen.get(id) ?? 'undefined';
          const from = last === 'null' ? 'undefined' : last;
          expect(status, `${what}: ${id} ${from} → ${status} repeats its status`).not.toBe(from);
          expect(
            referenceAllowsTransition(from, status),
            `${what}: ${id} ${from} → ${status}`,
          ).toBe(true);
          this.seen.set(id, status);
          if (status === 'created') this.everCreated.add(id);
          if (status === 'aborting') this.aborted.add(id);
          if (status === 'null') {
            this.aborted.delete(id);
            this.lastCurrent.delete(id);
            this.internalPauses.delete(id);
          }
        } else if (effect.event === 'BLOCK_JOB_READY') {
          expect(previous).toEqual({
            type: 'event',
            event: 'JOB_STATUS_CHANGE',
            data: { id: effect.data.device, status: 'ready' },
          });
        } else if (effect.event === 'BLOCK_JOB_PENDING') {
          expect(previous).toEqual({
            type: 'event',
            event: 'JOB_STATUS_CHANGE',
            data: { id: effect.data.id, status: 'pending' },
          });
        } else if (
          effect.event === 'BLOCK_JOB_CANCELLED' ||
          effect.event === 'BLOCK_JOB_COMPLETED'
        ) {
          const status = this.seen.get(effect.data.device);
          expect(['pending', 'aborting']).toContain(status);
          if (effect.event === 'BLOCK_JOB_CANCELLED')
            expect(this.aborted.has(effect.data.device)).toBe(true);
        }
        if (effect.event !== 'JOB_STATUS_CHANGE') {
          const id = 'device' in effect.data ? effect.data.device : effect.data.id;
          expect(['mirror', 'stream', 'backup', 'commit']).toContain(this.typeOf.get(id));
        }
      }
      previous = effect;
    }
    this.checkState(what);
    return result;
  }

  readonly typeOf = new Map<string, JobType>();
  readonly lastCurrent = new Map<string, number>();

  checkState(what: string): void {
    const e = this.engine;
    const infos = e.queryJobs();
    const ids = infos.map((j) => j.id);
    expect(new Set(ids).size, `${what}: IDs unique`).toBe(ids.length);
    for (const [id, status] of this.seen) {
      if (status === 'null' || status === 'undefined')
        expect(e.has(id), `${what}: ${id} gone`).toBe(false);
      else expect(e.job(id)?.status, `${what}: ${id} status as announced`).toBe(status);
    }
    for (const info of infos) {
      expect([
        'created',
        'running',
        'paused',
        'ready',
        'standby',
        'waiting',
        'pending',
        'concluded',
      ]).toContain(info.status);
      if (info.status === 'concluded') {
        // A concluded job reports an error exactly when it failed or was cancelled.
        expect('error' in info, `${what}: ${info.id} error iff aborted`).toBe(
          this.aborted.has(info.id),
        );
      }
      // current-progress never goes back.
      const before = this.lastCurrent.get(info.id) ?? 0;
      expect(info['current-progress']).toBeGreaterThanOrEqual(before);
      this.lastCurrent.set(info.id, info['current-progress']);
    }
    for (const b of e.queryBlockJobs()) {
      const snap = e.job(b.device);
      expect(snap?.pauseCount).toBeGreaterThanOrEqual(0);
      expect(b.paused).toBe((snap?.pauseCount ?? 0) > 0);
      expect(b.ready).toBe(b.status === 'ready' || b.status === 'standby');
      if (b.busy) expect(['running', 'ready']).toContain(b.status);
    }
  }

  apply(o: Op): void {
    const e = this.engine;
    const what = JSON.stringify(o);
    switch (o.kind) {
      case 'create': {
        const r = this.take(
          e.create({
            id: o.id,
            type: o.type,
            activeCommit: o.activeCommit,
            autoFinalize: o.autoFinalize,
            autoDismiss: o.autoDismiss,
            speed: o.speed,
          }),
          what,
        );
        if (r.ok) this.typeOf.set(o.id, o.type);
        if (r.ok && o.startNow) this.take(e.start(o.id), what);
        break;
      }
      case 'group': {
        if (o.a === o.b || e.has(o.a) || e.has(o.b)) break;
        const txn = e.newTransaction();
        for (const [id, af] of [
          [o.a, o.autoFinalizeA],
          [o.b, o.autoFinalizeB],
        ] as const) {
          const r = this.take(
            e.create({
              id,
              type: 'backup',
              transaction: txn,
              autoFinalize: af,
              autoDismiss: o.autoDismiss,
            }),
            what,
          );
          if (r.ok) this.typeOf.set(id, 'backup');
        }
        for (const id of [o.a, o.b])
          if (e.job(id)?.status === 'created') this.take(e.start(id), what);
        break;
      }
      case 'start':
        if (e.job(o.id)?.status === 'created') this.take(e.start(o.id), what);
        break;
      case 'rollback':
        if (e.has(o.id)) this.take(e.rollback(o.id), what);
        break;
      case 'verb': {
        const args =
          o.command === 'block-job-set-speed'
            ? { device: o.id, speed: o.speed }
            : o.command === 'block-job-cancel'
              ? { device: o.id, force: o.force }
              : o.command.startsWith('block-job-') &&
                  o.command !== 'block-job-finalize' &&
                  o.command !== 'block-job-dismiss'
                ? { device: o.id }
                : { id: o.id };
        const existed = e.has(o.id);
        const r = this.take(e.execute(o.command, args as never), what);
        if (!r.ok) expect(r.effects).toEqual([]);
        if (r.ok && (o.command === 'job-dismiss' || o.command === 'block-job-dismiss')) {
          expect(existed).toBe(true);
          expect(this.seen.get(o.id)).toBe('null');
        }
        break;
      }
      case 'sleep':
        this.take(e.sleep(o.id), what);
        break;
      case 'wake':
        this.take(e.wake(o.id), what);
        break;
      case 'pausePoint':
        this.take(e.pausePoint(o.id), what);
        break;
      case 'converged': {
        const j = e.job(o.id);
        if (j?.status === 'running' && j.hasReadyPhase) this.take(e.converged(o.id), what);
        break;
      }
      case 'finish':
        this.take(e.runFinished(o.id), what);
        break;
      case 'fail':
        this.take(e.runFinished(o.id, { error: 'Input/output error' }), what);
        break;
      case 'pauseInternal':
        if (e.has(o.id)) {
          this.take(e.pauseInternal(o.id), what);
          this.internalPauses.set(o.id, (this.internalPauses.get(o.id) ?? 0) + 1);
        }
        break;
      case 'resumeInternal':
        if ((this.internalPauses.get(o.id) ?? 0) > 0) {
          this.internalPauses.set(o.id, (this.internalPauses.get(o.id) ?? 0) - 1);
          this.take(e.resumeInternal(o.id), what);
        }
        break;
      case 'progress':
        this.take(e.progress(o.id, { workDone: 10, increaseRemaining: 5 }), what);
        break;
      case 'ioError':
        this.take(
          e.ioError(o.id, {
            operation: o.read ? 'read' : 'write',
            policy: o.policy,
            nospace: o.nospace,
          }) as JobResult,
          what,
        );
        break;
    }
  }

  /** Bring every job to null with the means a user and a driver have. */
  windDown(): void {
    const e = this.engine;
    for (let round = 0; round < 10 && e.ids().length > 0; round++) {
      for (const id of e.ids()) {
        while ((this.internalPauses.get(id) ?? 0) > 0 && e.has(id)) {
          this.internalPauses.set(id, (this.internalPauses.get(id) ?? 0) - 1);
          this.take(e.resumeInternal(id), 'wind down');
        }
        const j = e.job(id);
        if (j === undefined) continue;
        switch (j.status) {
          case 'created':
            this.take(e.rollback(id), 'wind down');
            break;
          case 'running':
          case 'ready':
          case 'paused':
          case 'standby':
          case 'waiting':
            this.take(e.jobCancel(id), 'wind down');
            if (e.job(id)?.run === 'busy' || e.job(id)?.run === 'sleeping') {
              this.take(e.runFinished(id), 'wind down');
            }
            break;
          case 'pending':
            this.take(e.jobFinalize(id), 'wind down');
            break;
          case 'concluded':
            this.take(e.jobDismiss(id), 'wind down');
            break;
        }
      }
    }
    expect(e.ids()).toEqual([]);
    for (const id of this.everCreated) expect(this.seen.get(id), `${id} ends in null`).toBe('null');
  }
}

describe('random verbs and driver signals', () => {
  test('never break an invariant, and every job can be brought to null', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 50 }), (ops) => {
        const c = new Checker();
        try {
          for (const o of ops) c.apply(o);
          c.windDown();
        } catch (error) {
          if (JobEngineInvariantError.isInstance(error)) {
            throw new Error(`forbidden edge: ${error.message}`);
          }
          throw error;
        }
      }),
      { numRuns: 400 },
    );
  });

  test('a driver that breaks its contract gets a forbidden-edge error, not a silent state', () => {
    const e = new JobEngine();
    e.create({ id: 'm', type: 'mirror' });
    e.start('m');
    e.converged('m');
    expect(() => e.converged('m')).toThrow(JobEngineInvariantError);
    expect(() => e.start('m')).toThrow(/transition ready → running is forbidden/);
    try {
      e.start('m');
    } catch (error) {
      expect(JobEngineInvariantError.isInstance(error)).toBe(true);
      expect(error).toMatchObject({ jobId: 'm', from: 'ready', to: 'running' });
    }
  });
});
