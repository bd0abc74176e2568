// QEMU prints a QDict in hash-bucket order, not insertion order (qobject/qdict.c: 512 buckets,
// new entries go to the head of their bucket). The block layer prints option dictionaries into
// `json:{…}` filenames, and query-named-block-nodes shows those strings verbatim, so to match
// QEMU to the byte the simulator has to order members the same way. The hash rule and its
// verification are in shared/reference/qmp-protocol.md §1.5.

const BUCKETS = 512;
const encoder = new TextEncoder();

/** The bucket QEMU's QDict puts `key` in. */
export function qdictBucket(key: string): number {
  const bytes = encoder.encode(key);
  let value = Math.imul(0x238f13af, bytes.length) >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    value = (value + (((bytes[i] as number) << ((i * 5) % 24)) >>> 0)) >>> 0;
  }
  return ((Math.imul(1103515243, value) + 12345) >>> 0) % BUCKETS;
}

/**
 * The order QEMU iterates a QDict whose keys were inserted in `insertionOrder`: ascending
 * bucket, most recently inserted first within a bucket.
 */
export function qdictOrder(insertionOrder: readonly string[]): string[] {
  const indexed = insertionOrder.map((key, index) => ({ key, index, bucket: qdictBucket(key) }));
  indexed.sort((a, b) => a.bucket - b.bucket || b.index - a.index);
  return indexed.map((entry) => entry.key);
}

/** A JSON value as QEMU's QObject model holds it. */
export type QValue = null | boolean | number | string | readonly QValue[] | QDictLike;
export interface QDictLike {
  readonly [key: string]: QValue;
}

function escapeString(text: string): string {
  let out = '"';
  for (const char of text) {
    const code = char.codePointAt(0) as number;
    if (char === '"') out += '\\"';
    else if (char === '\\') out += '\\\\';
    else if (char === '\b') out += '\\b';
    else if (char === '\f') out += '\\f';
    else if (char === '\n') out += '\\n';
    else if (char === '\r') out += '\\r';
    else if (char === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f || (code > 0x7f && code <= 0xffff)) {
      out += `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`;
    } else if (code > 0xffff) {
      const high = 0xd800 + ((code - 0x10000) >> 10);
      const low = 0xdc00 + ((code - 0x10000) & 0x3ff);
      out += `\\u${high.toString(16).toUpperCase()}\\u${low.toString(16).toUpperCase()}`;
    } else out += char;
  }
  return `${out}"`;
}

/**
 * Prints `value` the way qobject_to_json() does (compact form: `", "` and `": "` separators),
 * with object members in QDict order. Object keys are taken in their JavaScript insertion order
 * as the QDict insertion order.
 */
export function qemuJson(value: QValue): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : String(value);
  if (typeof value === 'string') return escapeString(value);
  if (Array.isArray(value)) return `[${value.map((item) => qemuJson(item)).join(', ')}]`;
  const dict = value as QDictLike;
  const keys = qdictOrder(Object.keys(dict));
  return `{${keys.map((key) => `${escapeString(key)}: ${qemuJson(dict[key] as QValue)}`).join(', ')}}`;
}
