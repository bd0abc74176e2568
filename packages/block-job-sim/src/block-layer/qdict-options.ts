// Blockdev options as QEMU holds them in a node (bs->options): flattened QDict keys in QDict
// order, which decide how a `json:{…}` filename lists them.

import { qemuMemberOrder } from '@qmpkit/protocol';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A JSON value as QEMU's QObject model holds it. */
export type QValue = null | boolean | number | string | readonly QValue[] | QDictLike;
export interface QDictLike {
  readonly [key: string]: QValue;
}

/** One node's options as QEMU holds them (bs->options): flattened keys in insertion order. */
export type FlatOptions = ReadonlyArray<readonly [string, QValue]>;

/**
 * qdict_flatten() of a whole blockdev-add argument: scalars stay where they are, nested
 * objects and lists are appended as `a.b` / `a.0` keys, walked in QDict order.
 */
export function flattenOptions(options: object): FlatOptions {
  const out: Array<readonly [string, QValue]> = [];
  const members = new Map<string, unknown>(Object.entries(options));
  const keys = [...members.keys()];
  for (const key of keys) {
    const value = members.get(key);
    if (!isRecord(value) && !Array.isArray(value)) out.push([key, value as QValue]);
  }
  const walk = (value: unknown, prefix: string) => {
    if (isRecord(value)) {
      for (const key of qemuMemberOrder(Object.keys(value))) walk(value[key], `${prefix}.${key}`);
    } else if (Array.isArray(value)) {
      for (const [i, item] of value.entries()) walk(item, `${prefix}.${i}`);
    } else out.push([prefix, value as QValue]);
  };
  for (const key of qemuMemberOrder(keys)) {
    const value = members.get(key);
    if (isRecord(value) || Array.isArray(value)) walk(value, key);
  }
  return out;
}

/** qdict_extract_subqdict(): a child's options, taken from its parent's in QDict order. */
export function extractChildOptions(parent: FlatOptions, child: string): FlatOptions {
  const byKey = new Map(parent);
  const prefix = `${child}.`;
  return qemuMemberOrder(parent.map(([key]) => key))
    .filter((key) => key.startsWith(prefix))
    .map((key) => [key.slice(prefix.length), byKey.get(key) as QValue] as const);
}
