/**
 * A fault plan: the faults in force, the seed, and every decision taken. Each decision is a
 * pure function of (seed, fault number, how many times that fault was met before), so a run
 * that sends the same commands meets the same faults in the same places: a failing run
 * replays exactly with its seed, whatever else happened between two decisions.
 */
import {
  checkSeed,
  describeFault,
  type FaultKind,
  type FaultSpec,
  FaultSpecError,
  MAX_FAULTS,
} from './spec.js';

/** One time a fault applied. */
export interface FaultFiring {
  /** The fault's number in the plan (from 1, in the order faults were added). */
  readonly fault: number;
  readonly kind: FaultKind;
  /** Which meeting of that fault this was (from 1). */
  readonly occasion: number;
  /** What it did, e.g. `delayed the reply to query-jobs by 130 ms`. */
  readonly what: string;
}

interface ActiveFault {
  readonly id: number;
  readonly spec: FaultSpec;
  met: number;
  fired: number;
}

/** What the faults do to one command. */
export interface CommandFaults {
  readonly delayMs: number;
  /** The longest the reply waits for the command's events (0: events-first is off). */
  readonly eventsFirstMs: number;
  readonly drop: boolean;
}

/** How long a reply held by events-first waits for the command's first event, by default. */
export const DEFAULT_EVENTS_FIRST_MS = 1000;

/** How long a poll held by dismiss-race waits for its job to go, by default. */
export const DEFAULT_DISMISS_RACE_MS = 10_000;

/** The firings kept for `x-qmpkit-fault` (older ones are counted, not kept). */
const MAX_FIRINGS = 1000;

/** Pace decisions kept (one per fault and live job); beyond it the oldest are taken again. */
const MAX_PACE_DECISIONS = 100_000;

/** A job's pace under the progress faults. */
export interface JobPaceDecision {
  /** Bytes per second the job's storage moves (0: stalled), or undefined: no fault applies. */
  readonly pace: number | undefined;
  /** When a stall in force ends (ms since the epoch), if it does. */
  readonly until: number | undefined;
}

function describePace(spec: FaultSpec, job: string): string {
  if (spec.kind === 'stall-progress') {
    return `stalled job ${job}'s progress${spec.ms === undefined ? '' : ` for ${spec.ms} ms`}`;
  }
  return spec.rate !== undefined
    ? `slowed job ${job} to ${spec.rate} bytes/s`
    : `slowed job ${job} to ${spec.percent}% of its rate`;
}

/** A 32-bit mix (Murmur3's finalizer): spreads every input bit over the output. */
function mix(h: number): number {
  let x = h >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A number in [0, 1) determined by the seed and the three coordinates. */
export function seededUnit(seed: number, fault: number, occasion: number, draw: number): number {
  let h = mix(seed ^ 0x9e3779b9);
  h = mix(h ^ Math.imul(fault, 0x27d4eb2f));
  h = mix(h ^ Math.imul(occasion, 0x165667b1));
  h = mix(h ^ Math.imul(draw + 1, 0x61c88647));
  return h / 2 ** 32;
}

export class FaultPlan {
  readonly seed: number;
  private readonly faults: ActiveFault[] = [];
  private nextId = 1;
  private readonly log: FaultFiring[] = [];
  /** Firings no longer kept in the log. */
  droppedFirings = 0;
  /** Whether a progress fault applies to a job: `fault id:job` → when it began (ms), or false. */
  private readonly paceDecisions = new Map<string, number | false>();
  /** Told of every firing (for the server's log). */
  onFire: ((firing: FaultFiring) => void) | undefined;

  constructor(seed: number, faults: readonly FaultSpec[] = []) {
    this.seed = checkSeed(seed);
    for (const f of faults) this.add(f);
  }

  /** Adds a fault; returns its number. */
  add(spec: FaultSpec): number {
    if (this.faults.length >= MAX_FAULTS) {
      throw new FaultSpecError(`the plan already holds ${MAX_FAULTS} faults`);
    }
    const id = this.nextId++;
    this.faults.push({ id, spec, met: 0, fired: 0 });
    return id;
  }

  /** Removes every fault (numbers are not reused). */
  clear(): void {
    this.faults.length = 0;
    this.paceDecisions.clear();
  }

  get firings(): readonly FaultFiring[] {
    return this.log;
  }

  /** The plan as `x-qmpkit-fault` returns it. */
  describe(): Record<string, unknown> {
    return {
      seed: this.seed,
      faults: this.faults.map((f) => ({
        id: f.id,
        fault: describeFault(f.spec),
        met: f.met,
        fired: f.fired,
      })),
      fired: this.log.map((f) => ({ ...f })),
      ...(this.droppedFirings > 0 ? { 'fired-dropped': this.droppedFirings } : {}),
    };
  }

  /**
   * Meets every fault of `kind` that `matches`: each one met counts an occasion and applies
   * when its count allows and its probability (drawn from the seed) says so. Returns the ones
   * that apply, with a draw function for further seeded choices on this occasion.
   */
  private meet(
    kind: FaultKind,
    matches: (spec: FaultSpec) => boolean,
  ): { fault: ActiveFault; draw: (n: number) => number; fire: (what: string) => void }[] {
    const applying = [];
    for (const fault of this.faults) {
      if (fault.spec.kind !== kind || !matches(fault.spec)) continue;
      const met = this.meetOne(fault);
      if (met !== undefined) applying.push(met);
    }
    return applying;
  }

  /** One fault met: it applies (count and seeded probability allowing) or not. */
  private meetOne(
    fault: ActiveFault,
  ): { fault: ActiveFault; draw: (n: number) => number; fire: (what: string) => void } | undefined {
    const { spec } = fault;
    if (spec.count !== undefined && fault.fired >= spec.count) return undefined;
    const occasion = ++fault.met;
    const draw = (n: number) => seededUnit(this.seed, fault.id, occasion, n);
    if (spec.probability !== undefined && draw(0) >= spec.probability) return undefined;
    fault.fired++;
    const fire = (what: string) =>
      this.record({ fault: fault.id, kind: spec.kind, occasion, what });
    return { fault, draw, fire };
  }

  private record(firing: FaultFiring): void {
    if (this.log.length >= MAX_FIRINGS) {
      this.log.shift();
      this.droppedFirings++;
    }
    this.log.push(firing);
    this.onFire?.(firing);
  }

  /** A new connection: how long its greeting is held (Infinity: never sent), or 0. */
  greetingHold(): number {
    let hold = 0;
    for (const { fault, fire } of this.meet('hold-greeting', () => true)) {
      const ms = fault.spec.ms ?? Number.POSITIVE_INFINITY;
      fire(Number.isFinite(ms) ? `held a greeting for ${ms} ms` : 'held a greeting for ever');
      hold = Math.max(hold, ms);
    }
    return hold;
  }

  /** What the faults do to `command`, about to run. */
  forCommand(command: string, builtin = false): CommandFaults {
    // A fault without `command` is for the simulator's commands; a built-in must be named.
    const matches = (spec: FaultSpec) =>
      spec.command === command || (spec.command === undefined && !builtin);
    let delayMs = 0;
    for (const { fault, draw, fire } of this.meet('delay-reply', matches)) {
      const { ms = 0, jitter = 0 } = fault.spec;
      const delay = ms + Math.floor(draw(1) * (jitter + 1));
      fire(`delayed the reply to ${command} by ${delay} ms`);
      delayMs += delay;
    }
    let eventsFirstMs = 0;
    for (const { fault, fire } of this.meet('events-first', matches)) {
      fire(`held the reply to ${command} until its events were sent`);
      eventsFirstMs = Math.max(eventsFirstMs, fault.spec.ms ?? DEFAULT_EVENTS_FIRST_MS);
    }
    let drop = false;
    for (const { fire } of this.meet('drop', (s) => s.command === command)) {
      fire(`dropped the connection after ${command} ran, before its reply`);
      drop = true;
    }
    return { delayMs, eventsFirstMs, drop };
  }

  /** A job changed status: true when the connections are to be dropped before the event. */
  dropOnJobStatus(job: string, status: string): boolean {
    let drop = false;
    for (const { fire } of this.meet('drop', (s) => s.job === job && s.status === status)) {
      fire(`dropped the connections when job ${job} became ${status}`);
      drop = true;
    }
    return drop;
  }

  /**
   * slow-progress and stall-progress: the pace of `job` now (`now` in ms), given the rate it
   * would copy at otherwise (`unpaced`, bytes/s, Infinity when nothing limits it). Each fault is
   * met once per job — the first time that job's pace is asked for — and its decision holds for
   * the job's life (`jobGone` forgets it).
   */
  paceOf(job: string, unpaced: number, now: number): JobPaceDecision {
    let pace: number | undefined;
    let until: number | undefined;
    for (const fault of this.faults) {
      const { spec } = fault;
      if (spec.kind !== 'slow-progress' && spec.kind !== 'stall-progress') continue;
      if (spec.job !== undefined && spec.job !== job) continue;
      const key = `${fault.id}:${job}`;
      let since = this.paceDecisions.get(key);
      if (since === undefined) {
        since = false;
        const met = this.meetOne(fault);
        if (met !== undefined) {
          since = now;
          met.fire(describePace(spec, job));
        }
        if (this.paceDecisions.size >= MAX_PACE_DECISIONS) {
          this.paceDecisions.delete(this.paceDecisions.keys().next().value as string);
        }
        this.paceDecisions.set(key, since);
      }
      if (since === false) continue;
      if (spec.kind === 'stall-progress') {
        if (spec.ms === undefined) {
          pace = 0;
        } else if (now < since + spec.ms) {
          pace = 0;
          until = Math.min(until ?? Number.POSITIVE_INFINITY, since + spec.ms);
        }
      } else {
        const rate =
          spec.rate ?? (Number.isFinite(unpaced) ? (unpaced * spec.percent!) / 100 : undefined);
        if (rate !== undefined)
          pace = Math.min(pace ?? Number.POSITIVE_INFINITY, Math.max(1, Math.floor(rate)));
      }
    }
    return { pace, until: pace === 0 ? until : undefined };
  }

  /** A job ended (its id may be used again): its pace decisions go. */
  jobGone(job: string): void {
    for (const fault of this.faults) this.paceDecisions.delete(`${fault.id}:${job}`);
  }

  /** Where to cut an output write of `length` characters (ascending offsets), or undefined. */
  splitPoints(length: number): number[] | undefined {
    if (length < 2) return undefined;
    let points: number[] | undefined;
    for (const { fault, draw, fire } of this.meet('split', () => true)) {
      const pieces = Math.min(fault.spec.pieces ?? 2 + Math.floor(draw(1) * 3), length);
      const cuts = new Set<number>();
      for (let i = 0; cuts.size < pieces - 1 && i < pieces * 8; i++) {
        cuts.add(1 + Math.floor(draw(2 + i) * (length - 1)));
      }
      points = [...cuts].sort((a, b) => a - b);
      fire(`split a write of ${length} bytes at ${points.join(', ')}`);
      break;
    }
    return points;
  }

  /**
   * A poll is about to list `jobs` (live, already listed by an earlier poll): the job it is to
   * wait for until it is gone, and for how long at most, or undefined.
   */
  dismissRace(jobs: readonly string[]): { job: string; ms: number } | undefined {
    for (const job of jobs) {
      for (const { fault, fire } of this.meet(
        'dismiss-race',
        (s) => s.job === undefined || s.job === job,
      )) {
        const ms = fault.spec.ms ?? DEFAULT_DISMISS_RACE_MS;
        fire(`held a poll until job ${job} was gone (at most ${ms} ms)`);
        return { job, ms };
      }
    }
    return undefined;
  }

  /** io-error faults not armed yet (each is handed out once), with their numbers. */
  ioErrorsToArm(): { id: number; spec: FaultSpec }[] {
    const out = [];
    for (const fault of this.faults) {
      if (fault.spec.kind !== 'io-error' || fault.met > 0) continue;
      fault.met = 1;
      out.push({ id: fault.id, spec: fault.spec });
    }
    return out;
  }

  /** Records that fault `id` was armed (or failed to be). */
  recordArmed(id: number, what: string): void {
    const fault = this.faults.find((f) => f.id === id);
    if (fault === undefined) return;
    fault.fired++;
    this.record({ fault: id, kind: fault.spec.kind, occasion: 1, what });
  }

  /** How long to gather output before writing it in one piece, or 0. */
  coalesceWindow(): number {
    let window = 0;
    for (const { fault, fire } of this.meet('coalesce', () => true)) {
      const ms = fault.spec.ms ?? 0;
      fire(`gathered output for ${ms} ms into one write`);
      window = Math.max(window, ms);
    }
    return window;
  }
}
