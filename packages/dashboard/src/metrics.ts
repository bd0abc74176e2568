/**
 * `/metrics` in the Prometheus text exposition format (version 0.0.4). The metric names are
 * stable and documented in the README; per-job series exist only while the job does.
 */
import type { JobTimeline } from '@qmpkit/client';
import { ROUND_TRIP_BUCKETS, type TargetCounters } from './hub.js';
import type { TargetState } from './messages.js';

/** The content type of the exposition format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface MetricsInput {
  targets: ReadonlyArray<{
    state: TargetState;
    jobs: readonly JobTimeline[];
    counters: TargetCounters;
  }>;
  /** Connected page streams. */
  sseClients: number;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(pairs: Readonly<Record<string, string>>): string {
  const parts = Object.entries(pairs).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function value(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Number.POSITIVE_INFINITY) return '+Inf';
  if (n === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(n);
}

class Exposition {
  private readonly lines: string[] = [];
  family(name: string, type: 'gauge' | 'counter' | 'histogram', help: string): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  }
  sample(name: string, pairs: Readonly<Record<string, string>>, n: number): void {
    this.lines.push(`${name}${labels(pairs)} ${value(n)}`);
  }
  text(): string {
    return `${this.lines.join('\n')}\n`;
  }
}

/** Renders the metrics of every target. */
export function renderMetrics(input: MetricsInput): string {
  const out = new Exposition();
  const { targets } = input;

  out.family(
    'qmpkit_qmp_up',
    'gauge',
    'Whether the QMP connection to the target is up (1) or not (0).',
  );
  for (const t of targets)
    out.sample('qmpkit_qmp_up', { target: t.state.name }, t.state.state === 'connected' ? 1 : 0);

  out.family('qmpkit_qmp_events_received_total', 'counter', 'QMP events received, by event name.');
  for (const t of targets) {
    for (const [event, n] of t.counters.events) {
      out.sample('qmpkit_qmp_events_received_total', { target: t.state.name, event }, n);
    }
  }

  out.family(
    'qmpkit_qmp_round_trip_seconds',
    'histogram',
    'Round trip of the query-jobs commands the dashboard sends.',
  );
  for (const t of targets) {
    const rt = t.counters.roundTrips;
    ROUND_TRIP_BUCKETS.forEach((bound, i) => {
      out.sample(
        'qmpkit_qmp_round_trip_seconds_bucket',
        { target: t.state.name, le: String(bound) },
        rt.buckets[i] ?? 0,
      );
    });
    out.sample(
      'qmpkit_qmp_round_trip_seconds_bucket',
      { target: t.state.name, le: '+Inf' },
      rt.count,
    );
    out.sample('qmpkit_qmp_round_trip_seconds_sum', { target: t.state.name }, rt.sum);
    out.sample('qmpkit_qmp_round_trip_seconds_count', { target: t.state.name }, rt.count);
  }

  out.family('qmpkit_jobs', 'gauge', 'Jobs that exist now, by type and status.');
  for (const t of targets) {
    const counts = new Map<string, number>();
    for (const job of t.jobs) {
      if (job.ended !== null) continue;
      const key = `${job.type ?? 'unknown'}\u0000${job.status}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    for (const [key, n] of [...counts].sort()) {
      const [type = '', status = ''] = key.split('\u0000');
      out.sample('qmpkit_jobs', { target: t.state.name, type, status }, n);
    }
  }

  out.family(
    'qmpkit_jobs_finished_total',
    'counter',
    'Jobs that reached null, by type and outcome.',
  );
  for (const t of targets) {
    for (const [key, n] of t.counters.finished) {
      const [type = '', outcome = ''] = key.split('\u0000');
      out.sample('qmpkit_jobs_finished_total', { target: t.state.name, type, outcome }, n);
    }
  }

  out.family(
    'qmpkit_job_errors_total',
    'counter',
    'Job errors: BLOCK_JOB_ERROR by the action QEMU took (ignore, report, stop), and jobs that failed (action "failed").',
  );
  for (const t of targets) {
    for (const [key, n] of t.counters.errors) {
      const [type = '', action = ''] = key.split('\u0000');
      out.sample('qmpkit_job_errors_total', { target: t.state.name, type, action }, n);
    }
  }

  const perJob: Array<[string, 'gauge', string, (j: JobTimeline) => number | null]> = [
    [
      'qmpkit_job_bytes_done',
      'gauge',
      'Work done (current-progress; bytes for block jobs).',
      (j) => j.current,
    ],
    [
      'qmpkit_job_bytes_total',
      'gauge',
      'Estimated total work (total-progress); grows under guest writes.',
      (j) => j.total,
    ],
    [
      'qmpkit_job_rate_bytes_per_second',
      'gauge',
      'Progress rate over the last seconds.',
      (j) => j.rate,
    ],
    [
      'qmpkit_job_eta_seconds',
      'gauge',
      'Estimated seconds to go; absent while unknown or not converging.',
      (j) => (j.etaMs === null ? null : j.etaMs / 1000),
    ],
    [
      'qmpkit_job_speed_limit_bytes_per_second',
      'gauge',
      'Speed limit (0 = unlimited).',
      (j) => j.speed,
    ],
    [
      'qmpkit_job_stalled',
      'gauge',
      '1 when the job is running without progress for the stall time.',
      (j) => (j.stalled ? 1 : 0),
    ],
  ];
  for (const [name, type, help, read] of perJob) {
    out.family(name, type, help);
    for (const t of targets) {
      for (const job of t.jobs) {
        if (job.ended !== null) continue;
        const n = read(job);
        if (n === null) continue;
        out.sample(name, { target: t.state.name, job: job.id, type: job.type ?? 'unknown' }, n);
      }
    }
  }

  out.family('qmpkit_dashboard_sse_clients', 'gauge', 'Pages connected to the live stream.');
  out.sample('qmpkit_dashboard_sse_clients', {}, input.sseClients);
  return out.text();
}
