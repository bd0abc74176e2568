// The differential tester's vocabulary: job statuses, verb variants, the actions a generated
// sequence is made of, and what the generator tells the model about its block nodes. QEMU facts
// here come from docs/reference/job-semantics.md (section numbers refer to it).

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

/**
 * How a job on the generator's nodes progresses (§8.1, §8.3), as far as the model needs it. A
 * throttled job copies one chunk, then sleeps in its rate limiter for longer than any sequence
 * lasts (the speeds used are tiny); each wake-up (resume, a raised speed, the end of a drain) lets
 * one more chunk through, except for backup, whose limiter lives in block-copy.
 */
export interface JobProfile {
  /** The key it is known by in `Setup.profiles`. */
  readonly key: string;
  readonly type: JobType;
  /** total-progress while it runs. */
  readonly len: number;
  /**
   * The offsets at which a throttled job goes to sleep, in order: after each copied chunk.
   * Ranges with nothing to copy count as progress without a sleep (stream, commit).
   */
  readonly stops: readonly number[];
  /** A wake-up lets one more chunk through (mirror, stream, commit; not backup). */
  readonly wakeCopies: boolean;
  /** Mirror and active commit: converges to ready instead of finishing. */
  readonly readyPhase: boolean;
  /** Never finishes on its own (backup sync none waits for guest writes). */
  readonly endless: boolean;
  /**
   * Instant I/O (null-co): an unthrottled backup's whole run happens inside the command that
   * starts or wakes it; a mirror converges inside it when what is left fits in one buffer.
   */
  readonly instant: boolean;
  /** A blkdebug rule that fails one request of an unthrottled (or paced) run. */
  readonly failure?: InjectedError;
  /**
   * Throttled, but fast enough to reach its end on its own within seconds (a mirror at 10 MiB/s):
   * the model treats it as unthrottled, except that everything it does comes after the reply
   * of the command that set it going (its rate limiter holds it past the command).
   */
  readonly paced?: true;
}

/** A blkdebug `inject-error` rule under a job's source (read) or target (write). */
export interface InjectedError {
  readonly operation: 'read' | 'write';
  readonly errno: 'EIO' | 'ENOSPC';
  /** The rule fires once: a retry (resume after stop) succeeds. */
  readonly once: boolean;
  /** The job's progress when the failed request is made (a mirror's: unknown, give 0). */
  readonly at: number;
}

export type ErrorPolicy = 'report' | 'ignore' | 'stop' | 'enospc' | 'auto';

/** A backup's bitmap-mode (§ issue 16): what becomes of the bitmap it syncs. */
export type BitmapMode = 'on-success' | 'always' | 'never';

/** One block-dirty-bitmap-* command, or the transaction action of the same name. */
export interface BitmapAction {
  readonly command: 'add' | 'remove' | 'clear' | 'enable' | 'disable' | 'merge';
  readonly node: string;
  /** The bitmap (merge: the target). */
  readonly name: string;
  /** add */
  readonly granularity?: number;
  readonly disabled?: boolean;
  /** merge: bitmaps of `node` by name, or of any node. */
  readonly sources?: ReadonlyArray<string | { readonly node: string; readonly name: string }>;
}

/** The QMP arguments of a bitmap command. */
export function bitmapArgs(a: BitmapAction): Record<string, unknown> {
  if (a.command === 'merge') return { node: a.node, target: a.name, bitmaps: a.sources ?? [] };
  return {
    node: a.node,
    name: a.name,
    ...(a.granularity === undefined ? {} : { granularity: a.granularity }),
    ...(a.disabled === undefined ? {} : { disabled: a.disabled }),
  };
}

/** One backup of a transaction or of blockdev-backup. */
export interface BackupSpec {
  readonly id: string;
  readonly device: string;
  readonly target: string;
  readonly sync: 'full' | 'top' | 'none' | 'incremental' | 'bitmap';
  /** The bitmap of `device` it syncs, and how (sync incremental: mode absent). */
  readonly bitmap?: string;
  readonly bitmapMode?: BitmapMode;
  readonly speed: number;
  readonly autoFinalize: boolean;
  readonly autoDismiss: boolean;
  readonly onSourceError?: ErrorPolicy;
  readonly onTargetError?: ErrorPolicy;
  /** `filter-node-name`: the copy-before-write filter's name (absent: a generated one). */
  readonly filter?: string;
}

/** Options every job-starting command takes. */
export interface StartSpec {
  readonly id: string;
  readonly speed: number;
  readonly autoFinalize: boolean;
  readonly autoDismiss: boolean;
}

/** One abstract step of a generated sequence. */
export type Action =
  | ({ readonly kind: 'backup' } & BackupSpec)
  | ({
      readonly kind: 'mirror';
      readonly device: string;
      readonly target: string;
      readonly onSourceError?: ErrorPolicy;
      readonly onTargetError?: ErrorPolicy;
      /** `filter-node-name`: the mirror_top filter's name (absent: a generated one). */
      readonly filter?: string;
    } & StartSpec)
  | ({
      readonly kind: 'stream';
      readonly device: string;
      readonly onError?: ErrorPolicy;
    } & StartSpec)
  | ({
      readonly kind: 'commit';
      readonly device: string;
      readonly onError?: ErrorPolicy;
      /** Absent: commit of the active layer (the mirror engine, with a ready phase). */
      readonly topNode?: string;
      readonly baseNode?: string;
    } & StartSpec)
  | {
      readonly kind: 'transaction';
      /** Absent: QEMU's default (individual). */
      readonly mode?: 'grouped' | 'individual';
      readonly backups: readonly BackupSpec[];
    }
  | { readonly kind: 'bitmap'; readonly action: BitmapAction }
  | { readonly kind: 'bitmap-transaction'; readonly actions: readonly BitmapAction[] }
  /** query-named-block-nodes: the nodes and their bitmaps. */
  | { readonly kind: 'query-bitmaps' }
  | IoAction
  | {
      readonly kind: 'verb';
      readonly verb: Verb;
      /** The job id the verb names (possibly one that never existed or was dismissed). */
      readonly id: string;
      /** For set-speed-positive: the new speed. */
      readonly speed?: number;
    };

/** The io family's actions (model-io.ts): NBD exports, guest writes, queries of the nodes. */
export type IoAction =
  | { readonly kind: 'nbd-server-start' }
  | { readonly kind: 'nbd-server-stop' }
  | {
      readonly kind: 'export-add';
      readonly id: string;
      readonly node: string;
      readonly writable: boolean;
      /** The export's NBD name (absent: the node name). */
      readonly name?: string;
    }
  | { readonly kind: 'export-del'; readonly id: string }
  | { readonly kind: 'query-exports' }
  /** query-named-block-nodes while jobs may hold filter nodes. */
  | { readonly kind: 'query-nodes' }
  /** qemu-io writes `length` bytes of `pattern` at `offset` through the export `id`. */
  | {
      readonly kind: 'guest-write';
      readonly id: string;
      readonly offset: number;
      readonly length: number;
      readonly pattern: number;
    };

export const IO_KINDS: ReadonlySet<string> = new Set([
  'nbd-server-start',
  'nbd-server-stop',
  'export-add',
  'export-del',
  'query-exports',
  'query-nodes',
  'guest-write',
]);
export const isIoAction = (a: Action): a is IoAction => IO_KINDS.has(a.kind);

/** The io coverage table's columns: what an io action did. */
export const IO_COLUMNS = [
  'export-add',
  'export-refused',
  'export-del',
  'server-stop',
  'guest-write',
  'query-nodes',
] as const;
export type IoColumn = (typeof IO_COLUMNS)[number];
/**
 * Its rows: the status of the job holding the node the action touched, or none (a concluded job
 * holds none; a finished job of this family waits in `pending` only).
 */
export const IO_ROWS = ['running', 'paused', 'ready', 'standby', 'pending', 'none'] as const;
export type IoRow = (typeof IO_ROWS)[number];
export interface IoCoverage {
  readonly column: IoColumn;
  readonly row: IoRow;
}

/** What the generator tells the model about its block nodes. */
export interface Setup {
  /** Node names that exist. */
  readonly nodes: ReadonlySet<string>;
  /**
   * How a job started on a node progresses, by `${kind}:${device}` (`backup:src1`,
   * `backup-none:src1` for sync none, `commit:top` active, `commit:top/mid` with top-node mid).
   */
  readonly profiles: ReadonlyMap<string, JobProfile>;
}

/** One coverage record: a verb variant met a job in a status. */
export interface Coverage {
  status: CoveredStatus;
  verb: Verb;
  /** The job's type, when the id named a live job. */
  type?: JobType;
  /** The job never finishes on its own (backup sync none). */
  endless?: true;
}

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
    case 'block-job-finalize':
    case 'block-job-dismiss':
      return { command: verb, args: { id } };
    case 'block-job-pause':
    case 'block-job-resume':
    case 'block-job-complete':
    case 'block-job-cancel':
      return { command: verb, args: { device: id } };
    case 'block-job-cancel-force':
      return { command: 'block-job-cancel', args: { device: id, force: true } };
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

/** The JobVerb each variant is checked as (§3). */
export const VERB_OF: Partial<Record<Verb, string>> = {
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
export const ALLOWED: Record<string, readonly JobStatus[]> = {
  cancel: ['running', 'paused', 'ready', 'standby', 'waiting', 'pending'],
  pause: ['running', 'paused', 'ready', 'standby'],
  resume: ['running', 'paused', 'ready', 'standby'],
  'set-speed': ['running', 'paused', 'ready', 'standby'],
  complete: ['ready', 'standby'],
  finalize: ['pending'],
  dismiss: ['concluded'],
};

/** The block-job-* family (and set-speed) looks jobs up with DeviceNotActive (§4.2). */
export const isBlockFamily = (verb: Verb): boolean =>
  verb.startsWith('block-job-') || verb.startsWith('set-speed');
