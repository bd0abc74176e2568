/**
 * `--bandwidth RATE`: a storage bandwidth budget that the jobs of every VM (one, or a fleet's)
 * share, as VMs on one storage array or one NFS server do. Each job copying gets an equal share
 * (never more than its own speed or `--throughput` would give it). The shares are worked out
 * again when a job starts or stops copying, at most every 100 ms, so a burst of job starts
 * across a large fleet costs one re-plan of each job, not one per start.
 */
import type { JobPace } from '@qmpkit/block-job-sim';
import { jobStatusChange } from '../job-status-change.js';

/** What the budget needs of each VM's simulator: to be told when the shares change. */
export interface PacedSimulator {
  paceChanged(): void;
}

/** How often, at most, the shares are worked out again. */
const RESHARE_MS = 100;

export class SharedBandwidth {
  private readonly simulators: PacedSimulator[] = [];
  /** Jobs copying, as `vm/job`. */
  private readonly copying = new Set<string>();
  /** The number of jobs the shares now in force were worked out for. */
  private sharedAmong = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly bytesPerSecond: number,
    /** Told each time the shares change (one line for the server's log). */
    private readonly log: (line: string) => void,
  ) {}

  /** A job's pace: its share of the budget now, for the simulators' pace hook. */
  readonly pace: JobPace = () => this.bytesPerSecond / Math.max(1, this.copying.size);

  /** A VM's simulator draws on the budget (its pace hook must include `pace`). */
  attach(simulator: PacedSimulator): void {
    this.simulators.push(simulator);
  }

  /** An event of VM `vm`: job status changes say which jobs copy. */
  event(vm: number, event: string, data: unknown): void {
    const change = jobStatusChange(event, data);
    if (change === undefined) return;
    const { id, status } = change;
    const key = `${vm}/${id}`;
    if (status === 'running') this.copying.add(key);
    else this.copying.delete(key);
    if (this.copying.size !== this.sharedAmong) this.reshareSoon();
  }

  private reshareSoon(): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.sharedAmong = this.copying.size;
      for (const simulator of this.simulators) simulator.paceChanged();
      this.log(`bandwidth: ${this.bytesPerSecond} bytes/s shared by ${this.sharedAmong} job(s)`);
    }, RESHARE_MS);
    this.timer.unref();
  }

  /** Stops re-sharing (the VMs are closing). */
  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** The slowest of several paces for each job (undefined where none applies). */
export function slowestPace(paces: readonly JobPace[]): JobPace {
  if (paces.length === 1) return paces[0]!;
  return (job, unpaced) => {
    let slowest: number | undefined;
    for (const pace of paces) {
      const p = pace(job, unpaced);
      if (p !== undefined && (slowest === undefined || p < slowest)) slowest = p;
    }
    return slowest;
  };
}
