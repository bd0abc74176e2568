/**
 * The command-line syntax of QEMU's qmp-shell, read in our own words:
 *
 *     command-name [key=value ...]
 *
 * - A line is split into words at whitespace outside quotes; a word may contain quoted parts
 *   (`"…"` or `'…'`, backslash escapes inside).
 * - Keys with dots build nested objects: `file.driver=file file.filename=/x` gives
 *   `{"file": {"driver": "file", "filename": "/x"}}`. A key set twice, or used both as a leaf
 *   and as an object, is an error (as in qmp-shell).
 * - Values: a number (`512`, `-1`, `1.5`; integers beyond 2^53 stay exact as bigint), `true` /
 *   `false` (any case, as in qmp-shell), `null`, a JSON object or array (`{…}`/`[…]`, also with
 *   Python-style single quotes and True/False/None, as in qmp-shell), anything else a string. A
 *   value written in quotes is always a string: `id="1"`, `x="null"`, `name="a b"`.
 * - A line starting with `{` is a raw QMP command object:
 *   `{"execute": "query-jobs"}`, `{"execute": …, "arguments": {…}}`, or `exec-oob`.
 * - `transaction(` starts a transaction; each following line is one action
 *   (`action-type key=value …`); a line `)` — or an action line ending in ` )` — sends it.
 */
import {
  defineMember,
  type HandValue,
  integerValue,
  JsonSyntaxError,
  parseRelaxedJson,
} from './relaxed-json.js';

/** Arguments built from key=value words. */
export type Arguments = { [key: string]: HandValue };

/** A mistake in what the user typed; the message is shown as is. */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/** One word of a command line: its raw text, and whether any part of it was quoted. */
export interface Word {
  raw: string;
  /** The text with quotes removed and escapes applied. */
  text: string;
  quoted: boolean;
}

/** Splits a command line into words (see the module comment). */
export function splitWords(line: string): Word[] {
  const words: Word[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i] as string)) i++;
    if (i >= line.length) break;
    const start = i;
    let text = '';
    let quoted = false;
    while (i < line.length && !/\s/.test(line[i] as string)) {
      const c = line[i] as string;
      if (c === '"' || c === "'") {
        quoted = true;
        i++;
        let closed = false;
        while (i < line.length) {
          const d = line[i] as string;
          if (d === '\\' && i + 1 < line.length) {
            text += line[i + 1];
            i += 2;
            continue;
          }
          i++;
          if (d === c) {
            closed = true;
            break;
          }
          text += d;
        }
        if (!closed) throw new InputError(`unterminated quote in: ${line.slice(start)}`);
      } else if (c === '{' || c === '[') {
        // A JSON value may hold spaces inside quotes; read to its matching bracket.
        const end = matchingBracket(line, i);
        text += line.slice(i, end);
        i = end;
      } else {
        text += c;
        i++;
      }
    }
    words.push({ raw: line.slice(start, i), text, quoted });
  }
  return words;
}

/** The index just past the bracket that closes the one at `start` (or the end of the line). */
function matchingBracket(line: string, start: number): number {
  let depth = 0;
  let quote: string | undefined;
  for (let i = start; i < line.length; i++) {
    const c = line[i] as string;
    if (quote !== undefined) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i + 1;
    } else if (depth === 0 && /\s/.test(c)) return i;
  }
  return line.length;
}

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** The value of the text after `=` (see the module comment). */
export function parseValue(word: { text: string; quoted: boolean; raw?: string }): HandValue {
  const text = word.text;
  if (text.startsWith('{') || text.startsWith('[')) {
    try {
      return parseRelaxedJson(text);
    } catch (error) {
      if (error instanceof JsonSyntaxError)
        throw new InputError(`bad JSON value ${text}: ${error.message}`);
      throw error;
    }
  }
  if (word.quoted) return text;
  if (NUMBER.test(text)) return /[.eE]/.test(text) ? Number(text) : integerValue(text);
  const lower = text.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  if (text === 'null') return null;
  return text;
}

/** One `key=value` pair: the key as typed, the value's text and whether it was quoted. */
export interface KeyValue {
  key: string;
  value: { text: string; quoted: boolean };
}

/** The pairs of shell words (`key=value`, the value re-read so that its quoting applies). */
export function pairsOfWords(words: readonly Word[]): KeyValue[] {
  return words.map((word) => {
    const eq = word.raw.indexOf('=');
    if (eq <= 0) throw new InputError(`expected a key=value pair, got '${word.raw}'`);
    const [valueWord] = splitWords(word.raw.slice(eq + 1));
    return {
      key: word.raw.slice(0, eq),
      value: valueWord === undefined ? { text: '', quoted: false } : valueWord,
    };
  });
}

/**
 * The pairs of command-line arguments, each one whole word already (the user's shell removed
 * its quotes): a value wrapped in a further pair of quotes (`id='"1"'`) is a quoted string.
 */
export function pairsOfArgv(argv: readonly string[]): KeyValue[] {
  return argv.map((arg) => {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw new InputError(`expected a key=value pair, got '${arg}'`);
    const text = arg.slice(eq + 1);
    const quoted = /^(["']).*\1$/s.test(text) && text.length >= 2;
    return { key: arg.slice(0, eq), value: { text: quoted ? text.slice(1, -1) : text, quoted } };
  });
}

/** Builds an arguments object from `key=value` pairs (dotted keys nest). */
export function buildArguments(pairs: readonly KeyValue[], into?: Arguments): Arguments {
  const root: Arguments = into ?? (Object.create(null) as Arguments);
  for (const { key, value: valueWord } of pairs) {
    if (/["'{[\s]/.test(key)) throw new InputError(`bad key '${key}'`);
    const value = parseValue(valueWord);
    const path = key.split('.');
    if (path.some((part) => part === '')) throw new InputError(`bad key '${key}'`);
    let parent: Arguments = root;
    for (let depth = 0; depth < path.length - 1; depth++) {
      const part = path[depth] as string;
      const existing = Object.hasOwn(parent, part) ? parent[part] : undefined;
      if (existing === undefined) {
        const child = Object.create(null) as Arguments;
        defineMember(parent, part, child);
        parent = child;
      } else if (isPlainObject(existing)) {
        parent = existing;
      } else {
        throw new InputError(
          `cannot use "${path.slice(0, depth + 1).join('.')}" as both leaf and non-leaf key`,
        );
      }
    }
    const leaf = path[path.length - 1] as string;
    if (Object.hasOwn(parent, leaf)) {
      if (isPlainObject(parent[leaf])) {
        throw new InputError(`cannot use "${key}" as both leaf and non-leaf key`);
      }
      throw new InputError(`cannot set "${key}" multiple times`);
    }
    defineMember(parent, leaf, value);
  }
  return root;
}

function isPlainObject(value: unknown): value is Arguments {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A command ready to send. */
export interface ParsedCommand {
  kind: 'command';
  name: string;
  arguments: Arguments;
  /** Sent with `exec-oob`. */
  oob: boolean;
}

/** What one line produced. */
export type LineResult =
  | ParsedCommand
  /** Nothing to send: an empty line, or a transaction action kept for later. */
  | { kind: 'none' };

/** Reads a raw QMP command object (`{"execute": …}`). */
export function parseRawCommand(line: string): ParsedCommand {
  let value: HandValue;
  try {
    value = parseRelaxedJson(line);
  } catch (error) {
    if (error instanceof JsonSyntaxError) throw new InputError(`bad JSON: ${error.message}`);
    throw error;
  }
  if (!isPlainObject(value)) throw new InputError('a raw command must be a JSON object');
  let name: string | undefined;
  let oob = false;
  let args: Arguments = Object.create(null) as Arguments;
  for (const key of Object.keys(value)) {
    const member = value[key];
    if (key === 'execute' || key === 'exec-oob') {
      if (typeof member !== 'string') throw new InputError(`'${key}' must be a string`);
      if (name !== undefined) throw new InputError("give either 'execute' or 'exec-oob'");
      name = member;
      oob = key === 'exec-oob';
    } else if (key === 'arguments') {
      if (!isPlainObject(member)) throw new InputError("'arguments' must be an object");
      args = member;
    } else if (key !== 'id') {
      // The client numbers commands itself; any other member is refused here rather than by QEMU.
      throw new InputError(`unexpected member '${key}' (expected execute, arguments)`);
    }
  }
  if (name === undefined) throw new InputError("a raw command needs 'execute'");
  return { kind: 'command', name, arguments: args, oob };
}

/**
 * The shell's line reader: plain commands, raw JSON, and the multi-line `transaction(` … `)`
 * form. Keeps the transaction being built between lines.
 */
export class ShellParser {
  private actions: Array<{ type: string; data: Arguments }> | undefined;

  /** True while a transaction is being entered (the prompt changes). */
  get inTransaction(): boolean {
    return this.actions !== undefined;
  }

  /** Forgets a transaction being entered. */
  reset(): void {
    this.actions = undefined;
  }

  parse(line: string): LineResult {
    const trimmed = line.trim();
    if (trimmed === '') return { kind: 'none' };
    if (trimmed.startsWith('{') && this.actions === undefined) return parseRawCommand(trimmed);
    const words = splitWords(trimmed);
    if (words[0]?.raw === 'transaction(') {
      if (this.actions !== undefined) throw new InputError('already inside transaction(');
      this.actions = [];
      words.shift();
    }
    if (this.actions === undefined) {
      const [first, ...rest] = words;
      if (first === undefined) return { kind: 'none' };
      return {
        kind: 'command',
        name: first.text,
        arguments: buildArguments(pairsOfWords(rest)),
        oob: false,
      };
    }
    let close = false;
    if (words[words.length - 1]?.raw === ')') {
      words.pop();
      close = true;
    }
    const [type, ...rest] = words;
    if (type !== undefined) {
      this.actions.push({ type: type.text, data: buildArguments(pairsOfWords(rest)) });
      if (this.actions.length > 4096) {
        this.actions = undefined;
        throw new InputError('too many transaction actions');
      }
    }
    if (!close) return { kind: 'none' };
    const actions = this.actions;
    this.actions = undefined;
    const args = Object.create(null) as Arguments;
    defineMember(
      args,
      'actions',
      actions.map((action) => {
        const entry = Object.create(null) as Arguments;
        defineMember(entry, 'type', action.type);
        defineMember(entry, 'data', action.data);
        return entry;
      }),
    );
    return { kind: 'command', name: 'transaction', arguments: args, oob: false };
  }
}
