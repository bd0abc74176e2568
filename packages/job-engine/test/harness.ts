// A transcript recorder in the notation of job-semantics.md §5–§7: one line per event, `R {}` or
// `R <class>: <desc>` for a reply, so scenarios compare directly with the reference's listings.
import {
  type CreateJobOptions,
  type Effect,
  type EnterEffect,
  type JobCommandArgs,
  JobEngine,
  type JobResult,
} from '../src/index.js';

export function eventLine(effect: Effect): string | undefined {
  if (effect.type !== 'event') return undefined;
  switch (effect.event) {
    case 'JOB_STATUS_CHANGE':
      return `${effect.data.id} ${effect.data.status}`;
    case 'BLOCK_JOB_PENDING':
      return `BLOCK_JOB_PENDING ${effect.data.id}`;
    case 'BLOCK_JOB_ERROR':
      return `BLOCK_JOB_ERROR ${effect.data.device} ${effect.data.operation} ${effect.data.action}`;
    case 'BLOCK_JOB_COMPLETED':
      return effect.data.error === undefined
        ? `BLOCK_JOB_COMPLETED ${effect.data.device}`
        : `BLOCK_JOB_COMPLETED ${effect.data.device} error=${effect.data.error}`;
    default:
      return `${effect.event} ${effect.data.device}`;
  }
}

export function eventLines(effects: readonly Effect[]): string[] {
  return effects.map(eventLine).filter((l): l is string => l !== undefined);
}

export class Transcript {
  readonly lines: string[] = [];
  /** Every effect seen, in order (events and driver instructions). */
  readonly effects: Effect[] = [];

  constructor(readonly engine = new JobEngine()) {}

  /** Effects of something that is not a command (a driver signal, a creation step). */
  note(result: JobResult): JobResult {
    this.effects.push(...result.effects);
    this.lines.push(...eventLines(result.effects));
    return result;
  }

  /** The reply line of a command. */
  reply(result: JobResult): JobResult {
    this.lines.push(result.ok ? 'R {}' : `R ${result.error.class}: ${result.error.desc}`);
    return result;
  }

  /** A job command: its events (all before the reply), then its reply. */
  cmd<C extends keyof JobCommandArgs>(command: C, args: JobCommandArgs[C]): JobResult {
    return this.reply(this.note(this.engine.execute(command, args)));
  }

  /** What a job-creating command does: create, start, reply (no drain). */
  createCommand(options: CreateJobOptions): JobResult {
    const created = this.note(this.engine.create(options));
    if (!created.ok) return this.reply(created);
    return this.reply(this.note(this.engine.start(options.id)));
  }

  /** Driver instructions (enter effects) seen so far for a job. */
  enters(id: string): EnterEffect[] {
    return this.effects.filter((e): e is EnterEffect => e.type === 'enter' && e.id === id);
  }

  /** Forget what was recorded (keeps the engine). */
  clear(): void {
    this.lines.length = 0;
    this.effects.length = 0;
  }
}
