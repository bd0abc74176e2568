/**
 * What a replay serves, worked out from a recording: for each recorded connection, the inputs
 * the client is expected to send and the server's outputs, each output with the input it waits
 * for.
 *
 * Which input an output waits for follows from how QEMU's monitor works: it handles one command
 * at a time, in order, and answers each (errors for unreadable input included), so the n-th
 * reply answers the n-th input. An event waits for the command QEMU was busy with when it came
 * (the input after the last answered one), or, when QEMU was idle, for the last input received:
 * an event is never sent before the command that may have caused it. Outputs keep their
 * recorded order, and each is due as long after its input as it was in the recording.
 */
import {
  isRecordMessage,
  isReply,
  type JsonValue,
  type RecordEntry,
  type Recording,
} from '@qmpkit/protocol';

/** An input the client is expected to send. */
export type ExpectedInput =
  | { readonly kind: 'message'; readonly msg: JsonValue; readonly t: number }
  | { readonly kind: 'error'; readonly error: string; readonly t: number };

/** An output of the server. */
export interface PlannedOutput {
  /** The recorded line. */
  readonly entry: Extract<RecordEntry, { readonly dir: unknown }>;
  /** Inputs that must have been received before it is sent (0: none, e.g. the greeting). */
  readonly after: number;
  /** For a reply: which input it answers (1-based); undefined for anything else. */
  readonly answers: number | undefined;
  /** Nanoseconds from the arrival of input `after` (or the connection) to this output. */
  readonly delayNs: number;
}

export interface ConnectionPlan {
  /** The recorded connection number. */
  readonly conn: number;
  readonly inputs: readonly ExpectedInput[];
  readonly outputs: readonly PlannedOutput[];
  /** The server ended the recorded connection (after `quit`, say): end it after the outputs. */
  readonly serverCloses: boolean;
}

/** True for a reply (`return` or `error`) rather than an event or the greeting. */
export function isReplyMessage(msg: JsonValue): boolean {
  return isReply(msg);
}

/** The plans of a recording's connections, in connection order. */
export function planReplay(recording: Recording): ConnectionPlan[] {
  const byConn = new Map<number, RecordEntry[]>();
  for (const entry of recording.entries) {
    const list = byConn.get(entry.conn) ?? [];
    list.push(entry);
    byConn.set(entry.conn, list);
  }
  return [...byConn.keys()]
    .sort((a, b) => a - b)
    .map((conn) => planConnection(conn, byConn.get(conn)!));
}

function planConnection(conn: number, entries: readonly RecordEntry[]): ConnectionPlan {
  const inputs: ExpectedInput[] = [];
  const outputs: PlannedOutput[] = [];
  let replies = 0;
  let serverCloses = false;
  let opened = entries[0]?.t ?? 0;
  const inputTime = (n: number) => (n === 0 ? opened : inputs[n - 1]!.t);
  for (const entry of entries) {
    if ('state' in entry) {
      if (entry.state === 'open') opened = entry.t;
      else serverCloses = entry.by === 'server';
      continue;
    }
    if (entry.dir === 'in') {
      if (isRecordMessage(entry)) inputs.push({ kind: 'message', msg: entry.msg, t: entry.t });
      else if ('error' in entry) inputs.push({ kind: 'error', error: entry.error, t: entry.t });
      // White space after the client's last message needs no answer and is not waited for.
      continue;
    }
    const out = entry;
    let after: number;
    let answers: number | undefined;
    if (isRecordMessage(out) && isReplyMessage(out.msg) && replies < inputs.length) {
      answers = ++replies;
      after = answers;
    } else {
      after = Math.min(inputs.length, replies + 1);
    }
    outputs.push({ entry: out, after, answers, delayNs: Math.max(0, out.t - inputTime(after)) });
  }
  return { conn, inputs, outputs, serverCloses };
}
