/**
 * One replayed connection: serves a `ConnectionPlan` to a client over a `Transport`.
 *
 * Strict mode: each input must be the recorded one — the same command with the same arguments
 * (or the same unreadable input) in the same order; outputs are sent as the recorded bytes.
 * Tolerant mode: only the command names must match (arguments may differ, e.g. per-run paths),
 * and events carry the current time. In both modes the client's own `id` is echoed in the reply
 * (clients choose ids freely; when it is the recorded one the recorded bytes go out unchanged).
 * A divergence is answered like QEMU answers a failing command — a `GenericError` naming the
 * expected command — and logged; the replay stays where it was, so the client may go on with the
 * expected command.
 */
import {
  canonicalJson,
  encodeJson,
  isJsonObject,
  isRecordMessage,
  type JsonObject,
  type JsonValue,
  ProtocolError,
  type Transport,
  timestampFromMillis,
  wireText,
} from '@qmpkit/protocol';
import type { ConnectionPlan, ExpectedInput, PlannedOutput } from './plan.js';

export type ReplayMode = 'strict' | 'tolerant';

export interface ReplaySessionOptions {
  readonly plan: ConnectionPlan;
  readonly mode: ReplayMode;
  /** Logs one line (a divergence, the end of the recording). */
  readonly log: (line: string) => void;
  /** Monotonic nanoseconds. */
  readonly nowNs: () => number;
  /** Wall-clock milliseconds (tolerant mode's event timestamps). */
  readonly wallMs: () => number;
}

/** `execute` or `exec-oob` of a command, or undefined. */
function commandName(msg: JsonValue): string | undefined {
  if (!isJsonObject(msg)) return undefined;
  const name = msg.execute ?? msg['exec-oob'];
  return typeof name === 'string' ? name : undefined;
}

/** A `query-*` command: what polling clients repeat at their own pace. */
function isPoll(msg: JsonValue): boolean {
  return commandName(msg)?.startsWith('query-') ?? false;
}

/** The message without its `id`, for comparing commands. */
function withoutId(msg: JsonValue): JsonValue {
  if (!isJsonObject(msg)) return msg;
  return Object.fromEntries(Object.entries(msg).filter(([key]) => key !== 'id'));
}

/** What the client sent: a message, or input the reader refused. */
type Input = { kind: 'message'; msg: JsonValue } | { kind: 'error'; error: string };

function describeInput(input: ExpectedInput | Input): string {
  if (input.kind === 'error') return `unreadable input (${input.error})`;
  const name = commandName(input.msg);
  return name === undefined ? encodeJson(input.msg) : `"${name}"`;
}

/** QEMU's output text of `msg` (members in the order given) with its CR LF. */
function qemuText(msg: JsonObject): string {
  return `${encodeJson(msg, { style: 'qemu' })}\r\n`;
}

export class ReplaySession {
  private readonly plan: ConnectionPlan;
  private received = 0;
  /** When each input arrived (index 0: the connection). */
  private readonly arrivals: number[];
  /** The `id` member of each received input (undefined: none), 1-based. */
  private readonly ids: (JsonValue | undefined)[] = [];
  private sent = 0;
  /** Recorded inputs (1-based) skipped in tolerant mode: their replies are not sent. */
  private readonly skipped = new Set<number>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  /** Divergences answered so far. */
  divergences = 0;

  constructor(
    private readonly transport: Transport,
    private readonly options: ReplaySessionOptions,
  ) {
    this.plan = options.plan;
    this.arrivals = [options.nowNs()];
    transport.onmessage = (msg) => this.input({ kind: 'message', msg });
    transport.onerror = (error) => {
      if (ProtocolError.isInstance(error)) this.input({ kind: 'error', error: error.message });
    };
    transport.onclose = () => this.stop();
  }

  /** Starts reading and sends what is due at once (the greeting). */
  async start(): Promise<void> {
    await this.transport.start();
    this.pump();
  }

  /** Stops sending (the client left, or the server stops); idempotent. */
  stop(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private log(line: string): void {
    this.options.log(`connection ${this.plan.conn}: ${line}`);
  }

  private input(got: Input) {
    if (this.closed) return;
    const position = this.received + 1;
    const expected = this.plan.inputs[this.received];
    const id = got.kind === 'message' && isJsonObject(got.msg) ? got.msg.id : undefined;
    const mismatch = this.mismatch(expected, got);
    if (mismatch !== undefined && this.options.mode === 'tolerant' && got.kind === 'message') {
      // A polling client polls as often as its timer says, not as often as when recorded.
      if (this.skipPolls(got.msg)) {
        this.accept(this.received + 1, id);
        return;
      }
      if (this.repeatPoll(got.msg, id)) return;
    }
    if (mismatch !== undefined) {
      this.divergences++;
      this.log(`divergence at input ${position}: ${mismatch}`);
      this.send(
        qemuText({
          ...(id === undefined ? {} : { id }),
          error: { class: 'GenericError', desc: `replay: ${mismatch}` },
        }),
      );
      return;
    }
    this.accept(position, id);
  }

  private accept(position: number, id: JsonValue | undefined): void {
    this.received = position;
    this.arrivals[position] = this.options.nowNs();
    this.ids[position] = id;
    this.pump();
  }

  /**
   * Tolerant mode: the client sent a later recorded input, and every recorded input before it
   * is a `query-*` poll it did not send. Those are skipped (their replies are not sent, the
   * events around them are) and true is returned; the caller accepts `msg`.
   */
  private skipPolls(msg: JsonValue): boolean {
    const name = commandName(msg);
    const inputs = this.plan.inputs;
    for (let j = this.received + 1; j < inputs.length; j++) {
      const before = inputs[j - 1]!;
      if (before.kind !== 'message' || !isPoll(before.msg)) return false;
      const input = inputs[j]!;
      if (input.kind === 'message' && commandName(input.msg) === name) {
        const now = this.options.nowNs();
        for (let k = this.received + 1; k <= j; k++) {
          this.skipped.add(k);
          this.arrivals[k] = now;
        }
        this.log(`skipped ${j - this.received} recorded poll(s) the client did not send`);
        this.received = j;
        return true;
      }
    }
    return false;
  }

  /**
   * Tolerant mode: a `query-*` poll the recording has no place for here is answered with the
   * recorded reply to the latest such poll up to this point (or the first one after it).
   */
  private repeatPoll(msg: JsonValue, id: JsonValue | undefined): boolean {
    if (!isPoll(msg)) return false;
    const name = commandName(msg);
    let best: PlannedOutput | undefined;
    for (const output of this.plan.outputs) {
      const answered =
        output.answers === undefined ? undefined : this.plan.inputs[output.answers - 1];
      if (answered?.kind !== 'message' || commandName(answered.msg) !== name) continue;
      if (best !== undefined && output.answers! > this.received) break;
      best = output;
    }
    if (best === undefined) return false;
    this.log(`an extra ${name} answered with the recorded reply to input ${best.answers}`);
    this.send(this.replyText(best, id));
    return true;
  }

  /** Why `got` is not the expected input, or undefined when it is. */
  private mismatch(expected: ExpectedInput | undefined, got: Input): string | undefined {
    if (expected === undefined) {
      return `the recording has no more input on this connection (got ${describeInput(got)})`;
    }
    const where = `input ${this.received + 1} of recorded connection ${this.plan.conn}`;
    if (expected.kind !== got.kind) {
      return `expected ${describeInput(expected)} (${where}), got ${describeInput(got)}`;
    }
    if (expected.kind === 'error' || got.kind === 'error') {
      const same =
        expected.kind === 'error' && got.kind === 'error' && expected.error === got.error;
      return same || this.options.mode === 'tolerant'
        ? undefined
        : `expected ${describeInput(expected)} (${where}), got ${describeInput(got)}`;
    }
    if (commandName(expected.msg) !== commandName(got.msg)) {
      return `expected ${describeInput(expected)} (${where}), got ${describeInput(got)}`;
    }
    const wanted = canonicalJson(withoutId(expected.msg));
    const given = canonicalJson(withoutId(got.msg));
    if (wanted === given) return undefined;
    if (this.options.mode === 'tolerant') {
      this.log(
        `input ${this.received + 1}: ${describeInput(got)} with other arguments than recorded (accepted)`,
      );
      return undefined;
    }
    return `expected ${describeInput(expected)} with the recorded arguments ${wanted} (${where}), got ${given}`;
  }

  /** Sends every output whose input arrived and whose recorded delay has passed, in order. */
  private pump(): void {
    if (this.closed || this.timer !== undefined) return;
    const outputs = this.plan.outputs;
    while (this.sent < outputs.length) {
      const output = outputs[this.sent]!;
      if (output.after > this.received) return;
      const due = this.arrivals[output.after]! + output.delayNs;
      const wait = due - this.options.nowNs();
      if (wait > 0) {
        this.timer = setTimeout(
          () => {
            this.timer = undefined;
            this.pump();
          },
          Math.ceil(wait / 1e6),
        );
        return;
      }
      this.sent++;
      if (output.answers !== undefined && this.skipped.has(output.answers)) continue;
      this.send(this.outputText(output));
    }
    if (this.plan.serverCloses) {
      this.log('the recorded server closed the connection here');
      this.stop();
      void this.transport.close();
    }
  }

  /** The bytes of an output: the recorded ones, or re-encoded with the client's id / the time. */
  private outputText(output: PlannedOutput): string {
    const entry = output.entry;
    if (!isRecordMessage(entry)) return 'raw' in entry ? entry.raw : '';
    const msg = entry.msg;
    if (!isJsonObject(msg)) return wireText(entry);
    if (output.answers !== undefined) return this.replyText(output, this.ids[output.answers]);
    if (this.options.mode === 'tolerant' && isJsonObject(msg.timestamp)) {
      const { seconds, microseconds } = timestampFromMillis(this.options.wallMs());
      const timestamp: JsonObject = { seconds, microseconds };
      return qemuText(
        Object.fromEntries(
          Object.entries(msg).map(([k, v]) => [k, k === 'timestamp' ? timestamp : v]),
        ),
      );
    }
    return wireText(entry);
  }

  /** A recorded reply with the client's `id`: the recorded bytes when it is the recorded id. */
  private replyText(output: PlannedOutput, clientId: JsonValue | undefined): string {
    const entry = output.entry;
    if (!isRecordMessage(entry)) return 'raw' in entry ? entry.raw : '';
    if (!isJsonObject(entry.msg)) return wireText(entry);
    const msg = entry.msg;
    if (canonicalJson(clientId) === canonicalJson(msg.id)) return wireText(entry);
    // QEMU's member order: `{"return": …, "id": …}` but `{"id": …, "error": …}`.
    const { id: _recorded, ...rest } = msg;
    const withId = clientId === undefined ? {} : { id: clientId };
    return qemuText('error' in rest ? { ...withId, ...rest } : { ...rest, ...withId });
  }

  private send(text: string): void {
    if (this.transport.state !== 'running') return;
    this.transport.sendRaw(text).catch(() => {
      // The client is gone; onclose ends the session.
    });
  }
}
