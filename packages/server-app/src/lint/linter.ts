/**
 * The misuse linter: it watches what clients do with jobs and reports what is legal QMP but a
 * bug waiting to happen against a real QEMU — per connection, and at exit. It sees only what a
 * server sees (commands, their outcome, events, clients coming and going), never the simulator's
 * insides, so the same rules would hold in front of any QEMU.
 *
 * Rules (`LintRule`):
 * - `concluded-not-dismissed`: a job with auto-dismiss off concluded and nobody dismissed it (it
 *   stays in QEMU, its id taken, until `job-dismiss`).
 * - `complete-before-ready`: `job-complete` / `block-job-complete` for a job that is not READY
 *   (QEMU refuses; a client that sends it is racing the READY event).
 * - `error-not-read`: a job that failed was dismissed by a client that never ran `query-jobs`
 *   after the failure — the `error` is gone with the job.
 * - `reply-not-completion`: a node a job uses was deleted (`blockdev-del`) while the job still
 *   ran: the client took the start command's reply for the job's end (it means "created"); wait
 *   for the job's CONCLUDED status or its BLOCK_JOB_COMPLETED event.
 * - `poll-too-fast`: `query-jobs` / `query-block-jobs` more often than the configured interval
 *   (events say when something changes).
 * - `no-job-id`: a job started without `job-id` (QEMU then names it after the device's
 *   BlockBackend, which collides as soon as two jobs touch the same device — or, for a bare node
 *   as in qemu-storage-daemon, refuses it with `Invalid job ID ''`).
 * - `deprecated`: a command, or a command argument, that the schema marks deprecated.
 */
import type { IntrospectionEntry } from '@qmpkit/qapi-types/7.2';
import { jobStatusChange } from '../job-status-change.js';

export const LINT_RULES = [
  'concluded-not-dismissed',
  'complete-before-ready',
  'error-not-read',
  'reply-not-completion',
  'poll-too-fast',
  'no-job-id',
  'deprecated',
] as const;
export type LintRule = (typeof LINT_RULES)[number];

/** One finding. */
export interface LintFinding {
  readonly rule: LintRule;
  /** The client (server-wide number) it is about; undefined for findings at exit. */
  readonly client: number | undefined;
  readonly job: string | undefined;
  readonly command: string | undefined;
  readonly message: string;
}

export interface LinterOptions {
  /** The runtime schema (for deprecated commands and arguments). */
  readonly schema: readonly IntrospectionEntry[];
  /** Polls of the same query closer than this are too fast. Default 100 ms. */
  readonly minPollIntervalMs?: number | undefined;
  /** Milliseconds (monotonic is fine). */
  readonly now: () => number;
  /** Findings kept at most (a client in a loop must not grow memory without bound). */
  readonly maxFindings?: number | undefined;
}

/** The commands that start jobs, with the arguments naming the nodes the job uses. */
const JOB_STARTS: Readonly<Record<string, readonly string[]>> = {
  'blockdev-mirror': ['device', 'target'],
  'drive-mirror': ['device'],
  'blockdev-backup': ['device', 'target'],
  'drive-backup': ['device'],
  'block-commit': ['device', 'top-node', 'base-node'],
  'block-stream': ['device', 'base-node'],
};

const POLLS = new Set(['query-jobs', 'query-block-jobs']);

interface JobRecord {
  status: string;
  autoDismiss: boolean;
  nodes: readonly string[];
  cancelled: boolean;
  failed: boolean;
  /** Clients that ran query-jobs since the failure. */
  errorReadBy: Set<number>;
  /** The client that started it (0 when unknown). */
  owner: number;
  reported: boolean;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export class MisuseLinter {
  private readonly list: LintFinding[] = [];
  private readonly jobs = new Map<string, JobRecord>();
  private readonly lastPoll = new Map<string, number>();
  private readonly pollReported = new Set<string>();
  private readonly deprecatedCommands = new Set<string>();
  private readonly deprecatedArgs = new Map<string, Set<string>>();
  private readonly minPollIntervalMs: number;
  private readonly maxFindings: number;
  /** Findings not kept because of `maxFindings`. */
  dropped = 0;

  constructor(private readonly options: LinterOptions) {
    this.minPollIntervalMs = options.minPollIntervalMs ?? 100;
    this.maxFindings = options.maxFindings ?? 10_000;
    const byName = new Map(options.schema.map((e) => [e.name, e]));
    for (const entry of options.schema) {
      if (entry['meta-type'] !== 'command') continue;
      const features = entry.features ?? [];
      if (features.includes('deprecated')) this.deprecatedCommands.add(entry.name);
      const argType = byName.get(entry['arg-type']);
      const members = argType?.['meta-type'] === 'object' ? argType.members : undefined;
      const deprecated = (members ?? []).filter((m) => m.features?.includes('deprecated'));
      if (deprecated.length > 0) {
        this.deprecatedArgs.set(entry.name, new Set(deprecated.map((m) => m.name)));
      }
    }
  }

  /** The findings so far, in the order they were made. */
  findings(): readonly LintFinding[] {
    return this.list;
  }

  /** A client sent a command (before it runs). */
  command(client: number, name: string, args: unknown): void {
    const a = isObject(args) ? args : {};
    if (this.deprecatedCommands.has(name)) {
      this.add('deprecated', client, undefined, name, `${name} is deprecated`);
    }
    for (const arg of this.deprecatedArgs.get(name) ?? []) {
      if (Object.hasOwn(a, arg)) {
        this.add('deprecated', client, undefined, name, `${name}: argument '${arg}' is deprecated`);
      }
    }
    if (POLLS.has(name)) this.poll(client, name);
    if (Object.hasOwn(JOB_STARTS, name) && a['job-id'] === undefined) {
      const device = str(a.device);
      this.add(
        'no-job-id',
        client,
        device,
        name,
        `${name} without job-id: QEMU names the job after the device${device === undefined ? '' : ` '${device}'`} (clashing with the next job there) or, for a bare node, refuses it`,
      );
    }
    if (name === 'transaction' && Array.isArray(a.actions)) {
      for (const action of a.actions) {
        if (!isObject(action) || !isObject(action.data)) continue;
        const type = str(action.type);
        if (
          type !== undefined &&
          Object.hasOwn(JOB_STARTS, type) &&
          action.data['job-id'] === undefined
        ) {
          this.add(
            'no-job-id',
            client,
            str(action.data.device),
            name,
            `transaction action ${type} without job-id`,
          );
        }
      }
    }
    if (name === 'job-complete' || name === 'block-job-complete') {
      const id = str(name === 'job-complete' ? a.id : a.device);
      const job = id === undefined ? undefined : this.jobs.get(id);
      if (id !== undefined && job !== undefined && job.status !== 'ready') {
        this.add(
          'complete-before-ready',
          client,
          id,
          name,
          `${name} for job '${id}' while it is ${job.status}, not ready: wait for its READY event`,
        );
      }
    }
    if (name === 'job-cancel' || name === 'block-job-cancel') {
      const id = str(name === 'job-cancel' ? a.id : a.device);
      const job = id === undefined ? undefined : this.jobs.get(id);
      if (job !== undefined) job.cancelled = true;
    }
    if (name === 'job-dismiss') {
      const id = str(a.id);
      const job = id === undefined ? undefined : this.jobs.get(id);
      if (id !== undefined && job?.failed === true && !job.errorReadBy.has(client)) {
        this.add(
          'error-not-read',
          client,
          id,
          name,
          `job '${id}' failed and is dismissed without query-jobs since: its error is lost`,
        );
      }
    }
    if (name === 'blockdev-del') {
      const node = str(a['node-name']);
      for (const [id, job] of this.jobs) {
        if (node === undefined || !job.nodes.includes(node)) continue;
        if (job.status === 'concluded' || job.status === 'null') continue;
        this.add(
          'reply-not-completion',
          client,
          id,
          name,
          `blockdev-del of '${node}' while job '${id}' that uses it is ${job.status}: a job command's reply means the job was created; wait for its CONCLUDED status or BLOCK_JOB_COMPLETED`,
        );
      }
    }
  }

  /** A command's outcome (after the reply). */
  replied(client: number, name: string, args: unknown, ok: boolean): void {
    if (!ok) return;
    const a = isObject(args) ? args : {};
    if (Object.hasOwn(JOB_STARTS, name)) {
      const id = str(a['job-id']) ?? str(a.device);
      const job = id === undefined ? undefined : this.jobs.get(id);
      if (job !== undefined) {
        job.owner = client;
        job.autoDismiss = a['auto-dismiss'] !== false;
        job.nodes = JOB_STARTS[name]!.map((k) => str(a[k])).filter(
          (n): n is string => n !== undefined,
        );
      }
    }
    if (name === 'query-jobs') {
      for (const job of this.jobs.values()) if (job.failed) job.errorReadBy.add(client);
    }
  }

  /** An event the server sent. */
  event(name: string, data: unknown): void {
    const change = jobStatusChange(name, data);
    if (change === undefined) return;
    const { id, status } = change;
    let job = this.jobs.get(id);
    if (job === undefined || status === 'created') {
      job = {
        status,
        autoDismiss: true,
        nodes: [],
        cancelled: false,
        failed: false,
        errorReadBy: new Set(),
        owner: 0,
        reported: false,
      };
      this.jobs.set(id, job);
    }
    job.status = status;
    if (status === 'aborting' && !job.cancelled) job.failed = true;
    if (status === 'null') this.jobs.delete(id);
  }

  /** A client left: its concluded, undismissed jobs are reported now. */
  clientLeft(client: number): void {
    this.lastPollDrop(client);
    for (const [id, job] of this.jobs) {
      if (job.owner === client) this.reportConcluded(id, job, client);
    }
  }

  /** The server stops: every concluded job nobody dismissed. */
  finish(): void {
    for (const [id, job] of this.jobs) this.reportConcluded(id, job, undefined);
  }

  private reportConcluded(id: string, job: JobRecord, client: number | undefined): void {
    if (job.status !== 'concluded' || job.reported) return;
    job.reported = true;
    this.add(
      'concluded-not-dismissed',
      client,
      id,
      undefined,
      `job '${id}' concluded and was never dismissed (auto-dismiss ${job.autoDismiss ? 'on' : 'off'}): send job-dismiss`,
    );
  }

  private poll(client: number, name: string): void {
    const key = `${client}\u0000${name}`;
    const now = this.options.now();
    const last = this.lastPoll.get(key);
    this.lastPoll.set(key, now);
    if (last === undefined || now - last >= this.minPollIntervalMs || this.pollReported.has(key))
      return;
    this.pollReported.add(key);
    this.add(
      'poll-too-fast',
      client,
      undefined,
      name,
      `${name} ${Math.round(now - last)} ms after the previous one (limit ${this.minPollIntervalMs} ms): wait for JOB_STATUS_CHANGE events instead of polling`,
    );
  }

  private lastPollDrop(client: number): void {
    for (const key of [...this.lastPoll.keys()]) {
      if (key.startsWith(`${client}\u0000`)) this.lastPoll.delete(key);
    }
  }

  private add(
    rule: LintRule,
    client: number | undefined,
    job: string | undefined,
    command: string | undefined,
    message: string,
  ): void {
    if (this.list.length >= this.maxFindings) {
      this.dropped++;
      return;
    }
    this.list.push({ rule, client, job, command, message });
  }
}
