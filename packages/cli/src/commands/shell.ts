/**
 * `qmpkit shell`: an interactive QMP shell in the style of QEMU's qmp-shell (see keyvalue.ts for
 * the syntax), with persistent bounded history, tab completion from the server's
 * `query-qmp-schema`, pretty-printed replies, events printed as they arrive, and an optional
 * NDJSON transcript (`--log`).
 *
 * Ctrl-D (end of input) leaves with exit 0, Ctrl-C with 130; the terminal is restored and the
 * connection closed either way.
 */
import { appendFileSync, chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { Writable } from 'node:stream';
import { ExecuteError, type QmpClient, type TranscriptEntry } from '@qmpkit/client';
import type { ShellCommand } from '../args.js';
import { completeLine, SchemaIndex } from '../completion.js';
import {
  type CliIo,
  connect,
  describeError,
  EXIT_FAILURE,
  EXIT_INTERRUPTED,
  EXIT_OK,
  type Output,
} from '../io.js';
import { formatJson } from '../json-format.js';
import { InputError, type ParsedCommand, ShellParser } from '../keyvalue.js';

/**
 * readline's output stream over the shell's Output: writes go through to it, and the
 * terminal's width and its resize events too (readline wraps and redraws the line by them).
 */
class ReadlineOutput extends Writable {
  readonly #out: Output;
  readonly #resized = () => this.emit('resize');

  constructor(out: Output) {
    super({ decodeStrings: false });
    this.#out = out;
    out.on?.('resize', this.#resized);
  }

  get columns(): number | undefined {
    return this.#out.columns;
  }

  override _write(chunk: unknown, _encoding: string, done: (error?: Error | null) => void): void {
    this.#out.write(String(chunk));
    done();
  }

  /** Stops following the terminal's resize events. */
  detach(): void {
    this.#out.off?.('resize', this.#resized);
  }
}

/** Lines of history kept, in memory and in the file. */
export const HISTORY_SIZE = 1000;
/** A longer line is not put in the history file. */
const MAX_HISTORY_LINE = 8192;

/** The history file's lines, newest first (readline's order), at most HISTORY_SIZE. */
export function readHistory(path: string | undefined): string[] {
  if (path === undefined) return [];
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '' && line.length <= MAX_HISTORY_LINE)
    .slice(-HISTORY_SIZE)
    .reverse();
}

/** Writes readline's history (newest first) to the file, oldest first. */
export function writeHistory(path: string | undefined, history: readonly string[]): void {
  if (path === undefined) return;
  const lines = history
    .filter((line) => line.length <= MAX_HISTORY_LINE && !line.includes('\n'))
    .slice(0, HISTORY_SIZE)
    .reverse();
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, lines.length === 0 ? '' : `${lines.join('\n')}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
  } catch {
    // History is a convenience: a read-only home must not break the shell.
  }
}

/** `[event hh:mm:ss.mmm] NAME {data}` from QEMU's timestamp (UTC). */
export function eventLine(event: { event: string; data?: unknown; timestamp?: unknown }): string {
  const ts = event.timestamp as { seconds?: unknown; microseconds?: unknown } | undefined;
  let time = '';
  if (typeof ts?.seconds === 'number' && typeof ts.microseconds === 'number' && ts.seconds >= 0) {
    time = ` ${new Date(ts.seconds * 1000 + Math.floor(ts.microseconds / 1000)).toISOString().slice(11, 23)}`;
  }
  const data = event.data === undefined ? '' : ` ${formatJson(event.data, 0)}`;
  return `[event${time}] ${event.event}${data}`;
}

class Transcript {
  constructor(
    private readonly path: string | undefined,
    private readonly now: () => number,
  ) {}

  write(direction: 'out' | 'in', message: unknown): void {
    if (this.path === undefined) return;
    try {
      appendFileSync(this.path, `${formatJson({ time: this.now(), direction, message }, 0)}\n`);
    } catch {
      // Reported once at start (the file is opened then); later failures are not fatal.
    }
  }
}

export async function runShell(invocation: ShellCommand, io: CliIo): Promise<number> {
  if (invocation.log !== undefined) {
    // Fail early and clearly when the transcript cannot be written.
    appendFileSync(invocation.log, '');
  }
  const transcript = new Transcript(invocation.log, () => io.now());
  // Events and the shell's replies are printed from the transcript hook, which sees every
  // message as it is decoded: so the screen shows them in wire order (QEMU writes a command's
  // events before its reply), which awaiting the reply would not.
  const wire = new WireOrder();
  const client = await connect(invocation.target, invocation.connectTimeoutMs, io.interrupt, {
    oob: true,
    transcript: (entry) => wire.onEntry(entry),
  });
  let index: SchemaIndex | undefined;
  try {
    index = new SchemaIndex(await client.executeUntyped('query-qmp-schema'));
  } catch {
    index = undefined; // no completion, the shell still works
  }
  const out = io.stdout;
  const terminal = io.stdin.isTTY === true && out.isTTY === true;
  const parser = new ShellParser();
  const promptText = () => (parser.inTransaction ? 'TRANS> ' : '(QEMU) ');
  const output = new ReadlineOutput(out);
  let history = readHistory(invocation.history);
  const rl: Interface = createInterface({
    input: io.stdin,
    output,
    terminal,
    history,
    historySize: HISTORY_SIZE,
    removeHistoryDuplicates: true,
    prompt: promptText(),
    completer: (line: string): [string[], string] =>
      index === undefined ? [[], line] : completeLine(index, line, parser.inTransaction),
  });
  rl.on('history', (latest: string[]) => {
    history = latest;
    writeHistory(invocation.history, latest);
  });

  const version = client.version?.qemu;
  out.write(
    `Welcome to the qmpkit QMP shell!\n${
      version === undefined
        ? 'Connected'
        : `Connected to QEMU ${version.major}.${version.minor}.${version.micro}`
    }\n\n`,
  );

  let busy = false;
  /** Writes above the prompt without disturbing what is being typed. */
  const printAbove = (text: string) => {
    if (terminal && !busy) {
      out.write('\r\x1b[2K');
      out.write(`${text}\n`);
      rl.prompt(true);
    } else {
      out.write(`${text}\n`);
    }
  };

  let finish: (code: number) => void = () => {};
  let done = false;
  const finished = new Promise<number>((resolve) => {
    finish = (code) => {
      if (done) return;
      done = true;
      resolve(code);
    };
  });

  wire.onEvent = (event) => {
    transcript.write('in', event);
    printAbove(eventLine(event));
  };
  wire.onReply = (reply) => {
    transcript.write('in', reply);
    out.write(`${formatJson(reply, invocation.compact ? 0 : 2)}\n`);
  };
  wire.flush();
  let lastCommand: string | undefined;
  // The stream only tells when the connection ends.
  const ends = client.events({ names: [], maxQueued: 1 });
  void (async () => {
    for await (const _ of ends) {
      // no events are delivered to a stream with an empty name list
    }
    if (done) return;
    const cause = ends.endCause;
    printAbove(cause === undefined ? 'Disconnected' : `Disconnected: ${describeError(cause)}`);
    // After the user's own `quit` the server going away is the expected end.
    finish(lastCommand === 'quit' ? EXIT_OK : EXIT_FAILURE);
  })();

  const execute = async (command: ParsedCommand) => {
    lastCommand = command.name;
    const args = Object.keys(command.arguments).length === 0 ? undefined : command.arguments;
    const sent: Record<string, unknown> = { [command.oob ? 'exec-oob' : 'execute']: command.name };
    if (args !== undefined) sent.arguments = args;
    transcript.write('out', sent);
    if (invocation.verbose) out.write(`${formatJson(sent, invocation.compact ? 0 : 2)}\n`);
    wire.expectCommand();
    try {
      await runCommand(client, command, args);
    } catch (error) {
      // QEMU's error reply was printed by the hook; anything else is local.
      if (!ExecuteError.isInstance(error)) throw error;
    } finally {
      wire.commandSettled();
    }
  };

  // Lines are handled one at a time, in order, even when typed (or piped) faster.
  let chain = Promise.resolve();
  let inputEnded = false;
  rl.on('line', (line) => {
    chain = chain.then(async () => {
      if (done) return;
      busy = true;
      try {
        const parsed = parser.parse(line);
        if (parsed.kind === 'command') await execute(parsed);
      } catch (error) {
        if (error instanceof InputError) {
          parser.reset();
          io.stderr.write(
            `Error while parsing command line: ${error.message}\ncommand format: <command-name> [arg-name1=arg1] ... [arg-nameN=argN]\n`,
          );
        } else {
          io.stderr.write(`${describeError(error)}\n`);
          if (client.state === 'closed') finish(EXIT_FAILURE);
        }
      } finally {
        busy = false;
      }
      if (!done && !inputEnded) {
        rl.setPrompt(promptText());
        rl.prompt();
      }
    });
  });
  rl.on('SIGINT', () => {
    out.write('\n');
    finish(EXIT_INTERRUPTED);
  });
  rl.on('close', () => {
    inputEnded = true;
    // End of input (Ctrl-D, or the end of piped commands): finish what was typed first.
    void chain.then(() => {
      if (terminal) out.write('\n');
      finish(EXIT_OK);
    });
  });
  const onInterrupt = () => finish(EXIT_INTERRUPTED);
  io.interrupt.addEventListener('abort', onInterrupt, { once: true });
  rl.prompt();
  try {
    return await finished;
  } finally {
    io.interrupt.removeEventListener('abort', onInterrupt);
    writeHistory(invocation.history, history);
    rl.close();
    output.detach();
    void ends.return();
    await client.close();
  }
}

function runCommand(
  client: QmpClient,
  command: ParsedCommand,
  args: Record<string, unknown> | undefined,
): Promise<unknown> {
  if (command.oob) return client.executeUntyped(command.name, args, { oob: true });
  return client.executeUntyped(command.name, args);
}

type Message = Record<string, unknown>;

/**
 * Sorts incoming messages for the screen, in the order they were decoded: events, and the
 * reply to the shell's own command (matched by the id the client gave it; the id is not shown).
 * Messages that arrive before the screen is ready are held (bounded) until `flush()`.
 */
export class WireOrder {
  onEvent: ((event: Message & { event: string }) => void) | undefined;
  onReply: ((reply: Message) => void) | undefined;
  private held: TranscriptEntry[] = [];
  private expecting = false;
  private pendingId: string | undefined;

  /** The next command sent is the shell's: remember its id. */
  expectCommand(): void {
    this.expecting = true;
    this.pendingId = undefined;
  }

  commandSettled(): void {
    this.expecting = false;
    this.pendingId = undefined;
  }

  flush(): void {
    const held = this.held;
    this.held = [];
    for (const entry of held) this.onEntry(entry);
  }

  onEntry(entry: TranscriptEntry): void {
    try {
      if (this.onEvent === undefined) {
        if (entry.direction === 'in' && this.held.length < 4096) this.held.push(entry);
        return;
      }
      const message = entry.message as Message | null;
      if (typeof message !== 'object' || message === null) return;
      if (entry.direction === 'out') {
        if (this.expecting && this.pendingId === undefined) {
          this.pendingId = JSON.stringify(String(message.id));
        }
        return;
      }
      if (entry.direction !== 'in') return;
      if (typeof message.event === 'string') {
        this.onEvent(message as Message & { event: string });
        return;
      }
      if (
        this.pendingId !== undefined &&
        ('return' in message || 'error' in message) &&
        JSON.stringify(String(message.id)) === this.pendingId
      ) {
        this.pendingId = undefined;
        const { id: _id, ...reply } = message;
        this.onReply?.(reply);
      }
    } catch {
      // The hook runs in the client's reader: a display problem must not break the session.
    }
  }
}
