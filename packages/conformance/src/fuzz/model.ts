// The differential tester's model of QEMU 7.2's job state machine, written from
// ../shared/reference/job-semantics.md (section numbers below refer to it) and nothing else: it
// must not share code or assumptions with @qmpkit/job-engine or the simulator it is checking.
//
// The model turns one abstract action (create a job, apply a verb, query) into the scenario steps
// that send it and expect QEMU's exact answer: every event in order, the reply in its place. It
// only ever acts on quiescent jobs (every job idle: asleep in a rate limiter, paused, or finished)
// so that "before the reply" and "after the reply" are fixed by QEMU's code, not by timing; when an
// action sets a job in motion the model adds the wait (an event, or a poll for `busy: false`) that
// proves it has come to rest again.

import {
  blockJobInfo,
  cancelled,
  completed,
  fails,
  generic,
  ok,
  type Pattern,
  pendingEvent,
  pollBlockJob,
  type Step,
  send,
  status,
  verbRefused,
} from '../scenario.js';

export type JobStatus =
  | 'running'
  | 'paused'
  | 'ready'
  | 'standby'
  | 'waiting'
  | 'pending'
  | 'aborting'
  | 'concluded';

/** The verb variants the tester applies (the coverage table's columns). */
export const VERBS = [
  'job-pause',
  'job-resume',
  'job-cancel',
  'job-complete',
  'job-finalize',
  'job-dismiss',
  'block-job-pause',
  'block-job-resume',
  'block-job-cancel',
  'block-job-cancel-force',
  'block-job-complete',
  'block-job-finalize',
  'block-job-dismiss',
  'set-speed-positive',
  'set-speed-zero',
  'set-speed-negative',
  'query-jobs',
  'query-block-jobs',
] as const;
export type Verb = (typeof VERBS)[number];

/** The coverage table's rows: a job's status when a verb reached it, or why there was none. */
export const COVERED_STATUSES = [
  'running',
  'paused',
  'ready',
  'standby',
  'waiting',
  'pending',
  'concluded',
  'unknown',
  'dismissed',
] as const;
export type CoveredStatus = (typeof COVERED_STATUSES)[number];

export type JobType = 'backup' | 'mirror' | 'stream' | 'commit';

/** Where a job's data comes from, enough to predict its progress (§8.1, §8.3). */
export interface JobShape {
  readonly type: JobType;
  /** `len` while running (bytes to copy). */
  readonly len: number;
  /** What one chunk moves: the progress a throttled job makes before it sleeps (§8.3). */
  readonly chunk: number;
  /** It never finishes on its own (backup sync none: it waits for guest writes). */
  readonly endless: boolean;
}

export interface ModelJob {
  readonly id: string;
  readonly shape: JobShape;
  /** The transaction it belongs to (a lone job: its own). */
  readonly txn: number;
  readonly autoFinalize: boolean;
  readonly autoDismiss: boolean;
  status: JobStatus;
  userPaused: boolean;
  speed: number;
  offset: number;
  /** The JobInfo `error` once it ended badly. */
  error?: string;
}

/** One abstract step of a generated sequence. */
export type Action =
  | {
      readonly kind: 'backup';
      readonly id: string;
      readonly device: string;
      readonly target: string;
      readonly sync: 'full' | 'top' | 'none';
      readonly speed: number;
      readonly autoFinalize: boolean;
      readonly autoDismiss: boolean;
    }
  | {
      readonly kind: 'verb';
      readonly verb: Verb;
      /** The job id the verb names (possibly one that never existed or was dismissed). */
      readonly id: string;
      /** For set-speed-positive: the new speed. */
      readonly speed?: number;
    };

/** What a node can give a backup (the generator describes its nodes to the model). */
export interface NodeInfo {
  readonly size: number;
  /** Bytes a `sync: top` backup copies from it (data allocated in the top layer). */
  readonly topAllocated: number;
}

/** Backup's block-copy chunk: what a backup at a small speed copies before it sleeps (§8.3). */
export const BACKUP_CHUNK = 1024 * 1024;

export interface Coverage {
  status: CoveredStatus;
  verb: Verb;
  /** The job's type, when the id named a live job. */
  type?: JobType;
  /** The job never finishes on its own (backup sync none). */
  endless?: true;
}

/** The prediction for one action: the steps to run, and the coverage it contributes. */
export interface Prediction {
  readonly steps: Step[];
  readonly coverage: Coverage[];
}

const VERB_OF: Partial<Record<Verb, string>> = {
  'job-pause': 'pause',
  'block-job-pause': 'pause',
  'job-resume': 'resume',
  'block-job-resume': 'resume',
  'job-cancel': 'cancel',
  'block-job-cancel': 'cancel',
  'block-job-cancel-force': 'cancel',
  'job-complete': 'complete',
  'block-job-complete': 'complete',
  'job-finalize': 'finalize',
  'block-job-finalize': 'finalize',
  'job-dismiss': 'dismiss',
  'block-job-dismiss': 'dismiss',
  'set-speed-positive': 'set-speed',
  'set-speed-zero': 'set-speed',
  'set-speed-negative': 'set-speed',
};

/** §3: the statuses in which each verb is accepted (created/aborting are never seen here). */
const ALLOWED: Record<string, readonly JobStatus[]> = {
  cancel: ['running', 'paused', 'ready', 'standby', 'waiting', 'pending'],
  pause: ['running', 'paused', 'ready', 'standby'],
  resume: ['running', 'paused', 'ready', 'standby'],
  'set-speed': ['running', 'paused', 'ready', 'standby'],
  complete: ['ready', 'standby'],
  finalize: ['pending'],
  dismiss: ['concluded'],
};

/** The QMP command and arguments for a verb variant. */
export function verbCommand(
  verb: Verb,
  id: string,
  speed = 0,
): { command: string; args?: Record<string, unknown> } {
  switch (verb) {
    case 'job-pause':
    case 'job-resume':
    case 'job-cancel':
    case 'job-complete':
    case 'job-finalize':
    case 'job-dismiss':
      return { command: verb, args: { id } };
    case 'block-job-pause':
    case 'block-job-resume':
    case 'block-job-complete':
      return { command: verb, args: { device: id } };
    case 'block-job-cancel':
      return { command: verb, args: { device: id } };
    case 'block-job-cancel-force':
      return { command: 'block-job-cancel', args: { device: id, force: true } };
    case 'block-job-finalize':
    case 'block-job-dismiss':
      return { command: verb, args: { id } };
    case 'set-speed-positive':
      return { command: 'block-job-set-speed', args: { device: id, speed } };
    case 'set-speed-zero':
      return { command: 'block-job-set-speed', args: { device: id, speed: 0 } };
    case 'set-speed-negative':
      return { command: 'block-job-set-speed', args: { device: id, speed: -1 } };
    case 'query-jobs':
    case 'query-block-jobs':
      return { command: verb };
  }
}

const isBlockFamily = (verb: Verb): boolean =>
  verb.startsWith('block-job-') || verb.startsWith('set-speed');

export class JobModel {
  /** Live jobs (not yet dismissed), newest first as QEMU lists them (§1). */
  readonly #jobs: ModelJob[] = [];
  readonly #dismissed = new Set<string>();
  readonly #nodes: ReadonlyMap<string, NodeInfo>;
  #nextTxn = 1;

  constructor(nodes: ReadonlyMap<string, NodeInfo>) {
    this.#nodes = nodes;
  }

  get jobs(): readonly ModelJob[] {
    return this.#jobs;
  }

  /** The steps that perform `action` and expect QEMU's answer, and the model's new state. */
  apply(action: Action): Prediction {
    if (action.kind === 'backup') return { steps: this.#backup(action), coverage: [] };
    return this.#verb(action.verb, action.id, action.speed ?? 1);
  }

  #find(id: string): ModelJob | undefined {
    return this.#jobs.find((j) => j.id === id);
  }

  // ------------------------------------------------------------------------------------------
  // Creation

  /** §5.5, §5.7, §5.8: a blockdev-backup is a one-action transaction that drains every job. */
  #backup(a: Extract<Action, { kind: 'backup' }>): Step[] {
    const args: Record<string, unknown> = {
      'job-id': a.id,
      device: a.device,
      target: a.target,
      sync: a.sync,
    };
    if (a.speed !== 0) args.speed = a.speed;
    if (!a.autoFinalize) args['auto-finalize'] = false;
    if (!a.autoDismiss) args['auto-dismiss'] = false;
    const steps: Step[] = [send('blockdev-backup', args)];
    const source = this.#nodes.get(a.device);
    // The drain of every other job comes first, even when the command then fails (§5.5).
    const drained = this.#drainable();
    for (const j of drained) steps.push(status(j.id, j.status === 'ready' ? 'standby' : 'paused'));
    for (const j of drained) steps.push(status(j.id, j.status));
    if (this.#find(a.id) !== undefined) {
      steps.push(generic(`Job ID '${a.id}' already in use`));
      return steps;
    }
    if (source === undefined) throw new Error(`the model knows no node '${a.device}'`);
    const len = a.sync === 'top' ? source.topAllocated : source.size;
    const job: ModelJob = {
      id: a.id,
      shape: { type: 'backup', len, chunk: BACKUP_CHUNK, endless: a.sync === 'none' },
      txn: this.#nextTxn++,
      autoFinalize: a.autoFinalize,
      autoDismiss: a.autoDismiss,
      status: 'running',
      userPaused: false,
      speed: a.speed,
      offset: 0,
    };
    this.#dismissed.delete(a.id);
    this.#jobs.unshift(job);
    steps.push(...['created', 'running', 'paused', 'running'].map((s) => status(a.id, s)));
    if (a.sync === 'none') {
      // Copies nothing and waits for guest writes until cancelled (backup-create scenarios).
      steps.push(ok(), this.#idleAt(job));
      return steps;
    }
    if (a.speed === 0 || len <= BACKUP_CHUNK) {
      // Nothing throttles it: on null-co the whole copy happens inside the command (§5.7).
      job.offset = len;
      steps.push(...this.#finishRun(job), ok());
      return steps;
    }
    job.offset = BACKUP_CHUNK;
    steps.push(ok(), this.#idleAt(job));
    return steps;
  }

  /** Running or ready jobs that are not user-paused: a drain shows on them (§7). */
  #drainable(): ModelJob[] {
    // A drain pauses in list order; the events come per job as each reaches its pause point.
    return this.#jobs.filter(
      (j) => !j.userPaused && (j.status === 'running' || j.status === 'ready'),
    );
  }

  /** Poll until the job is at rest at its predicted offset. */
  #idleAt(job: ModelJob): Step {
    const offset = job.offset;
    return {
      ...pollBlockJob(
        job.id,
        `idle at offset ${offset}`,
        (j) => j.busy === false && j.offset === offset,
      ),
      timeoutMs: 20_000,
    };
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
    steps.push(status(job.id, 'waiting'));
    const members = this.#jobs.filter((j) => j.txn === job.txn);
    if (members.some((m) => m.status !== 'waiting')) return steps;
    for (const m of members) {
      m.status = 'pending';
      steps.push(status(m.id, 'pending'));
      if (!m.autoFinalize) steps.push(pendingEvent(m.shape.type, m.id));
    }
    if (members.every((m) => m.autoFinalize)) steps.push(...this.#finalizeTxn(job.txn));
    return steps;
  }

  /** job-finalize / automatic finalization of a whole transaction (§4.3). */
  #finalizeTxn(txn: number): Step[] {
    const steps: Step[] = [];
    for (const m of this.#jobs.filter((j) => j.txn === txn)) {
      steps.push(completed(m.shape.type, m.id, m.shape.len, m.offset, m.speed));
      steps.push(...this.#conclude(m));
    }
    return steps;
  }

  /** concluded, and null plus removal if auto-dismiss. */
  #conclude(job: ModelJob): Step[] {
    job.status = 'concluded';
    const steps = [status(job.id, 'concluded')];
    if (job.autoDismiss) steps.push(...this.#dismiss(job));
    return steps;
  }

  #dismiss(job: ModelJob): Step[] {
    this.#jobs.splice(this.#jobs.indexOf(job), 1);
    this.#dismissed.add(job.id);
    return [status(job.id, 'null')];
  }

  /**
   * A hard cancel of `job` (§4.3, §6.6, §6.8): a job that already finished running aborts its
   * whole transaction; a running one aborts, and takes its transaction with it.
   */
  #hardCancel(job: ModelJob): Step[] {
    const steps: Step[] = [];
    if (job.userPaused) {
      job.userPaused = false;
      // The cancel releases the user pause first: the job leaves its pause point (§6.6).
      if (job.status === 'paused') {
        job.status = 'running';
        steps.push(status(job.id, 'running'));
      } else if (job.status === 'standby') {
        job.status = 'ready';
        steps.push(status(job.id, 'ready'));
      }
    }
    const members = this.#jobs.filter((j) => j.txn === job.txn);
    if (job.status === 'running' || job.status === 'ready') {
      job.status = 'aborting';
      steps.push(status(job.id, 'aborting'));
    }
    // §6.8: every member, newest first, is aborted and finalized as cancelled.
    for (const m of members) {
      if (m.status !== 'aborting') {
        m.status = 'aborting';
        steps.push(status(m.id, 'aborting'));
      }
      m.error = 'Operation canceled';
      steps.push(cancelled(m.shape.type, m.id, m.shape.len, m.offset, m.speed));
      steps.push(...this.#conclude(m));
    }
    return steps;
  }

  // ------------------------------------------------------------------------------------------
  // Verbs

  #verb(verb: Verb, id: string, positiveSpeed: number): Prediction {
    const { command, args } = verbCommand(verb, id, positiveSpeed);
    const steps: Step[] = [args === undefined ? send(command) : send(command, args)];
    if (verb === 'query-jobs' || verb === 'query-block-jobs') {
      steps.push(ok(verb === 'query-jobs' ? this.#queryJobs() : this.#queryBlockJobs()));
      return { steps, coverage: [] };
    }
    const job = this.#find(id);
    const coverage: Coverage[] = [
      job
        ? {
            status: job.status as CoveredStatus,
            verb,
            type: job.shape.type,
            ...(job.shape.endless ? { endless: true as const } : {}),
          }
        : { status: this.#dismissed.has(id) ? 'dismissed' : 'unknown', verb },
    ];
    if (job === undefined) {
      steps.push(
        isBlockFamily(verb)
          ? fails('DeviceNotActive', `Block job '${id}' not found`)
          : generic('Job not found'),
      );
      return { steps, coverage };
    }
    steps.push(...this.#applyVerb(verb, job, positiveSpeed));
    return { steps, coverage };
  }

  #applyVerb(verb: Verb, job: ModelJob, positiveSpeed: number): Step[] {
    const name = VERB_OF[verb] as string;
    const allowed = (ALLOWED[name] as readonly JobStatus[]).includes(job.status);
    const refuse = verbRefused(job.id, job.status, name);
    switch (name) {
      case 'pause': {
        if (!allowed) return [refuse];
        if (job.userPaused) return [generic('Job is already paused')];
        job.userPaused = true;
        // An idle job reaches its pause point before the reply (§4.3).
        const to = job.status === 'ready' ? 'standby' : 'paused';
        job.status = to;
        return [status(job.id, to), ok()];
      }
      case 'resume': {
        // "not paused" is checked before the verb (§4.3).
        if (!job.userPaused) return [generic("Can't resume a job that was not paused")];
        if (!allowed) return [refuse];
        job.userPaused = false;
        const to = job.status === 'standby' ? 'ready' : 'running';
        job.status = to;
        return [status(job.id, to), ...this.#wake(job), ok()];
      }
      case 'cancel': {
        if (verb === 'block-job-cancel' && job.userPaused) {
          return [generic(`The block job for device '${job.id}' is currently paused`)];
        }
        if (!allowed) return [refuse];
        // Backup's cancel is always hard (§4.3); an idle backup is torn down before the reply.
        return [...this.#hardCancel(job), ok()];
      }
      case 'set-speed': {
        if (!allowed) return [refuse];
        if (verb === 'set-speed-negative') {
          return [generic("Parameter 'speed' expects a non-negative value")];
        }
        const speed = verb === 'set-speed-zero' ? 0 : positiveSpeed;
        const wakes = speed === 0 || speed > job.speed;
        job.speed = speed;
        // A higher (or no) limit wakes a job asleep in the rate limiter (§4.3, §8.3); a paused
        // job stays put until resumed.
        if (!wakes || job.status !== 'running') return [ok()];
        return [...this.#wake(job), ok()];
      }
      case 'complete':
        return [refuse];
      case 'finalize': {
        if (!allowed) return [refuse];
        return [...this.#finalizeTxn(job.txn), ok()];
      }
      case 'dismiss': {
        if (!allowed) return [refuse];
        return [...this.#dismiss(job), ok()];
      }
      default:
        throw new Error(`no model for verb ${verb}`);
    }
  }

  /**
   * A running job woken (resumed, or given a higher speed): at speed 0 an instant-I/O backup
   * copies the rest at once and finishes before the reply; with a limit it goes back to sleep
   * without another chunk, because its limiter lives in block-copy (§8.3).
   */
  #wake(job: ModelJob): Step[] {
    if (job.status !== 'running' || job.shape.endless) return [];
    if (job.speed === 0) {
      job.offset = job.shape.len;
      return this.#finishRun(job);
    }
    return [];
  }

  // ------------------------------------------------------------------------------------------
  // Queries (§4.3, §8.2)

  #queryJobs(): Pattern {
    return this.#jobs.map((j) => ({
      id: j.id,
      type: j.shape.type,
      status: j.status,
      'current-progress': j.offset,
      'total-progress': j.shape.len,
      ...(j.error === undefined ? {} : { error: j.error }),
    }));
  }

  #queryBlockJobs(): Pattern {
    return this.#jobs.map((j) =>
      blockJobInfo(j.shape.type, j.id, {
        len: j.shape.len,
        offset: j.offset,
        paused: j.userPaused,
        speed: j.speed,
        ready: j.status === 'ready' || j.status === 'standby',
        status: j.status,
        'auto-finalize': j.autoFinalize,
        'auto-dismiss': j.autoDismiss,
        ...(j.error === undefined ? {} : { error: j.error }),
      }),
    );
  }
}
