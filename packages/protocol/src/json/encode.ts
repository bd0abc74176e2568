/**
 * JSON writers.
 *
 * - `'compact'` (default): like `JSON.stringify` without spaces, plus `bigint` support.
 * - `'qemu'`: byte-for-byte what QEMU 7.2's compact monitor output looks like (reference §1.5):
 *   `": "` after keys and `", "` between members, pure ASCII with upper-case `\uXXXX`
 *   escapes (surrogate pairs above U+FFFF), `/` unescaped, floats printed like C's `%.17g`
 *   (`inf`/`nan` included, as QEMU does). With `memberOrder: 'qemu'` object members are
 *   ordered the way QEMU's hash tables print them.
 *
 * In both styles an integer is written as its decimal digits — a `bigint` as-is, an integral
 * `number` of any magnitude without exponent notation — so uint64 values round-trip.
 * `undefined` members are omitted (like `JSON.stringify`), `undefined` array elements become
 * `null`; functions and symbols are refused, as are non-finite numbers in compact style.
 */
import { formatDoubleLikeC, qemuMemberOrder } from './qemu-format.js';
import { JsonFloat } from './value.js';

export type JsonStyle = 'compact' | 'qemu';

export interface EncodeOptions {
  /** Output style; default `'compact'`. */
  style?: JsonStyle | undefined;
  /**
   * Object member order: `'insertion'` (default; the object's own key order) or `'qemu'`
   * (QEMU's hash-bucket order, §1.5 of the reference).
   */
  memberOrder?: 'insertion' | 'qemu' | undefined;
  /** Deepest nesting written before refusing (guards against cycles). Default 4096. */
  maxDepth?: number | undefined;
}

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

const HEX = '0123456789ABCDEF';

function hex4(code: number): string {
  return (
    HEX[(code >> 12) & 15]! + HEX[(code >> 8) & 15]! + HEX[(code >> 4) & 15]! + HEX[code & 15]!
  );
}

const NEEDS_ESCAPE_QEMU = /["\\\u0000-\u001f\u007f-\uffff]/;

function quoteQemu(s: string): string {
  if (!NEEDS_ESCAPE_QEMU.test(s)) return `"${s}"`;
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    switch (c) {
      case 0x22:
        out += '\\"';
        break;
      case 0x5c:
        out += '\\\\';
        break;
      case 0x08:
        out += '\\b';
        break;
      case 0x0c:
        out += '\\f';
        break;
      case 0x0a:
        out += '\\n';
        break;
      case 0x0d:
        out += '\\r';
        break;
      case 0x09:
        out += '\\t';
        break;
      default:
        // Non-ASCII and control characters; a surrogate pair is already two UTF-16 units,
        // which is exactly how QEMU writes a character above U+FFFF.
        out += c < 0x20 || c >= 0x7f ? `\\u${hex4(c)}` : s[i];
    }
  }
  return `${out}"`;
}

/** Writes an integral double as digits (never exponent notation), like int64/uint64 output. */
function integralDigits(x: number): string {
  if (Math.abs(x) <= Number.MAX_SAFE_INTEGER) return x === 0 ? '0' : String(x);
  return BigInt(x).toString(); // exact digits; String() would round to the shortest form
}

class Writer {
  private readonly qemu: boolean;
  private readonly qemuOrder: boolean;
  private readonly maxDepth: number;
  private readonly colon: string;
  private readonly comma: string;

  constructor(options: EncodeOptions) {
    this.qemu = options.style === 'qemu';
    this.qemuOrder = options.memberOrder === 'qemu';
    this.maxDepth = options.maxDepth ?? 4096;
    this.colon = this.qemu ? ': ' : ':';
    this.comma = this.qemu ? ', ' : ',';
  }

  /** Whether this writer writes as `options` ask. */
  isFor(options: EncodeOptions): boolean {
    return (
      this.qemu === (options.style === 'qemu') &&
      this.qemuOrder === (options.memberOrder === 'qemu') &&
      this.maxDepth === (options.maxDepth ?? 4096)
    );
  }

  string(s: string): string {
    return this.qemu ? quoteQemu(s) : JSON.stringify(s);
  }

  number(x: number): string {
    if (this.qemu) {
      // QEMU keeps integers that fit int64/uint64 as integers; anything else is a double.
      if (Number.isInteger(x) && x >= -(2 ** 63) && x < 2 ** 64) return integralDigits(x);
      return formatDoubleLikeC(x);
    }
    if (!Number.isFinite(x)) throw new TypeError(`cannot encode ${x} as JSON`);
    return Number.isInteger(x) ? integralDigits(x) : String(x);
  }

  value(v: unknown, depth: number): string | undefined {
    switch (typeof v) {
      case 'string':
        return this.string(v);
      case 'number':
        return this.number(v);
      case 'bigint':
        if (this.qemu && (v < INT64_MIN || v > UINT64_MAX)) {
          // QEMU cannot hold such an integer; it would be a double.
          return formatDoubleLikeC(Number(v));
        }
        return v.toString();
      case 'boolean':
        return v ? 'true' : 'false';
      case 'undefined':
        return undefined;
      case 'object':
        break;
      default:
        throw new TypeError(`cannot encode a ${typeof v} as JSON`);
    }
    if (v === null) return 'null';
    if (v instanceof JsonFloat) {
      if (this.qemu) return formatDoubleLikeC(v.value);
      if (!Number.isFinite(v.value)) throw new TypeError(`cannot encode ${v.value} as JSON`);
      return JSON.stringify(v.value);
    }
    if (depth >= this.maxDepth) {
      throw new RangeError(`JSON nesting deeper than ${this.maxDepth} (a cycle?)`);
    }
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      const parts: string[] = [];
      for (const element of v) parts.push(this.value(element, depth + 1) ?? 'null');
      return `[${parts.join(this.comma)}]`;
    }
    const record = v as Record<string, unknown>;
    let keys = Object.keys(record);
    if (this.qemuOrder) keys = qemuMemberOrder(keys);
    const parts: string[] = [];
    for (const key of keys) {
      const encoded = this.value(record[key], depth + 1);
      if (encoded !== undefined) parts.push(this.string(key) + this.colon + encoded);
    }
    return `{${parts.join(this.comma)}}`;
  }
}

/** The writer made for the options last used (a writer holds no state between calls). */
let lastWriter = new Writer({});

/** Encodes `value` as JSON text (no trailing newline). */
export function encodeJson(value: unknown, options: EncodeOptions = {}): string {
  // A server or client encodes every message with the same options: one writer, not one per
  // message (and per part of a reply).
  if (!lastWriter.isFor(options)) lastWriter = new Writer(options);
  const text = lastWriter.value(value, 0);
  if (text === undefined) throw new TypeError('cannot encode undefined as JSON');
  return text;
}
