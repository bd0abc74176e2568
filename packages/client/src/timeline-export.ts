/**
 * Exports of job timelines: NDJSON (one record per line, in time order) and OpenTelemetry-shaped
 * spans (OTLP/JSON `ExportTraceServiceRequest`: one span per job run, one span event per status
 * change and per error). Pure; the formats are documented in the package README.
 */
import type { JobTimeline } from './timeline.js';

/** One NDJSON line. `kind` tells which of the optional members are present. */
export type TimelineRecord =
  | (RecordBase & { kind: 'status'; status: string })
  | (RecordBase & { kind: 'progress'; current: number; total: number })
  | (RecordBase & { kind: 'speed'; speed: number })
  | (RecordBase & {
      kind: 'error';
      error: 'io' | 'failed';
      operation?: string;
      action?: string;
      message?: string;
    })
  | (RecordBase & { kind: 'end'; outcome: string | null; error: string | null });

interface RecordBase {
  /** The timeline's clock (epoch milliseconds when fed with them). */
  time: number;
  /** The job id and its run number (unique within the timeline). */
  job: string;
  seq: number;
  type: string | null;
}

/** Every entry of the given timelines as records, ordered by time (stable within a job). */
export function timelineRecords(jobs: readonly JobTimeline[]): TimelineRecord[] {
  const out: TimelineRecord[] = [];
  for (const job of jobs) {
    const base = { job: job.id, seq: job.seq, type: job.type };
    for (const i of job.intervals)
      out.push({ time: i.start, ...base, kind: 'status', status: i.status });
    for (const s of job.samples) {
      out.push({ time: s.time, ...base, kind: 'progress', current: s.current, total: s.total });
    }
    for (const s of job.speeds) out.push({ time: s.time, ...base, kind: 'speed', speed: s.speed });
    for (const e of job.errors) {
      out.push({
        time: e.time,
        ...base,
        kind: 'error',
        error: e.kind,
        ...(e.operation === undefined ? {} : { operation: e.operation }),
        ...(e.action === undefined ? {} : { action: e.action }),
        ...(e.message === undefined ? {} : { message: e.message }),
      });
    }
    if (job.ended !== null) {
      out.push({ time: job.ended, ...base, kind: 'end', outcome: job.outcome, error: job.error });
    }
  }
  // Array.prototype.sort is stable: entries of equal time keep the order above.
  return out.sort((a, b) => a.time - b.time);
}

/** The records as NDJSON text (each line a JSON object, ending with a newline). */
export function timelineToNdjson(jobs: readonly JobTimeline[]): string {
  return timelineRecords(jobs)
    .map((record) => `${JSON.stringify(record)}\n`)
    .join('');
}

/** An OTLP/JSON attribute. */
export interface OtelAttribute {
  key: string;
  value:
    | { stringValue: string }
    | { intValue: string }
    | { doubleValue: number }
    | { boolValue: boolean };
}

/** An OTLP/JSON span (the members this export fills). */
export interface OtelSpan {
  traceId: string;
  spanId: string;
  name: string;
  /** 1 = SPAN_KIND_INTERNAL. */
  kind: 1;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtelAttribute[];
  events: Array<{ timeUnixNano: string; name: string; attributes: OtelAttribute[] }>;
  /** 0 = unset (still running, or cancelled), 1 = ok (completed), 2 = error (failed). */
  status: { code: 0 | 1 | 2; message?: string };
}

/** An OTLP/JSON `ExportTraceServiceRequest` holding the spans. */
export interface OtelTraceExport {
  resourceSpans: Array<{
    resource: { attributes: OtelAttribute[] };
    scopeSpans: Array<{ scope: { name: string }; spans: OtelSpan[] }>;
  }>;
}

/** Options of `timelineToOtel`. */
export interface OtelExportOptions {
  /** End time for jobs still alive (their span is exported open-ended at this time). */
  now: number;
  /** `service.name` of the resource (default `qemu`). */
  serviceName?: string;
  /** Extra resource attributes, e.g. `{ 'qmpkit.target': '/run/vm1.sock' }`. */
  resource?: Readonly<Record<string, string>>;
  /** Seeds the trace id: one trace per (seed) — e.g. the VM's name (default `qmpkit`). */
  traceSeed?: string;
}

const str = (key: string, value: string): OtelAttribute => ({ key, value: { stringValue: value } });
const int = (key: string, value: number): OtelAttribute => ({
  key,
  value: { intValue: String(Math.round(value)) },
});

/** Milliseconds to OTLP's decimal nanoseconds string (exact for whole and fractional ms). */
function nanos(ms: number): string {
  return (BigInt(Math.round(ms * 1000)) * 1000n).toString();
}

/** FNV-1a 64-bit of `text`, as 16 hex digits: span and trace ids that are stable per input. */
function fnv64(text: string): string {
  let hash = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) {
    hash ^= BigInt(text.charCodeAt(i));
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, '0');
}

/** The timelines as one OTLP/JSON trace export: a span per job run. */
export function timelineToOtel(
  jobs: readonly JobTimeline[],
  options: OtelExportOptions,
): OtelTraceExport {
  const seed = options.traceSeed ?? 'qmpkit';
  const traceId = fnv64(`trace:${seed}`) + fnv64(`trace2:${seed}`);
  const spans = jobs.map((job): OtelSpan => {
    const attributes = [
      str('qemu.job.id', job.id),
      int('qmpkit.job.seq', job.seq),
      str('qemu.job.type', job.type ?? 'unknown'),
      str('qemu.job.status', job.status),
      int('qemu.job.current_progress', job.current),
      int('qemu.job.total_progress', job.total),
    ];
    if (job.outcome !== null) attributes.push(str('qmpkit.job.outcome', job.outcome));
    if (job.error !== null) attributes.push(str('qemu.job.error', job.error));
    if (job.speed !== null) attributes.push(int('qemu.job.speed', job.speed));
    if (job.ended === null) attributes.push({ key: 'qmpkit.job.open', value: { boolValue: true } });
    const events: OtelSpan['events'] = [];
    for (const i of job.intervals) {
      events.push({
        timeUnixNano: nanos(i.start),
        name: i.status,
        attributes: [str('qemu.job.status', i.status)],
      });
    }
    for (const e of job.errors) {
      const attrs = [str('qmpkit.error.kind', e.kind)];
      if (e.operation !== undefined) attrs.push(str('qemu.job.io.operation', e.operation));
      if (e.action !== undefined) attrs.push(str('qemu.job.io.action', e.action));
      if (e.message !== undefined) attrs.push(str('exception.message', e.message));
      events.push({
        timeUnixNano: nanos(e.time),
        name: e.kind === 'io' ? 'BLOCK_JOB_ERROR' : 'exception',
        attributes: attrs,
      });
    }
    events.sort((a, b) => {
      const x = BigInt(a.timeUnixNano);
      const y = BigInt(b.timeUnixNano);
      return x < y ? -1 : x > y ? 1 : 0;
    });
    const status: OtelSpan['status'] =
      job.outcome === 'failed'
        ? { code: 2, ...(job.error === null ? {} : { message: job.error }) }
        : job.outcome === 'completed'
          ? { code: 1 }
          : { code: 0 };
    return {
      traceId,
      spanId: fnv64(`span:${seed}:${job.seq}:${job.id}:${job.firstSeen}`),
      name: `qemu.job ${job.type ?? 'unknown'}`,
      kind: 1,
      startTimeUnixNano: nanos(job.firstSeen),
      endTimeUnixNano: nanos(job.ended ?? Math.max(options.now, job.firstSeen)),
      attributes,
      events,
      status,
    };
  });
  const resource = [str('service.name', options.serviceName ?? 'qemu')];
  for (const [key, value] of Object.entries(options.resource ?? {})) resource.push(str(key, value));
  return {
    resourceSpans: [
      {
        resource: { attributes: resource },
        scopeSpans: [{ scope: { name: '@qmpkit/client' }, spans }],
      },
    ],
  };
}
