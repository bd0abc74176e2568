/**
 * The streaming JSON reader: bytes in, complete top-level values (or errors) out.
 *
 * It is built the way QEMU 7.2 reads QMP input (qobject/json-lexer.c + json-streamer.c), so that
 * input split anywhere — mid-token, mid-escape, mid-UTF-8 character — needs no special care:
 *
 * 1. A byte-level state machine (the lexer) cuts the input into tokens. A byte that cannot
 *    continue the current token is a lexical error: QEMU reports `stray '<token so far>'` and
 *    then skips input until a resynchronisation byte (`{ } [ ] , :`, or an ASCII control byte
 *    other than TAB, or 0xFE/0xFF).
 * 2. The streamer counts braces and brackets and collects the tokens of the message in
 *    progress; when the counts balance (or one goes negative) the tokens are handed to the
 *    parser (parser.ts) as one message. Limits are checked per token before it is kept: total
 *    token bytes, token count, nesting depth; exceeding one drops the message so far.
 * 3. Every outcome — a value, a parse error, a limit error — is one item, in input order.
 *
 * Two dialects share this implementation (see `JsonStreamerOptions.mode`):
 * - `'qemu-input'`: exactly what QEMU accepts from a QMP client (single-quoted strings, `\'`,
 *   modified UTF-8, integers beyond 64 bits become doubles) — for a server imitating QEMU;
 * - `'strict'`: RFC 8259 JSON plus the non-finite numbers QEMU can print (`inf`, `nan`), with
 *   lossless big integers — for a client reading QEMU's output.
 * Error texts and recovery are QEMU's in both modes.
 *
 * The reader is pull-based: `push()` queues input, `next()` lexes just far enough to produce
 * the next item. A server that must stop reading after a complete command (QEMU reads nothing
 * more until the command finishes, unless OOB is on) simply stops calling `next()`.
 *
 * One piece on purpose (about 800 lines): the lexer's per-byte transition, the token being
 * collected, the bracket counts and the limits are one hot loop over the same private state;
 * split into modules they would reach each other's fields on every byte. The token parser
 * (parser.ts) and the string decoding (strings.ts) already live apart.
 */
import { ProtocolError } from '../errors.js';
import {
  type ParseOptions,
  parseTokens,
  TOKEN_COLON,
  TOKEN_COMMA,
  TOKEN_KEYWORD,
  TOKEN_LCURLY,
  TOKEN_LSQUARE,
  TOKEN_NUMBER,
  TOKEN_RCURLY,
  TOKEN_RSQUARE,
  TOKEN_STRING,
} from './parser.js';
import { decodeStringToken, renderRawBytes } from './strings.js';
import { JsonFloat, type JsonValue } from './value.js';

/** QEMU 7.2's limits (json-streamer.c): 64 MiB of token bytes, 2^21 tokens, 1024 levels. */
export const QEMU_LIMITS = {
  maxMessageBytes: 64 * 1024 * 1024,
  maxTokens: 2 * 1024 * 1024,
  maxDepth: 1024,
} as const;

/** Which input dialect to accept. */
export type JsonDialect = 'strict' | 'qemu-input';

export interface JsonStreamerOptions {
  /** Input dialect; default `'strict'`. */
  mode?: JsonDialect | undefined;
  /**
   * Bytes of all tokens of one message (whitespace excluded); a message reaching this many is
   * refused with `JSON token size limit exceeded`. A single token longer than this is cut off
   * as soon as it passes the limit, so memory stays bounded. Default 64 MiB (QEMU's).
   */
  maxMessageBytes?: number | undefined;
  /** Tokens per message; more is `JSON token count limit exceeded`. Default 2^21 (QEMU's). */
  maxTokens?: number | undefined;
  /**
   * Containers open at once; the opener beyond it is `JSON nesting depth limit exceeded`.
   * Default 1024 (QEMU's).
   */
  maxDepth?: number | undefined;
  /**
   * Decode floats (and, in `'qemu-input'` mode, integers beyond the 64-bit range) as
   * `JsonFloat` so a server can tell `1.0` from `1`. Default false.
   */
  markFloats?: boolean | undefined;
  /**
   * Strict mode only: accept `inf`, `-inf`, `nan`, `-nan` (what QEMU prints for non-finite
   * doubles) as numbers. Default true.
   */
  nonFinite?: boolean | undefined;
}

/** One outcome of reading: a complete top-level value, or an error for discarded input. */
export type JsonStreamItem =
  | { readonly kind: 'value'; readonly value: JsonValue }
  | { readonly kind: 'error'; readonly error: ProtocolError };

// Lexer states.
const S_START = 0;
const S_RECOVERY = 1;
const S_DQ = 2;
const S_DQ_ESC = 3;
const S_SQ = 4;
const S_SQ_ESC = 5;
const S_ZERO = 6;
const S_SIGN = 7;
const S_DIGITS = 8;
const S_MANTISSA = 9;
const S_MANTISSA_DIGITS = 10;
const S_EXP_E = 11;
const S_EXP_SIGN = 12;
const S_EXP_DIGITS = 13;
const S_KEYWORD = 14;

// What a byte does in a state (besides the state change).
const CONSUME = 0; // byte joins the token, continue
const LOOKAHEAD_INT = 1; // token ends before this byte (integer); re-lex the byte
const LOOKAHEAD_FLOAT = 2;
const LOOKAHEAD_KEYWORD = 3;
const ERROR = 4; // byte joins the token, which is a lexical error
const RESYNC = 5; // leave recovery; re-lex the byte from the start state

/** Plain strings up to this many bytes are looked up among the recent ones (see emitString). */
const SHORT_STRING_BYTES = 32;
/** Slots of the recent short strings (a power of two). */
const RECENT_STRINGS = 256;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

/**
 * A streaming reader of JSON values. See the module comment for the model; construct one per
 * connection (it keeps state between chunks).
 */
export class JsonStreamer {
  readonly mode: JsonDialect;
  private readonly qemuDialect: boolean;
  private readonly maxMessageBytes: number;
  private readonly maxTokens: number;
  private readonly maxDepth: number;
  private readonly markFloats: boolean;
  private readonly nonFinite: boolean;
  private readonly parseOptions: ParseOptions;

  // Lexer.
  private state = S_START;
  private tok: Uint8Array = new Uint8Array(256);
  private tokLen = 0;
  /** Short plain strings decoded lately, by a hash of their bytes (see shortPlainString). */
  private readonly recentStrings: (string | undefined)[] = new Array(RECENT_STRINGS);
  /** OR of the bytes of the string being lexed, plus 0x100 once it has an escape. */
  private stringBits = 0;

  // Streamer (message in progress).
  private braces = 0;
  private brackets = 0;
  private tokenBytes = 0;
  /**
   * The token types of the message in progress, one byte each: a message may hold 2^21 tokens,
   * and what it costs to hold them is what an input of that size costs.
   */
  private types = new Uint8Array(256);
  /** The payloads of its value tokens (numbers, strings, keywords) in order; none for punctuation. */
  private payloads: unknown[] = [];
  private count = 0;
  private valueCount = 0;

  // Input not yet lexed, and items produced but not yet taken.
  private readonly input: Uint8Array[] = [];
  private inputPos = 0;
  private inputBytes = 0;
  private readonly ready: JsonStreamItem[] = [];
  private readyPos = 0;
  private readonly encoder = new TextEncoder();

  constructor(options: JsonStreamerOptions = {}) {
    this.mode = options.mode ?? 'strict';
    this.qemuDialect = this.mode === 'qemu-input';
    this.maxMessageBytes = options.maxMessageBytes ?? QEMU_LIMITS.maxMessageBytes;
    this.maxTokens = options.maxTokens ?? QEMU_LIMITS.maxTokens;
    this.maxDepth = options.maxDepth ?? QEMU_LIMITS.maxDepth;
    this.markFloats = options.markFloats ?? false;
    this.nonFinite = !this.qemuDialect && (options.nonFinite ?? true);
    this.parseOptions = { nonFinite: this.nonFinite };
    for (const [name, v] of [
      ['maxMessageBytes', this.maxMessageBytes],
      ['maxTokens', this.maxTokens],
      ['maxDepth', this.maxDepth],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer`);
    }
  }

  /** Bytes pushed but not yet lexed (input held back while the consumer is not pulling). */
  get pendingInputBytes(): number {
    return this.inputBytes;
  }

  /** True while a message is incomplete (tokens collected, or a token half-read). */
  get inMessage(): boolean {
    return this.count > 0 || (this.state !== S_START && this.state !== S_RECOVERY);
  }

  /** Queues input. Strings are encoded as UTF-8. Nothing is lexed until `next()`. */
  push(chunk: Uint8Array | string): void {
    const bytes = typeof chunk === 'string' ? this.encoder.encode(chunk) : chunk;
    if (bytes.length === 0) return;
    this.input.push(bytes);
    this.inputBytes += bytes.length;
  }

  /**
   * Lexes queued input until at least one item is available and returns it; `undefined` when
   * the queued input is used up without completing one. Items produced by the same byte are
   * returned by the following calls before any more input is read.
   */
  next(): JsonStreamItem | undefined {
    while (this.readyPos >= this.ready.length) {
      if (this.ready.length > 0) {
        this.ready.length = 0;
        this.readyPos = 0;
      }
      const chunk = this.input[0];
      if (chunk === undefined) return undefined;
      const consumed = this.lex(chunk, this.inputPos);
      this.inputBytes -= consumed - this.inputPos;
      if (consumed >= chunk.length) {
        this.input.shift();
        this.inputPos = 0;
      } else {
        this.inputPos = consumed;
      }
    }
    return this.ready[this.readyPos++];
  }

  /** `push(chunk)` then every item available. */
  feed(chunk: Uint8Array | string): JsonStreamItem[] {
    this.push(chunk);
    const items: JsonStreamItem[] = [];
    for (let item = this.next(); item !== undefined; item = this.next()) items.push(item);
    return items;
  }

  /**
   * End of input: lexes what is queued, then finishes the token in progress as QEMU's
   * `json_message_parser_flush()` does (a pending number or keyword completes; a pending string
   * is a stray error) and parses any collected tokens (`premature EOI` when incomplete).
   * Returns all remaining items. The reader is reset afterwards and can be reused.
   */
  end(): JsonStreamItem[] {
    const items: JsonStreamItem[] = [];
    for (let item = this.next(); item !== undefined; item = this.next()) items.push(item);
    this.flushToken();
    if (this.count > 0) this.parseMessage();
    for (let i = this.readyPos; i < this.ready.length; i++) items.push(this.ready[i]!);
    this.ready.length = 0;
    this.readyPos = 0;
    this.reset();
    return items;
  }

  /** Drops all state: queued input, the message in progress, undelivered items. */
  reset(): void {
    this.state = S_START;
    this.tokLen = 0;
    this.resetMessage();
    this.input.length = 0;
    this.inputPos = 0;
    this.inputBytes = 0;
    this.ready.length = 0;
    this.readyPos = 0;
  }

  // -------------------------------------------------------------------------------------------
  // Lexer
  // -------------------------------------------------------------------------------------------

  private appendByte(b: number): void {
    if (this.tokLen === this.tok.length) this.growToken(this.tokLen + 1);
    this.tok[this.tokLen++] = b;
  }

  /** Appends `chunk[from..to)` to the token. */
  private appendRun(chunk: Uint8Array, from: number, to: number): void {
    const length = to - from;
    if (this.tokLen + length > this.tok.length) this.growToken(this.tokLen + length);
    if (length > 64) {
      this.tok.set(chunk.subarray(from, to), this.tokLen);
    } else {
      // A short run (a key, a command name, an id) is copied byte by byte: a subarray view
      // would be an allocation per token, several per message.
      const tok = this.tok;
      let t = this.tokLen;
      for (let k = from; k < to; k++) tok[t++] = chunk[k]!;
    }
    this.tokLen += length;
  }

  private growToken(needed: number): void {
    let size = this.tok.length * 2;
    while (size < needed) size *= 2;
    // A token never exceeds the limit by more than one byte: do not allocate beyond that.
    size = Math.max(needed, Math.min(size, this.maxMessageBytes + 1));
    const bigger = new Uint8Array(size);
    bigger.set(this.tok.subarray(0, this.tokLen));
    this.tok = bigger;
  }

  /**
   * Lexes `chunk` from `pos`, stopping after the first byte that produced an item. Returns the
   * index of the first byte not lexed.
   */
  private lex(chunk: Uint8Array, pos: number): number {
    const n = chunk.length;
    let i = pos;
    while (i < n) {
      const state = this.state;
      // Fast path inside strings: take every ordinary byte in one go.
      if (state === S_DQ || state === S_SQ) {
        const quote = state === S_DQ ? 0x22 : 0x27;
        const room = this.maxMessageBytes + 1 - this.tokLen; // stop where the size check must run
        const stop = Math.min(n, i + room);
        let j = i;
        let bits = 0;
        while (j < stop) {
          const b = chunk[j]!;
          if (b === quote || b === 0x5c || b < 0x20 || b > 0xfd) break;
          bits |= b;
          j++;
        }
        this.stringBits |= bits;
        if (j > i) {
          this.appendRun(chunk, i, j);
          i = j;
          if (this.tokLen > this.maxMessageBytes) {
            this.tokenTooLong();
            if (this.readyPos < this.ready.length) return i;
          }
          continue;
        }
      }
      if (state === S_START) {
        // Fast path between tokens: skip whitespace.
        let b = chunk[i]!;
        while (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) {
          if (++i === n) return i;
          b = chunk[i]!;
        }
      } else if (state === S_DIGITS || state === S_KEYWORD) {
        // Fast path inside integers and keywords: take the run of digits / letters.
        const low = state === S_DIGITS ? 0x30 : 0x61;
        const high = state === S_DIGITS ? 0x39 : 0x7a;
        const stop = Math.min(n, i + (this.maxMessageBytes + 1 - this.tokLen));
        let j = i;
        while (j < stop) {
          const b = chunk[j]!;
          if (b < low || b > high) break;
          j++;
        }
        if (j > i) {
          this.appendRun(chunk, i, j);
          i = j;
          if (this.tokLen > this.maxMessageBytes) {
            this.tokenTooLong();
            if (this.readyPos < this.ready.length) return i;
          }
          continue;
        }
      }
      const b = chunk[i]!;
      this.step(b);
      i++;
      if (this.tokLen > this.maxMessageBytes) this.tokenTooLong();
      if (this.readyPos < this.ready.length) return i;
    }
    return i;
  }

  /** Processes one byte completely (including re-lexing it after a token that it ended). */
  private step(b: number): void {
    for (;;) {
      const action = this.transition(b);
      switch (action) {
        case CONSUME:
          return;
        case ERROR:
          this.lexicalError();
          return;
        case LOOKAHEAD_INT:
          this.emitNumber(false);
          this.state = S_START;
          break;
        case LOOKAHEAD_FLOAT:
          this.emitNumber(true);
          this.state = S_START;
          break;
        case LOOKAHEAD_KEYWORD:
          this.emitKeyword();
          this.state = S_START;
          break;
        default: // RESYNC
          this.state = S_START;
          break;
      }
    }
  }

  /** Applies byte `b` to the current state. Returns what happened (see the action constants). */
  private transition(b: number): number {
    switch (this.state) {
      case S_START:
        return this.fromStart(b);
      case S_RECOVERY:
        // Skip until a byte that can resynchronise: structural characters, ASCII control
        // characters other than TAB, and the impossible UTF-8 bytes FE/FF. That byte is then
        // lexed normally (so a control byte gets its own stray error).
        if (
          (b < 0x20 && b !== 0x09) ||
          b >= 0xfe ||
          b === 0x5b ||
          b === 0x5d ||
          b === 0x7b ||
          b === 0x7d ||
          b === 0x3a ||
          b === 0x2c
        ) {
          return RESYNC;
        }
        return CONSUME;
      case S_DQ:
      case S_SQ: {
        this.appendByte(b);
        if (b < 0x20 || b > 0xfd) return ERROR;
        this.stringBits |= b;
        if (b === 0x5c) {
          this.stringBits |= 0x100;
          this.state = this.state === S_DQ ? S_DQ_ESC : S_SQ_ESC;
        } else if (b === (this.state === S_DQ ? 0x22 : 0x27)) {
          this.emitString();
          this.state = S_START;
        }
        return CONSUME;
      }
      case S_DQ_ESC:
      case S_SQ_ESC:
        this.appendByte(b);
        if (b < 0x20 || b > 0xfd) return ERROR;
        this.state = this.state === S_DQ_ESC ? S_DQ : S_SQ;
        return CONSUME;
      case S_ZERO:
        if (isDigit(b)) {
          this.appendByte(b);
          return ERROR;
        }
        if (b === 0x2e) {
          this.appendByte(b);
          this.state = S_MANTISSA;
          return CONSUME;
        }
        return LOOKAHEAD_INT;
      case S_SIGN:
        if (b === 0x30) {
          this.appendByte(b);
          this.state = S_ZERO;
          return CONSUME;
        }
        if (isDigit(b)) {
          this.appendByte(b);
          this.state = S_DIGITS;
          return CONSUME;
        }
        if (this.nonFinite && (b === 0x69 || b === 0x6e)) {
          // "-inf" / "-nan": QEMU's %g output for negative non-finite doubles.
          this.appendByte(b);
          this.state = S_KEYWORD;
          return CONSUME;
        }
        this.appendByte(b);
        return ERROR;
      case S_DIGITS:
        if (isDigit(b)) {
          this.appendByte(b);
          return CONSUME;
        }
        if (b === 0x65 || b === 0x45) {
          this.appendByte(b);
          this.state = S_EXP_E;
          return CONSUME;
        }
        if (b === 0x2e) {
          this.appendByte(b);
          this.state = S_MANTISSA;
          return CONSUME;
        }
        return LOOKAHEAD_INT;
      case S_MANTISSA:
        this.appendByte(b);
        if (isDigit(b)) {
          this.state = S_MANTISSA_DIGITS;
          return CONSUME;
        }
        return ERROR;
      case S_MANTISSA_DIGITS:
        if (isDigit(b)) {
          this.appendByte(b);
          return CONSUME;
        }
        if (b === 0x65 || b === 0x45) {
          this.appendByte(b);
          this.state = S_EXP_E;
          return CONSUME;
        }
        return LOOKAHEAD_FLOAT;
      case S_EXP_E:
        this.appendByte(b);
        if (b === 0x2b || b === 0x2d) {
          this.state = S_EXP_SIGN;
          return CONSUME;
        }
        if (isDigit(b)) {
          this.state = S_EXP_DIGITS;
          return CONSUME;
        }
        return ERROR;
      case S_EXP_SIGN:
        this.appendByte(b);
        if (isDigit(b)) {
          this.state = S_EXP_DIGITS;
          return CONSUME;
        }
        return ERROR;
      case S_EXP_DIGITS:
        if (isDigit(b)) {
          this.appendByte(b);
          return CONSUME;
        }
        return LOOKAHEAD_FLOAT;
      case S_KEYWORD:
        if (b >= 0x61 && b <= 0x7a) {
          this.appendByte(b);
          return CONSUME;
        }
        return LOOKAHEAD_KEYWORD;
      default:
        throw new Error(`unreachable lexer state ${this.state}`);
    }
  }

  private fromStart(b: number): number {
    switch (b) {
      case 0x20:
      case 0x09:
      case 0x0d:
      case 0x0a:
        return CONSUME;
      case 0x22:
        this.appendByte(b);
        this.state = S_DQ;
        this.stringBits = 0;
        return CONSUME;
      case 0x27:
        this.appendByte(b);
        if (!this.qemuDialect) return ERROR;
        this.state = S_SQ;
        this.stringBits = 0;
        return CONSUME;
      case 0x7b:
        this.structural(TOKEN_LCURLY);
        return CONSUME;
      case 0x7d:
        this.structural(TOKEN_RCURLY);
        return CONSUME;
      case 0x5b:
        this.structural(TOKEN_LSQUARE);
        return CONSUME;
      case 0x5d:
        this.structural(TOKEN_RSQUARE);
        return CONSUME;
      case 0x2c:
        this.structural(TOKEN_COMMA);
        return CONSUME;
      case 0x3a:
        this.structural(TOKEN_COLON);
        return CONSUME;
      case 0x2d:
        this.appendByte(b);
        this.state = S_SIGN;
        return CONSUME;
      case 0x30:
        this.appendByte(b);
        this.state = S_ZERO;
        return CONSUME;
      default:
        this.appendByte(b);
        if (b >= 0x31 && b <= 0x39) {
          this.state = S_DIGITS;
          return CONSUME;
        }
        if (b >= 0x61 && b <= 0x7a) {
          this.state = S_KEYWORD;
          return CONSUME;
        }
        return ERROR;
    }
  }

  /** The token so far is a lexical error: report it and skip to a resynchronisation byte. */
  private lexicalError(): void {
    const text = renderRawBytes(this.tok, 0, this.tokLen);
    this.tokLen = 0;
    this.state = S_RECOVERY;
    this.emitError('parse', `JSON parse error, stray '${text}'`);
  }

  /**
   * A single token grew past the size limit: QEMU hands it to the streamer, whose size check
   * refuses it, and the lexer restarts from scratch on the next byte.
   */
  private tokenTooLong(): void {
    this.tokLen = 0;
    this.state = S_START;
    this.emitError('message-too-large', 'JSON token size limit exceeded');
  }

  /** Finishes a pending token at end of input, as QEMU's flush (a virtual NUL byte) does. */
  private flushToken(): void {
    while (this.state !== S_START) {
      const action = this.transitionAtEnd();
      if (action === ERROR) {
        this.lexicalError();
        this.state = S_START;
      }
    }
  }

  private transitionAtEnd(): number {
    switch (this.state) {
      case S_ZERO:
      case S_DIGITS:
        this.emitNumber(false);
        break;
      case S_MANTISSA_DIGITS:
      case S_EXP_DIGITS:
        this.emitNumber(true);
        break;
      case S_KEYWORD:
        this.emitKeyword();
        break;
      case S_RECOVERY:
        break;
      default:
        // Inside a string, or a number missing its digits: the NUL is a stray byte. It does not
        // show in the text (C strings end at NUL).
        this.state = S_START;
        return ERROR;
    }
    this.state = S_START;
    return CONSUME;
  }

  // -------------------------------------------------------------------------------------------
  // Tokens → messages
  // -------------------------------------------------------------------------------------------

  private structural(type: number): void {
    switch (type) {
      case TOKEN_LCURLY:
        this.braces++;
        break;
      case TOKEN_RCURLY:
        this.braces--;
        break;
      case TOKEN_LSQUARE:
        this.brackets++;
        break;
      case TOKEN_RSQUARE:
        this.brackets--;
        break;
    }
    this.tokLen = 1;
    this.addToken(type, undefined);
  }

  private emitString(): void {
    // The closing quote is in stringBits too; it is ASCII, so only escapes and bytes ≥ 0x80
    // (bits 0x100 / 0x80) need the careful decoder.
    const plain = (this.stringBits & 0x180) === 0;
    if (plain && this.tokLen - 2 <= SHORT_STRING_BYTES) {
      this.addToken(TOKEN_STRING, this.shortPlainString());
      return;
    }
    this.addToken(
      TOKEN_STRING,
      decodeStringToken(this.tok, 0, this.tokLen, this.qemuDialect, plain),
    );
  }

  /**
   * The token (quotes, then up to SHORT_STRING_BYTES printable ASCII bytes) as a string: the one
   * decoded last time for the same bytes when there is one. Member names and command names
   * recur in every message; building each anew would allocate once per character.
   */
  private shortPlainString(): string {
    const tok = this.tok;
    const end = this.tokLen - 1;
    const length = end - 1;
    let hash = length;
    for (let k = 1; k < end; k++) hash = (Math.imul(hash, 31) + tok[k]!) | 0;
    const slot = (hash ^ (hash >>> 8)) & (RECENT_STRINGS - 1);
    const recent = this.recentStrings[slot];
    if (recent !== undefined && recent.length === length) {
      let k = 0;
      while (k < length && recent.charCodeAt(k) === tok[k + 1]) k++;
      if (k === length) return recent;
    }
    const text = decodeStringToken(tok, 0, this.tokLen, this.qemuDialect, true) as string;
    this.recentStrings[slot] = text;
    return text;
  }

  private emitKeyword(): void {
    const tok = this.tok;
    const len = this.tokLen;
    let word: string;
    // The three real keywords without building a string byte by byte.
    if (len === 4 && tok[0] === 0x74 && tok[1] === 0x72 && tok[2] === 0x75 && tok[3] === 0x65) {
      word = 'true';
    } else if (
      len === 4 &&
      tok[0] === 0x6e &&
      tok[1] === 0x75 &&
      tok[2] === 0x6c &&
      tok[3] === 0x6c
    ) {
      word = 'null';
    } else if (
      len === 5 &&
      tok[0] === 0x66 &&
      tok[1] === 0x61 &&
      tok[2] === 0x6c &&
      tok[3] === 0x73 &&
      tok[4] === 0x65
    ) {
      word = 'false';
    } else {
      word = '';
      for (let k = 0; k < len; k++) word += String.fromCharCode(tok[k]!);
    }
    this.addToken(TOKEN_KEYWORD, word);
  }

  private emitNumber(isFloat: boolean): void {
    const tok = this.tok;
    const len = this.tokLen;
    if (!isFloat && len <= 15) {
      // Short integers (always exact in a double): compute directly.
      const negative = tok[0] === 0x2d;
      let v = 0;
      for (let k = negative ? 1 : 0; k < len; k++) v = v * 10 + (tok[k]! - 0x30);
      this.addToken(TOKEN_NUMBER, negative && v !== 0 ? -v : v);
      return;
    }
    let text = '';
    for (let k = 0; k < len; k++) text += String.fromCharCode(tok[k]!);
    this.addToken(TOKEN_NUMBER, this.convertNumber(text, isFloat));
  }

  private convertNumber(text: string, isFloat: boolean): number | bigint | JsonFloat {
    if (!isFloat) {
      // Up to 15 digits always fits a double exactly.
      if (text.length <= 15) {
        const v = Number(text);
        return v === 0 ? 0 : v; // "-0" is the integer 0, as in QEMU
      }
      const big = BigInt(text);
      if (big <= MAX_SAFE && big >= -MAX_SAFE) return Number(big);
      if (!this.qemuDialect) return big;
      // QEMU keeps int64 and uint64 integers; anything wider becomes a double.
      if (big >= INT64_MIN && big <= UINT64_MAX) return big;
    }
    const v = Number(text);
    return this.markFloats ? new JsonFloat(v) : v;
  }

  /** Hands a completed token to the message in progress, enforcing the limits first. */
  private addToken(type: number, payload: unknown): void {
    const len = this.tokLen;
    this.tokLen = 0;
    if (this.tokenBytes + len + 1 > this.maxMessageBytes) {
      this.emitError('message-too-large', 'JSON token size limit exceeded');
      return;
    }
    if (this.count + 1 > this.maxTokens) {
      this.emitError('message-too-large', 'JSON token count limit exceeded');
      return;
    }
    if (this.braces + this.brackets > this.maxDepth) {
      this.emitError('nesting-too-deep', 'JSON nesting depth limit exceeded');
      return;
    }
    if (this.count === this.types.length) {
      const bigger = new Uint8Array(Math.min(this.types.length * 2, this.maxTokens));
      bigger.set(this.types);
      this.types = bigger;
    }
    this.types[this.count++] = type;
    if (payload !== undefined) this.payloads[this.valueCount++] = payload;
    this.tokenBytes += len;
    if ((this.braces > 0 || this.brackets > 0) && this.braces >= 0 && this.brackets >= 0) return;
    this.parseMessage();
  }

  /**
   * A codec error describes input, not code: its stack trace says nothing useful, and hostile
   * input can produce millions of them, so build it without capturing one.
   */
  private inputError(kind: 'parse' | 'message-too-large' | 'nesting-too-deep', desc: string) {
    const errorClass = Error as { stackTraceLimit?: number | undefined };
    const limit = errorClass.stackTraceLimit;
    if (typeof limit !== 'number') return new ProtocolError(kind, desc); // not V8
    errorClass.stackTraceLimit = 0;
    try {
      return new ProtocolError(kind, desc);
    } finally {
      errorClass.stackTraceLimit = limit;
    }
  }

  private parseMessage(): void {
    const result = parseTokens(this.types, this.payloads, this.count, this.parseOptions);
    this.resetMessage();
    if ('error' in result) {
      this.ready.push({
        kind: 'error',
        error: this.inputError('parse', `JSON parse error, ${result.error}`),
      });
    } else {
      this.ready.push({ kind: 'value', value: result.value as JsonValue });
    }
  }

  private emitError(kind: 'parse' | 'message-too-large' | 'nesting-too-deep', desc: string): void {
    this.resetMessage();
    this.ready.push({ kind: 'error', error: this.inputError(kind, desc) });
  }

  private resetMessage(): void {
    this.braces = 0;
    this.brackets = 0;
    this.tokenBytes = 0;
    if (this.count > 65536) {
      // After a huge message, give the memory back rather than keep the capacity.
      this.types = new Uint8Array(256);
      this.payloads = [];
    } else {
      // Drop references so payloads can be collected; keep the arrays' capacity.
      for (let k = 0; k < this.valueCount; k++) this.payloads[k] = undefined;
    }
    this.count = 0;
    this.valueCount = 0;
    if (this.tok.length > 1024 * 1024 && this.tokLen === 0) this.tok = new Uint8Array(256);
  }
}
