// Turns a recorded transcript into lines that are equal across runs and across servers whenever
// the behaviour is the same. Everything replaced here is listed with the reason it may differ:
//
// 1. Event `timestamp` → "<timestamp>": wall-clock time of the host.
// 2. Greeting `QMP.version.package` and `QMP.version.qemu.micro`, and the same two members of a
//    `query-version` return → "<package>"/"<micro>": the distribution's build string and stable
//    release number (Debian 7.2.22 here; qmpkit claims 7.2 but not a Debian build).
// 3. Every value the matched expectation marks `Volatile` (anyInt/anyBool) → "<volatile>": the
//    scenario says, field by field and with a reason, which values depend on timing (e.g. the
//    offset of a job cancelled while it was copying).
// 4. A `repeated` event (BLOCK_JOB_ERROR) is kept once: how many parallel requests failed
//    depends on timing.
// 5. Poll commands and their replies are replaced by one "poll" line: how many polls were needed
//    depends on timing.
//
// Key order inside objects is not compared (keys are sorted): QEMU prints hash-bucket order, and
// the conformance promise is about parsed JSON (job-semantics.md §0).
//
// Rules 1 and 2 and the canonical text are the shared normalizer of @qmpkit/protocol (the one
// users apply to their own recordings); rules 3-5 need the scenario, so they live here.

import { canonicalJson, createNormalizer, type JsonValue } from '@qmpkit/protocol';
import { type Pattern, Volatile } from './scenario.js';
import type { TranscriptEntry } from './scenario-runner.js';

export { canonicalJson };

/** Rules 1 and 2: timestamps, and the version's build string and micro release. */
const normalizeMessage = createNormalizer({ timestamps: true, version: true });

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Replaces the positions `pattern` marks Volatile (rule 3). */
export function maskVolatile(value: unknown, pattern: Pattern | undefined): unknown {
  if (pattern instanceof Volatile) return '<volatile>';
  if (Array.isArray(pattern) && Array.isArray(value)) {
    return value.map((v: unknown, i: number) => maskVolatile(v, pattern[i] as Pattern | undefined));
  }
  if (isObject(pattern) && isObject(value)) {
    const out: Record<string, unknown> = Object.create(null);
    const record = pattern as { readonly [key: string]: Pattern };
    for (const [k, v] of Object.entries(value)) {
      out[k] = Object.hasOwn(record, k) ? maskVolatile(v, record[k]) : v;
    }
    return out;
  }
  return value;
}

/** Normalizes one received message (rules 1-3). */
export function normalizeReceived(json: unknown, expected?: TranscriptEntry): unknown {
  if (!isObject(json)) return json;
  let out: Record<string, unknown> = { ...json };
  if (expected?.kind === 'receive' && expected.expected) {
    const e = expected.expected;
    if ('event' in e && e.data !== undefined && 'data' in out) {
      out = { ...out, data: maskVolatile(out.data, e.data) };
    } else if ('return' in e && 'return' in out) {
      out = { ...out, return: maskVolatile(out.return, e.return) };
    }
  }
  // Rules 1-2 after rule 3, so that the version reads the same whatever the pattern said.
  return normalizeMessage(out as JsonValue);
}

/** The line for a poll, a sleep or a program run, the same in both forms of a transcript. */
function markerLine(entry: TranscriptEntry & { kind: 'poll' | 'sleep' | 'run' }): string {
  if (entry.kind === 'run') {
    const command = [entry.command, ...entry.args].join(' ');
    return `$ ${command} → exit ${entry.exitCode}, stdout ${JSON.stringify(entry.stdout)}`;
  }
  return entry.kind === 'poll' ? `⋯ poll until ${entry.label}` : `⋯ sleep ${entry.ms} ms`;
}

/** The normalized transcript, one line per entry (rules 1-5). */
export function normalizeTranscript(transcript: readonly TranscriptEntry[]): string[] {
  return transcript.map((entry) => {
    if (entry.kind === 'send') return `→ ${canonicalJson(entry.json)}`;
    if (entry.kind !== 'receive') return markerLine(entry);
    const line = `← ${canonicalJson(normalizeReceived(entry.json, entry))}`;
    const repeated = entry.expected && 'event' in entry.expected && entry.expected.repeated;
    return repeated ? `${line} (one or more)` : line;
  });
}

/** The raw transcript (for reading a failure): every message as received, counts included. */
export function showTranscript(transcript: readonly TranscriptEntry[]): string {
  return transcript
    .map((entry) => {
      if (entry.kind === 'send') return `→ ${JSON.stringify(entry.json)}`;
      if (entry.kind !== 'receive') return markerLine(entry);
      return `← ${JSON.stringify(entry.json)}${entry.count ? ` (×${entry.count})` : ''}`;
    })
    .join('\n');
}
