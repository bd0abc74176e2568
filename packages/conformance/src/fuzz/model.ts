// The differential tester's model of QEMU's job state machine (7.2, and 10.0 where its profile
// in model-version.ts says it differs), written from
// docs/reference/job-semantics.md (section numbers below refer to it) and from what real QEMU
// answered the tester, and nothing else: it shares no code or assumption with @qmpkit/job-engine
// or the simulator it checks.
//
// The model turns one abstract action (start a job, apply a verb, query) into the scenario steps
// that send it and expect QEMU's exact answer: every event in order, the reply in its place. It
// only acts on quiescent jobs (every job idle: asleep in a rate limiter, paused, ready, or
// finished), so that "before the reply" and "after the reply" are fixed by QEMU's code, not by
// timing; when an action sets a job in motion, the model adds the wait that proves it has come to
// rest again (the event it ends with, or a poll for `busy: false` at the predicted offset).
//
// One piece on purpose (about 800 lines): JobModel's methods all read and write the same private
// records (the live and dismissed jobs, transaction numbers, how far earlier streams got, the
// bitmaps, the version's profile) while they assemble one action's steps in order; split into
// files, they would reach that state through accessors made for it. What stands apart already
// does: the shared helpers and the effect type (model-support.ts), dirty bitmaps
// (model-bitmaps.ts), the 7.2/10.0 differences (model-version.ts) and the action vocabulary
// (vocabulary.ts).

import {
  blockJobError,
  cancelled,
  completed,
  fails,
  generic,
  ok,
  pendingEvent,
  type Step,
  send,
  status,
  verbRefused,
} from '../scenario.js';
import { SIZE } from './case-builder.js';
import { BitmapModel, type SyncedBitmap, syncedBitmap } from './model-bitmaps.js';
import {
  backupArgs,
  becomeReady,
  drainable,
  type Effect,
  ERRNO_TEXT,
  effect,
  errorAction,
  graphChanges,
  idleAt,
  MIRROR_BUFFER,
  type ModelJob,
  notFound,
  type Prediction,
  progress,
  queryBlockJobs,
  queryJobs,
  releasePause,
  startArgs,
} from './model-support.js';
import {
  creationChanges,
  endChanges,
  freedChanges,
  MODEL_7_2,
  type ModelVersion,
} from './model-version.js';
import {
  type Action,
  ALLOWED,
  type BackupSpec,
  bitmapArgs,
  type Coverage,
  type CoveredStatus,
  type ErrorPolicy,
  type InjectedError,
  isBlockFamily,
  type JobProfile,
  type JobStatus,
  type Setup,
  type StartSpec,
  VERB_OF,
  type Verb,
  verbCommand,
} from './vocabulary.js';

export type { ModelJob, Prediction };

/** The statuses of a job still in its run (its coroutine not finished). */
const IN_RUN: readonly JobStatus[] = ['running', 'paused', 'ready', 'standby'];

export class JobModel {
  /** Live jobs (not yet dismissed), newest first as QEMU lists them (§1). */
  readonly #jobs: ModelJob[] = [];
  readonly #dismissed = new Set<string>();
  /** Situations met so far that a known difference is tied to (see held-back.ts). */
  readonly #traits = new Set<string>();
  /**
   * How far earlier streams of a node got: what they copied is now allocated in the top layer, so
   * a later stream skips it; a finished stream also cut the backing chain (nothing left to do).
   */
  readonly #streamed = new Map<string, number | 'all'>();
  readonly #setup: Setup;
  readonly #version: ModelVersion;
  /** The dirty bitmaps of the (null-co) nodes. */
  readonly #bitmaps: BitmapModel;
  #nextTxn = 1;

  constructor(setup: Setup, version: ModelVersion = MODEL_7_2) {
    this.#setup = setup;
    this.#version = version;
    this.#bitmaps = new BitmapModel(setup.nodes, SIZE);
  }

  get jobs(): readonly ModelJob[] {
    return this.#jobs;
  }

  /** Situations met so far that a known difference is tied to (see held-back.ts). */
  get traits(): ReadonlySet<string> {
    return this.#traits;
  }

  /**
   * Mirrors that completed by pivoting, oldest first: every other user of `from` (an NBD
   * export, model-io.ts) now uses `to` (bdrv_replace_node; seen on QEMU 7.2 and 10.0).
   */
  readonly pivoted: Array<{ readonly from: string; readonly to: string }> = [];

  /** The steps that perform `action` and expect QEMU's answer; updates the model. */
  apply(action: Action): Prediction {
    switch (action.kind) {
      case 'verb':
        return this.#verb(action.verb, action.id, action.speed ?? 1);
      case 'bitmap': {
        const a = action.action;
        const reply = this.#bitmaps.command(a);
        return this.#assemble(
          send(`block-dirty-bitmap-${a.command}`, bitmapArgs(a)),
          effect([], [], reply),
        );
      }
      case 'bitmap-transaction': {
        // The transaction's drain of everything comes first, as for any transaction (§5.5).
        const drained = this.#transaction([], undefined);
        const reply = this.#bitmaps.transaction(action.actions);
        const actions = action.actions.map((a) => ({
          type: `block-dirty-bitmap-${a.command}`,
          data: bitmapArgs(a),
        }));
        return this.#assemble(
          send('transaction', { actions }),
          reply === undefined ? drained : { ...drained, reply },
        );
      }
      case 'query-bitmaps':
        // A live job's filter node (backup's copy-before-write, with block-copy's own bitmaps
        // and a generated name) is listed too: not predicted, so not asked while one is there.
        if (this.#jobs.some((j) => j.status !== 'concluded')) return { steps: [], coverage: [] };
        return {
          steps: [send('query-named-block-nodes', { flat: true }), ok(this.#bitmaps.query())],
          coverage: [],
        };
      case 'backup': {
        const { kind: _, ...spec } = action;
        const args = backupArgs(spec);
        return this.#assemble(send('blockdev-backup', args), this.#transaction([spec], undefined));
      }
      case 'transaction': {
        const properties = action.mode ? { properties: { 'completion-mode': action.mode } } : {};
        const actions = action.backups.map((b) => ({
          type: 'blockdev-backup',
          data: backupArgs(b),
        }));
        return this.#assemble(
          send('transaction', { actions, ...properties }),
          this.#transaction(action.backups, action.mode),
        );
      }
      case 'mirror':
        return this.#assemble(
          send('blockdev-mirror', {
            ...startArgs(action),
            device: action.device,
            target: action.target,
            sync: 'full',
            ...(action.onSourceError ? { 'on-source-error': action.onSourceError } : {}),
            ...(action.onTargetError ? { 'on-target-error': action.onTargetError } : {}),
            ...(action.filter ? { 'filter-node-name': action.filter } : {}),
          }),
          this.#startPlain(
            action,
            'mirror',
            action.device,
            [action.device, action.target],
            { read: action.onSourceError, write: action.onTargetError },
            { target: action.target, ...(action.filter ? { filter: action.filter } : {}) },
          ),
        );
      case 'stream':
        return this.#assemble(
          send('block-stream', {
            ...startArgs(action),
            device: action.device,
            ...(action.onError ? { 'on-error': action.onError } : {}),
          }),
          this.#startPlain(action, 'stream', action.device, [action.device], {
            read: action.onError,
            write: action.onError,
          }),
        );
      case 'commit': {
        const key = action.topNode ? `${action.device}/${action.topNode}` : action.device;
        return this.#assemble(
          send('block-commit', {
            ...startArgs(action),
            device: action.device,
            ...(action.topNode ? { 'top-node': action.topNode } : {}),
            ...(action.baseNode ? { 'base-node': action.baseNode } : {}),
            ...(action.onError ? { 'on-error': action.onError } : {}),
          }),
          this.#startPlain(action, 'commit', key, [action.device], {
            read: action.onError,
            write: action.onError,
          }),
        );
      }
      default:
        throw new Error(`${action.kind} is an io action: model-io.ts predicts it`);
    }
  }

  #assemble(command: Step, e: Effect): Prediction {
    return { steps: [command, ...e.before, e.reply ?? ok(), ...e.after], coverage: [] };
  }

  #find(id: string): ModelJob | undefined {
    return this.#jobs.find((j) => j.id === id);
  }

  #newJob(
    spec: StartSpec,
    profile: JobProfile,
    device: string,
    txn: number,
    policy: ErrorPolicy = 'report',
    synced?: SyncedBitmap,
    nodes: { target?: string; filter?: string } = {},
  ): ModelJob {
    const job: ModelJob = {
      ...nodes,
      ...(synced === undefined ? {} : { synced }),
      policy,
      offsetKnown: true,
      ioStatus: 'ok',
      stoppedByError: false,
      id: spec.id,
      profile,
      device,
      txn,
      autoFinalize: spec.autoFinalize,
      autoDismiss: spec.autoDismiss,
      status: 'running',
      userPaused: false,
      speed: spec.speed,
      offset: 0,
      completeRequested: false,
    };
    this.#dismissed.delete(spec.id);
    this.#jobs.unshift(job);
    return job;
  }

  #profile(key: string): JobProfile {
    const profile = this.#setup.profiles.get(key);
    if (profile === undefined) throw new Error(`the generator gave the model no profile '${key}'`);
    return { ...profile, key };
  }

  // ------------------------------------------------------------------------------------------
  // Starting jobs

  /**
   * blockdev-backup and transaction (§5.5, §5.8): drain every job first (even when the command
   * then fails), create each job, start them all inside the drained section, end the drain.
   */
  #transaction(backups: readonly BackupSpec[], mode: 'grouped' | 'individual' | undefined): Effect {
    const before: Step[] = [];
    const after: Step[] = [];
    const drained = drainable(this.#jobs, this.#setup.nodes);
    for (const j of drained) before.push(status(j.id, j.status === 'ready' ? 'standby' : 'paused'));
    // Each job resumes when the last of its nodes leaves the drain: its own filter node, made
    // when the job started, so the oldest job first (seen on QEMU 7.2).
    // Each is woken as it resumes: a throttled mirror, stream or commit gets one more chunk
    // through (§8.3, ids scenarios); a mirror with nothing left converges there and then.
    const resumed = [...this.#jobs].reverse().filter((j) => drained.includes(j));
    if (resumed.some((j, i) => drained[i] !== j))
      this.#traits.add('drain-resumes-in-another-order');
    const resumedAt = new Map<ModelJob, number>();
    for (const j of resumed) {
      before.push(status(j.id, j.status));
      resumedAt.set(j, before.length);
    }
    // Arguments are checked action by action; a failure rolls back the jobs made so far (§5.5).
    // The woken jobs run on only once the command has done so (their wake effects are added
    // below): a job that finishes then still holds its id here (seen on QEMU 7.2, seed 1001).
    const made: ModelJob[] = [];
    const txn = this.#nextTxn++;
    const taken = new Set<string>();
    let failure: Step | undefined;
    const changes = creationChanges('backup');
    for (const b of backups) {
      failure = this.#backupRefusal(b, taken);
      if (failure) {
        // A job id in use is refused by block_job_create, once the filter node is in.
        if (this.#find(b.id) !== undefined || taken.has(b.id))
          before.push(...this.#graph(changes.beforeJob + changes.onRefusal, made));
        break;
      }
      // Jobs made by earlier actions have not started: no drain shows on them.
      before.push(...this.#graph(changes.beforeJob, made));
      const key = b.sync === 'none' ? `backup-none:${b.device}` : `backup:${b.device}`;
      let jobProfile = this.#profile(key);
      const synced = b.bitmap === undefined ? undefined : syncedBitmap(b, b.bitmap);
      if (synced !== undefined) {
        // The bitmap is busy from here on; sync=bitmap/incremental copies its dirty bytes only.
        const dirty = this.#bitmaps.backupStarts(synced);
        if (synced.onlyDirty) jobProfile = { ...jobProfile, len: dirty };
      }
      const policy =
        (jobProfile.failure?.operation === 'write' ? b.onTargetError : b.onSourceError) ?? 'report';
      const job = this.#newJob(
        b,
        jobProfile,
        b.device,
        mode === 'grouped' ? txn : this.#nextTxn++,
        policy,
        synced,
        { target: b.target, ...(b.filter ? { filter: b.filter } : {}) },
      );
      taken.add(b.id);
      made.push(job);
      before.push(status(b.id, 'created'), ...this.#graph(changes.afterJob, made));
    }
    const woken = this.#wakeResumed(resumed, resumedAt, before);
    if (failure) {
      // Jobs made by earlier actions never started: aborting, concluded, null, no BLOCK_JOB_* (§5.5).
      for (const job of made) {
        before.push(
          status(job.id, 'aborting'),
          status(job.id, 'concluded'),
          status(job.id, 'null'),
        );
        this.#jobs.splice(this.#jobs.indexOf(job), 1);
        if (job.synced !== undefined) this.#bitmaps.backupEnds(job.synced, false, 0);
      }
      after.push(...woken);
      return effect(before, after, failure);
    }
    // Each job starts (and pauses: its source is drained) as its action commits, and resumes as
    // the action is cleaned up (its drained section ends).
    const committed = this.#version.transactionNewestFirst ? [...made].reverse() : made;
    for (const job of committed) before.push(status(job.id, 'running'), status(job.id, 'paused'));
    for (const job of committed) before.push(status(job.id, 'running'));
    after.push(...woken);
    for (const job of committed) {
      const started = this.#started(job);
      before.push(...started.before);
      after.push(...started.after);
    }
    return effect(before, after);
  }

  /**
   * The wake-ups at the end of a drain: what happens inside the command goes right after each
   * job's resume (at `resumedAt`, an index into `before`, which this fills in), the rest is
   * returned for after the reply.
   */
  #wakeResumed(
    resumed: readonly ModelJob[],
    resumedAt: ReadonlyMap<ModelJob, number>,
    before: Step[],
  ): Step[] {
    const woken: Step[] = [];
    // Last job first, so that inserting does not move the positions still to fill.
    const inside = resumed.map((j) => {
      const wake = this.#wake(j);
      woken.push(...wake.after);
      return wake.before;
    });
    for (let i = resumed.length - 1; i >= 0; i--) {
      const at = resumedAt.get(resumed[i] as ModelJob) as number;
      before.splice(at, 0, ...(inside[i] as Step[]));
    }
    return woken;
  }

  /** Why a backup action is refused, if it is (§5.2, §5.4). */
  #backupRefusal(b: BackupSpec, taken: ReadonlySet<string>): Step | undefined {
    for (const node of [b.device, b.target]) {
      if (!this.#setup.nodes.has(node))
        return generic(`Cannot find device='${node}' nor node-name='${node}'`);
    }
    // do_backup_common checks the bitmap before block_job_create checks the id.
    const bitmapRefusal =
      b.bitmap === undefined ? undefined : this.#bitmaps.backupRefusal(b.device, b.bitmap);
    if (bitmapRefusal !== undefined) return generic(bitmapRefusal);
    if (this.#find(b.id) !== undefined || taken.has(b.id))
      return generic(`Job ID '${b.id}' already in use`);
    return undefined;
  }

  /** blockdev-mirror, block-stream, block-commit: no drain; the job runs after the reply. */
  #startPlain(
    spec: StartSpec,
    kind: 'mirror' | 'stream' | 'commit',
    profileKey: string,
    nodes: string[],
    policies: { read?: ErrorPolicy | undefined; write?: ErrorPolicy | undefined } = {},
    jobNodes: { target?: string; filter?: string } = {},
  ): Effect {
    for (const node of nodes) {
      if (!this.#setup.nodes.has(node)) {
        return effect(
          [],
          [],
          kind === 'commit'
            ? fails('DeviceNotFound', `Device '${node}' not found`)
            : generic(`Cannot find device='${node}' nor node-name='${node}'`),
        );
      }
    }
    const key = `${kind}:${profileKey}`;
    const changes = creationChanges(kind, this.#profile(key).readyPhase);
    if (this.#find(spec.id) !== undefined) {
      return effect(
        this.#graph(changes.beforeJob + changes.onRefusal),
        [],
        generic(`Job ID '${spec.id}' already in use`),
      );
    }
    const device = nodes[0] as string;
    // A stream or commit holds its node until it is dismissed, concluded or not; a mirror's
    // filter node goes when it concludes (both seen on QEMU 7.2).
    const busy = this.#jobs.find(
      (j) => j.device === device && !(j.profile.readyPhase && j.status === 'concluded'),
    );
    if (busy) {
      // A mirror puts a filter node above its source; a stream or commit holds its node (§5.4).
      return effect(
        [],
        [],
        busy.profile.type === 'mirror' || busy.profile.readyPhase
          ? generic('Need a root block node')
          : generic(
              `Node '${device}' is busy: block device is in use by block job: ${busy.profile.type}`,
            ),
      );
    }
    const profile = this.#streamProfile(key);
    const policy = policies[profile.failure?.operation ?? 'read'] ?? 'report';
    // The other jobs see the graph changes around the new job's creation (10.0).
    const beforeJob = this.#graph(changes.beforeJob);
    const afterJob = this.#graph(changes.afterJob);
    const job = this.#newJob(spec, profile, device, this.#nextTxn++, policy, undefined, jobNodes);
    const started = this.#started(job);
    return effect(
      [
        ...beforeJob,
        status(job.id, 'created'),
        ...afterJob,
        status(job.id, 'running'),
        ...started.before,
      ],
      started.after,
    );
  }

  /** The profile for a job started with `key`, after what earlier streams copied. */
  #streamProfile(key: string): JobProfile {
    const p = this.#profile(key);
    const streamed = this.#streamed.get(key);
    if (streamed === undefined) return p;
    this.#traits.add('stream-after-stream');
    // Without a backing file the stream has nothing to do: its whole life, len 0, happens
    // inside the command (stream scenarios).
    if (streamed === 'all') {
      this.#traits.add('stream-after-finished-stream');
      return { ...p, key, len: 0, stops: [], instant: true };
    }
    return { ...p, key, stops: p.stops.filter((stop) => stop > streamed) };
  }

  /** What a job does once started: run to its first sleep, to ready, or to the end. */
  #started(job: ModelJob): Effect {
    const p = job.profile;
    if (p.endless) return effect([], [idleAt(job)]);
    if (p.failure && (job.speed === 0 || p.paced)) {
      return p.readyPhase ? this.#mirrorFails(job, p.failure) : this.#fails(job, p.failure);
    }
    if (job.speed === 0 || p.paced) return this.#runToEnd(job);
    job.offset = p.stops[0] ?? p.len;
    if (p.stops.length === 0) return this.#runToEnd(job);
    return effect([], [idleAt(job)]);
  }

  /** Unthrottled: on to ready (mirror-like, after the reply) or to the end. */
  #runToEnd(job: ModelJob): Effect {
    const p = job.profile;
    const left = p.len - job.offset;
    const known = job.offsetKnown;
    job.offset = p.len;
    job.offsetKnown = true;
    if (p.readyPhase) {
      // What is left fits in one 16 MiB buffer on instant I/O: it converges inside the command
      // (mirror scenarios); more takes a second pass, after the reply.
      const oneBuffer =
        p.instant && known && left <= MIRROR_BUFFER && this.#version.wokenMirrorConvergesInside;
      if (oneBuffer) this.#traits.add('mirror-converges-on-wake');
      return oneBuffer ? effect(becomeReady(job)) : effect([], becomeReady(job));
    }
    return p.instant ? effect(this.#finishRun(job)) : effect([], this.#finishRun(job));
  }

  /**
   * An unthrottled backup, stream or commit meets its injected error (§5.1, §6.7, io-errors
   * scenarios): BLOCK_JOB_ERROR, then report fails the job, stop pauses it (a user pause with
   * io-status set), ignore goes on: a backup finishes, a commit retries the request (the rule fired
   * once: it succeeds) and finishes, a stream copies the rest and then fails with the error it
   * ignored (stream.c returns it). On null-co (backup) the error comes inside the command, and a
   * stop's pause with it; on files (stream, commit) all of it comes after the reply.
   */
  #fails(job: ModelJob, failure: InjectedError): Effect {
    const action = errorAction(job.policy, failure.errno);
    const error: Step[] = [blockJobError(job.id, failure.operation, action)];
    const split = (atOnce: Step[], later: Step[]): Effect =>
      job.profile.instant ? effect(atOnce, later) : effect([], [...atOnce, ...later]);
    job.offset = failure.at;
    if (job.profile.type !== 'backup') {
      this.#traits.add(`${job.profile.type}-io-error`);
      if (failure.at > 0) this.#traits.add('chain-error-after-free-range');
    }
    if (action === 'stop') {
      job.status = 'paused';
      job.userPaused = true;
      job.stoppedByError = true;
      job.ioStatus = failure.errno === 'ENOSPC' ? 'nospace' : 'failed';
      return split([...error, status(job.id, 'paused')], []);
    }
    if (action === 'ignore') {
      job.offset = job.profile.len;
      if (job.profile.type === 'stream')
        return split(error, this.#abort(job, ERRNO_TEXT[failure.errno]));
      return split(error, this.#finishRun(job));
    }
    return split(error, this.#abort(job, ERRNO_TEXT[failure.errno]));
  }

  /**
   * An unthrottled mirror meets its injected error (issue 12 class 4; seen on QEMU 7.2):
   * BLOCK_JOB_ERROR (one per failed request) — a source read in the first buffer fails inside
   * the command, a target write (or anything a paced mirror does) after the reply; then, after
   * the reply, report fails the job, stop pauses it
   * (io-status set; resume retries and it converges), ignore carries on to ready.
   */
  #mirrorFails(job: ModelJob, failure: InjectedError): Effect {
    const action = errorAction(job.policy, failure.errno);
    const error = [blockJobError(job.id, failure.operation, action)];
    const split = (later: Step[]): Effect =>
      failure.operation === 'read' && !job.profile.paced
        ? effect(error, later)
        : effect([], [...error, ...later]);
    if (action === 'ignore') {
      job.offset = job.profile.len;
      return split(becomeReady(job));
    }
    job.offsetKnown = false;
    if (action === 'stop') {
      job.status = 'paused';
      job.userPaused = true;
      job.stoppedByError = true;
      job.ioStatus = failure.errno === 'ENOSPC' ? 'nospace' : 'failed';
      return split([status(job.id, 'paused')]);
    }
    return split(this.#abort(job, ERRNO_TEXT[failure.errno]));
  }

  /** A job failed on its own: aborting, COMPLETED with the error, concluded (§6.7). */
  #abort(job: ModelJob, error: string): Step[] {
    job.status = 'aborting';
    job.error = error;
    return [
      status(job.id, 'aborting'),
      ...this.#endChanges(job, true),
      completed(job.profile.type, job.id, job.profile.len, progress(job), job.speed, error),
      ...this.#conclude(job),
    ];
  }

  /**
   * A job leaves a sleep or pause point (resume, raised speed, end of a drain). Running: a
   * throttled mirror/stream/commit copies one more chunk, an unthrottled one runs on; backup's
   * limiter (in block-copy) still owes its delay, so it copies nothing unless unthrottled (§8.3).
   * Ready: a deferred complete takes effect.
   */
  #wake(job: ModelJob): Effect {
    const p = job.profile;
    if (job.status === 'ready') {
      if (!job.completeRequested) return effect();
      job.completeRequested = false;
      return effect([], this.#finishRun(job));
    }
    if (job.status !== 'running' || p.endless) return effect();
    // 10.0: a throttled job sleeps again until it has waited out the delay it owes.
    if (!this.#version.wakeCopiesAtOnce && job.speed > 0 && !p.paced) return effect();
    if (job.speed === 0 || p.paced) return this.#runToEnd(job);
    if (!p.wakeCopies) return effect();
    const next = p.stops.find((s) => s > job.offset);
    if (next === undefined) return this.#runToEnd(job);
    job.offset = next;
    return effect([], [idleAt(job)]);
  }

  // ------------------------------------------------------------------------------------------
  // Ending

  /**
   * The job's run finished successfully (§6.4, §6.8): waiting, and once every member of its
   * transaction waits, pending for all (newest first), then finalization unless a member needs
   * job-finalize.
   */
  #finishRun(job: ModelJob): Step[] {
    const steps: Step[] = [];
    job.status = 'waiting';
    job.offset = job.profile.len;
    job.offsetKnown = true;
    steps.push(status(job.id, 'waiting'));
    const members = this.#jobs.filter((j) => j.txn === job.txn);
    if (members.some((m) => m.status !== 'waiting')) return steps;
    for (const m of members) {
      m.status = 'pending';
      steps.push(status(m.id, 'pending'));
      if (!m.autoFinalize) steps.push(pendingEvent(m.profile.type, m.id));
    }
    if (members.every((m) => m.autoFinalize)) steps.push(...this.#finalizeTxn(job.txn));
    return steps;
  }

  /** job-finalize / automatic finalization of a whole transaction (§4.3). */
  #finalizeTxn(txn: number): Step[] {
    const steps: Step[] = [];
    for (const m of this.#jobs.filter((j) => j.txn === txn)) {
      steps.push(...this.#endChanges(m, false));
      steps.push(completed(m.profile.type, m.id, m.profile.len, progress(m), m.speed));
      steps.push(...this.#conclude(m));
    }
    return steps;
  }

  /** concluded, and null plus removal if auto-dismiss. */
  #conclude(job: ModelJob): Step[] {
    if (job.profile.type === 'stream') {
      this.#streamed.set(job.profile.key, job.error === undefined ? 'all' : job.offset);
    }
    if (job.synced !== undefined) {
      this.#bitmaps.backupEnds(job.synced, job.error === undefined, job.offset);
    }
    if (job.pivots === true && job.error === undefined && job.target !== undefined) {
      this.pivoted.push({ from: job.device, to: job.target });
    }
    job.status = 'concluded';
    const steps = [status(job.id, 'concluded')];
    if (job.autoDismiss) steps.push(...this.#dismiss(job));
    return steps;
  }

  #dismiss(job: ModelJob): Step[] {
    this.#jobs.splice(this.#jobs.indexOf(job), 1);
    this.#dismissed.add(job.id);
    // block_job_free lets go of the job's nodes.
    return [status(job.id, 'null'), ...this.#graph(freedChanges(job.profile.type))];
  }

  /** `times` changes of the block graph (model-support.ts graphChanges). */
  #graph(times: number, exclude: readonly ModelJob[] = []): Step[] {
    if (!this.#version.graphLockDrainsAll) return [];
    return graphChanges(this.#jobs, this.#setup.nodes, times, exclude);
  }

  /** The graph changes of a job's clean-up (before its COMPLETED or CANCELLED). */
  #endChanges(job: ModelJob, failed: boolean): Step[] {
    const p = job.profile;
    return this.#graph(endChanges(p.type, p.readyPhase, job.pivots === true && !failed, failed));
  }

  /**
   * A hard cancel (§4.3, §6.3, §6.6, §6.8). A user pause is released first (running/ready before
   * the reply). A job that already finished running aborts its whole transaction before the
   * reply. A running backup, stream or commit is torn down before the reply too; a mirror-like
   * job after it (its exit drains its source).
   */
  #hardCancel(job: ModelJob): Effect {
    const before: Step[] = [];
    if (job.stoppedByError) {
      // A backup leaving the pause point retries the failed request first (io-errors
      // scenarios) and then has it all; a mirror got wherever its requests in flight got; a
      // stream or commit sees the cancel before it retries (stream.c, commit.c).
      job.stoppedByError = false;
      if (job.profile.type === 'backup') job.offset = job.profile.len;
      job.offsetKnown = !job.profile.readyPhase;
    }
    job.ioStatus = 'ok';
    before.push(...releasePause(job));
    const members = this.#jobs.filter((j) => j.txn === job.txn);
    const teardown: Step[] = [];
    const wasRunning = job.status === 'running' || job.status === 'ready';
    if (wasRunning) {
      job.status = 'aborting';
      teardown.push(status(job.id, 'aborting'));
    }
    // §6.8: every member, newest first, is aborted and finalized as cancelled.
    for (const m of members) {
      // A sibling's cancel releases its user pause too: it leaves its pause point first.
      teardown.push(...releasePause(m));
      if (m.status !== 'aborting') {
        m.status = 'aborting';
        teardown.push(status(m.id, 'aborting'));
      }
      if (m === members[0] && this.#version.graphLockDrainsAll) {
        // The first member's clean-up drains everything (10.0): a member still in its run
        // meets the cancel there and aborts before anyone's CANCELLED.
        for (const other of members) {
          if (!IN_RUN.includes(other.status)) continue;
          teardown.push(...releasePause(other));
          other.status = 'aborting';
          teardown.push(status(other.id, 'aborting'));
        }
      }
      m.error = 'Operation canceled';
      teardown.push(...this.#endChanges(m, true));
      teardown.push(cancelled(m.profile.type, m.id, m.profile.len, progress(m), m.speed));
      teardown.push(...this.#conclude(m));
    }
    if (wasRunning && job.profile.readyPhase) return effect(before, teardown);
    return effect([...before, ...teardown]);
  }

  // ------------------------------------------------------------------------------------------
  // Verbs

  #verb(verb: Verb, id: string, positiveSpeed: number): Prediction {
    const { command, args } = verbCommand(verb, id, positiveSpeed);
    const request = args === undefined ? send(command) : send(command, args);
    if (verb === 'query-jobs' || verb === 'query-block-jobs') {
      return {
        steps: [
          request,
          ok(verb === 'query-jobs' ? queryJobs(this.#jobs) : queryBlockJobs(this.#jobs)),
        ],
        coverage: [],
      };
    }
    const job = this.#find(id);
    const coverage: Coverage[] = [
      job
        ? {
            status: job.status as CoveredStatus,
            verb,
            type: job.profile.type,
            ...(job.profile.endless ? { endless: true as const } : {}),
          }
        : { status: this.#dismissed.has(id) ? 'dismissed' : 'unknown', verb },
    ];
    const e =
      job === undefined
        ? effect([], [], notFound(id, isBlockFamily(verb)))
        : this.#applyVerb(verb, job, positiveSpeed);
    return { steps: this.#assemble(request, e).steps, coverage };
  }

  #applyVerb(verb: Verb, job: ModelJob, positiveSpeed: number): Effect {
    const name = VERB_OF[verb] as string;
    const allowed = (ALLOWED[name] as readonly JobStatus[]).includes(job.status);
    const refuse = effect([], [], verbRefused(job.id, job.status, name));
    switch (name) {
      case 'pause': {
        if (!allowed) return refuse;
        if (job.userPaused) return effect([], [], generic('Job is already paused'));
        job.userPaused = true;
        // An idle job reaches its pause point before the reply (§4.3).
        job.status = job.status === 'ready' ? 'standby' : 'paused';
        return effect([status(job.id, job.status)]);
      }
      case 'resume': {
        // "not paused" is checked before the verb (§4.3).
        if (!job.userPaused)
          return effect([], [], generic("Can't resume a job that was not paused"));
        if (!allowed) return refuse;
        job.userPaused = false;
        job.ioStatus = 'ok';
        job.status = job.status === 'standby' ? 'ready' : 'running';
        // Stopped by an error: the failed request is retried and (the rule fired once) succeeds;
        // it was the last one left, so the job finishes, whatever its speed.
        const retried = job.stoppedByError;
        job.stoppedByError = false;
        const left = status(job.id, job.status);
        const woken = retried ? this.#runToEnd(job) : this.#wake(job);
        return effect([left, ...woken.before], woken.after);
      }
      case 'cancel': {
        const force = verb !== 'block-job-cancel';
        if (!force && job.userPaused) {
          return effect(
            [],
            [],
            generic(`The block job for device '${job.id}' is currently paused`),
          );
        }
        if (!allowed) return refuse;
        // A soft cancel is soft only for a ready mirror-like job: it completes without pivoting
        // (§4.3, §6.3); everything else treats it as hard.
        if (!force && job.profile.readyPhase && job.status === 'ready')
          return effect([], this.#finishRun(job));
        return this.#hardCancel(job);
      }
      case 'set-speed': {
        if (!allowed) return refuse;
        if (verb === 'set-speed-negative') {
          return effect([], [], generic("Parameter 'speed' expects a non-negative value"));
        }
        const speed = verb === 'set-speed-zero' ? 0 : positiveSpeed;
        const wakes = speed === 0 || speed > job.speed;
        job.speed = speed;
        // A higher (or no) limit wakes a job asleep in its rate limiter (§4.3, §8.3); a paused
        // or ready job has nothing to wake.
        if (!wakes || job.status !== 'running') return effect();
        return this.#wake(job);
      }
      case 'complete': {
        if (!allowed) return refuse;
        // Repeated completes are accepted; in standby it waits for the resume (§4.3, §6.5).
        job.pivots = true;
        if (job.status === 'standby') {
          job.completeRequested = true;
          return effect();
        }
        return effect([], this.#finishRun(job));
      }
      case 'finalize':
        if (!allowed) return refuse;
        return effect(this.#finalizeTxn(job.txn));
      case 'dismiss':
        if (!allowed) return refuse;
        return effect(this.#dismiss(job));
      default:
        throw new Error(`no model for verb ${verb}`);
    }
  }
}
