/**
 * A small, bounded JSON reader for values typed by hand (`key={...}` in the shell, `exec`
 * arguments, raw command objects).
 *
 * It reads JSON, plus what QEMU's qmp-shell accepts through Python literal syntax: strings in
 * single quotes, and `True`/`False`/`None` for `true`/`false`/`null`. Integers beyond
 * ±(2^53 − 1) become `bigint` so that uint64 values (sizes, offsets) keep every digit; the
 * client's encoder writes them back as plain digits. Objects are built without a prototype and
 * members are defined, never assigned, so a `"__proto__"` key is just a key. Depth and length are
 * bounded: this reads a command line, not a file.
 */

export const MAX_JSON_DEPTH = 128;
export const MAX_JSON_LENGTH = 1 << 20;

/** A value read by `parseRelaxedJson`. */
export type HandValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | HandValue[]
  | { [key: string]: HandValue };

export class JsonSyntaxError extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(`${message} at offset ${offset}`);
    this.name = 'JsonSyntaxError';
    this.offset = offset;
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const WORD = /[A-Za-z_][A-Za-z0-9_]*/y;
const WORDS: ReadonlyMap<string, HandValue> = new Map<string, HandValue>([
  ['true', true],
  ['false', false],
  ['null', null],
  ['True', true],
  ['False', false],
  ['None', null],
]);

/** Defines `key` on `target` as an own, enumerable data property (safe for `__proto__`). */
export function defineMember(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/** Converts the text of an integer to a number, or a bigint when a number would round it. */
export function integerValue(text: string): number | bigint {
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : BigInt(text);
}

/** Reads one value; the whole text must be that value (surrounding whitespace allowed). */
export function parseRelaxedJson(text: string): HandValue {
  if (text.length > MAX_JSON_LENGTH) {
    throw new JsonSyntaxError(`input longer than ${MAX_JSON_LENGTH} characters`, 0);
  }
  const reader = new Reader(text);
  reader.space();
  const value = reader.value(0);
  reader.space();
  if (reader.pos < text.length)
    throw new JsonSyntaxError('unexpected text after the value', reader.pos);
  return value;
}

class Reader {
  pos = 0;
  constructor(private readonly text: string) {}

  space(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos] as string)) this.pos++;
  }

  value(depth: number): HandValue {
    if (depth > MAX_JSON_DEPTH) {
      throw new JsonSyntaxError(`nesting deeper than ${MAX_JSON_DEPTH}`, this.pos);
    }
    const c = this.text[this.pos];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"' || c === "'") return this.string();
    NUMBER.lastIndex = this.pos;
    const number = NUMBER.exec(this.text);
    if (number !== null) {
      this.pos += number[0].length;
      return /[.eE]/.test(number[0]) ? Number(number[0]) : integerValue(number[0]);
    }
    WORD.lastIndex = this.pos;
    const word = WORD.exec(this.text);
    if (word !== null && WORDS.has(word[0])) {
      this.pos += word[0].length;
      return WORDS.get(word[0]) as HandValue;
    }
    if (c === undefined) throw new JsonSyntaxError('unexpected end of input', this.pos);
    throw new JsonSyntaxError(`unexpected ${JSON.stringify(word?.[0] ?? c)}`, this.pos);
  }

  private object(depth: number): HandValue {
    const result = Object.create(null) as { [key: string]: HandValue };
    const seen = new Set<string>();
    this.pos++; // {
    this.space();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return result;
    }
    for (;;) {
      this.space();
      const c = this.text[this.pos];
      if (c !== '"' && c !== "'") throw new JsonSyntaxError('expected a string key', this.pos);
      const key = this.string();
      if (seen.has(key))
        throw new JsonSyntaxError(`duplicate key ${JSON.stringify(key)}`, this.pos);
      seen.add(key);
      this.space();
      if (this.text[this.pos] !== ':') throw new JsonSyntaxError("expected ':'", this.pos);
      this.pos++;
      this.space();
      defineMember(result, key, this.value(depth + 1));
      this.space();
      const next = this.text[this.pos];
      this.pos++;
      if (next === '}') return result;
      if (next !== ',') throw new JsonSyntaxError("expected ',' or '}'", this.pos - 1);
    }
  }

  private array(depth: number): HandValue {
    const result: HandValue[] = [];
    this.pos++; // [
    this.space();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return result;
    }
    for (;;) {
      this.space();
      result.push(this.value(depth + 1));
      this.space();
      const next = this.text[this.pos];
      this.pos++;
      if (next === ']') return result;
      if (next !== ',') throw new JsonSyntaxError("expected ',' or ']'", this.pos - 1);
    }
  }

  string(): string {
    const quote = this.text[this.pos];
    const start = this.pos;
    this.pos++;
    let out = '';
    for (;;) {
      const c = this.text[this.pos];
      if (c === undefined) throw new JsonSyntaxError('unterminated string', start);
      this.pos++;
      if (c === quote) return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.text[this.pos];
      this.pos++;
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u': {
          const hex = this.text.slice(this.pos, this.pos + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
            throw new JsonSyntaxError('invalid \\u escape', this.pos - 2);
          }
          out += String.fromCharCode(Number.parseInt(hex, 16));
          this.pos += 4;
          break;
        }
        case '"':
        case "'":
        case '\\':
        case '/':
          out += e;
          break;
        default:
          throw new JsonSyntaxError('invalid escape sequence', this.pos - 2);
      }
    }
  }
}
