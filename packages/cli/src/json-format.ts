/**
 * JSON output for people and scripts: indented or on one line, with `bigint` written as plain
 * digits (QEMU's uint64 values arrive as bigint) and objects without a prototype handled like
 * any other.
 */
import { encodeJson } from '@qmpkit/protocol';

/** Writes `value` as JSON: `indent` spaces per level, or one line when `indent` is 0. */
export function formatJson(value: unknown, indent = 2): string {
  if (indent <= 0) return encodeJson(value);
  return write(value, indent, 0);
}

function write(value: unknown, indent: number, level: number): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const pad = ' '.repeat(indent * (level + 1));
    const items = value.map((item) => pad + write(item ?? null, indent, level + 1));
    return `[\n${items.join(',\n')}\n${' '.repeat(indent * level)}]`;
  }
  if (typeof value === 'object' && value !== null && !isScalarObject(value)) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return '{}';
    const pad = ' '.repeat(indent * (level + 1));
    const members = entries.map(
      ([key, member]) => `${pad}${JSON.stringify(key)}: ${write(member, indent, level + 1)}`,
    );
    return `{\n${members.join(',\n')}\n${' '.repeat(indent * level)}}`;
  }
  return encodeJson(value);
}

/** Objects the encoder writes as a scalar (the protocol's JsonFloat wraps a number). */
function isScalarObject(value: object): boolean {
  return typeof (value as { valueOf?: () => unknown }).valueOf === 'function'
    ? typeof (value as { valueOf: () => unknown }).valueOf() === 'number'
    : false;
}
