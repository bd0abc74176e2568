// QEMU's KEY=VALUE,... syntax (util/keyval.c, 7.2), the form of `--blockdev driver=…,…`:
// dotted keys build nested objects (`file.driver=file`), numeric fragments build arrays
// (`inject-error.0.event=…`), `,,` is a literal comma, the last of repeated keys wins, and an
// implied first key (`--blockdev null-co,…` means `driver=null-co`). Values are all strings;
// converting them by schema type is blockdev-options.ts's job. Errors carry QEMU's texts.

import { hasErrorMarker, qemuMemberOrder, stampErrorMarker } from '@qmpkit/protocol';

/** A parsed keyval tree: objects of strings, objects and arrays. */
export type KeyvalValue = string | KeyvalObject | KeyvalValue[];
export interface KeyvalObject {
  [key: string]: KeyvalValue;
}

export class KeyvalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyvalError';
    stampErrorMarker(this, 'KeyvalError');
  }

  /** True for a KeyvalError from any copy of this package (by its marker). */
  static isInstance(value: unknown): value is KeyvalError {
    return hasErrorMarker(value, 'KeyvalError');
  }
}

/** Longest key fragment QEMU accepts (its buffer is 128 bytes with the terminator). */
const MAX_FRAGMENT = 127;
/** Our own bound on input size, so a hostile option string cannot make us build a huge tree. */
export const MAX_KEYVAL_LENGTH = 1 << 20;
const INT_MAX = 2147483647;

function isAlpha(c: string | undefined): boolean {
  return c !== undefined && /^[A-Za-z]$/.test(c);
}
function isAlnum(c: string | undefined): boolean {
  return c !== undefined && /^[A-Za-z0-9]$/.test(c);
}

/** Length of the QAPI name at the start of `s` (qapi-util.c parse_qapi_name), or -1. */
function qapiNameLength(s: string): number {
  let p = 0;
  if (s[p] === '_') {
    p++;
    if (s[p] !== '_') return -1;
    p++;
    while (p < s.length && (isAlnum(s[p]) || s[p] === '-' || s[p] === '.')) p++;
    if (s[p] !== '_') return -1;
    p++;
  }
  if (!isAlpha(s[p])) return -1;
  p++;
  while (p < s.length && (isAlnum(s[p]) || s[p] === '-' || s[p] === '_')) p++;
  return p;
}

/** Length of the leading decimal digits of `s`, or -1 if it does not start with a digit. */
function indexLength(s: string): number {
  const match = /^[0-9]+/.exec(s);
  return match ? match[0].length : -1;
}

/** key_to_index(): the value of an all-digit fragment, capped at INT_MAX; -1 otherwise. */
function keyToIndex(key: string): number {
  if (!/^[0-9]+$/.test(key)) return -1;
  const value = Number(key);
  return Math.min(value, INT_MAX);
}

const hasOwn = (o: object, k: string) => Object.hasOwn(o, k);

function newObject(): KeyvalObject {
  return Object.create(null) as KeyvalObject;
}

/**
 * Ensures `cur[keyInCur]` is an object (value undefined) or the string `value`; QEMU's
 * keyval_parse_put(). Insertion order is kept by the JavaScript object (keys are never numeric
 * array indexes here: Object.create(null) objects keep integer-like keys in ascending order, so
 * the order of integer-like keys is tracked separately by `order`).
 */
function put(
  cur: KeyvalObject,
  order: Map<KeyvalObject, string[]>,
  keyInCur: string,
  value: string | undefined,
  keyPrefix: string,
): KeyvalObject | string {
  const old = hasOwn(cur, keyInCur) ? cur[keyInCur] : undefined;
  if (old !== undefined) {
    if ((typeof old === 'string') !== (value !== undefined)) {
      throw new KeyvalError(`Parameters '${keyPrefix}.*' used inconsistently`);
    }
    if (value === undefined) return old as KeyvalObject;
    cur[keyInCur] = value;
    return value;
  }
  const created = value ?? newObject();
  cur[keyInCur] = created;
  const keys = order.get(cur) ?? [];
  keys.push(keyInCur);
  order.set(cur, keys);
  return created;
}

function startsWithHelp(s: string): number {
  if (s.startsWith('?')) return 1;
  if (s.startsWith('help')) return 4;
  return 0;
}

export interface KeyvalParseResult {
  readonly value: KeyvalObject;
  /** A `help` or `?` parameter was present. */
  readonly help: boolean;
}

/**
 * Parses `params` like QEMU's keyval_parse(params, impliedKey, &help). Throws KeyvalError with
 * QEMU's message on bad input.
 */
export function parseKeyval(params: string, impliedKey?: string): KeyvalParseResult {
  if (params.length > MAX_KEYVAL_LENGTH) {
    throw new KeyvalError(`Parameter string longer than ${MAX_KEYVAL_LENGTH} characters`);
  }
  const root = newObject();
  const order = new Map<KeyvalObject, string[]>();
  let help = false;
  let pos = 0;
  let implied = impliedKey;
  while (pos < params.length) {
    const rest = params.slice(pos);
    let keyText: string;
    let impliedValueEnd = -1;
    let len = rest.search(/[=,]/);
    if (len < 0) len = rest.length;
    let usingImplied = false;
    if (len > 0 && rest[len] !== '=') {
      if (startsWithHelp(rest) === len) {
        help = true;
        pos += len;
        if (params[pos] === ',') pos++;
        implied = undefined;
        continue;
      }
      if (implied !== undefined) {
        usingImplied = true;
        impliedValueEnd = len;
        keyText = implied;
      } else {
        keyText = rest.slice(0, len);
      }
    } else {
      keyText = rest.slice(0, len);
    }
    if (!usingImplied) keyText = rest.slice(0, len);

    // Walk the key's fragments.
    let cur = root;
    let s = 0;
    let keyInCur = '';
    for (;;) {
      const fragment = keyText.slice(s);
      let fragLen: number;
      const idx = s !== 0 ? indexLength(fragment) : -1;
      if (idx >= 0) fragLen = idx;
      else {
        const n = qapiNameLength(fragment);
        fragLen = Math.max(n, 0);
      }
      if (fragLen === 0 || (s + fragLen < keyText.length && keyText[s + fragLen] !== '.')) {
        throw new KeyvalError(`Invalid parameter '${keyText}'`);
      }
      if (fragLen > MAX_FRAGMENT) {
        const whole = s === 0 && fragLen === keyText.length;
        throw new KeyvalError(
          `Parameter${whole ? '' : ' fragment'} '${keyText.slice(s, s + fragLen)}' is too long`,
        );
      }
      if (s !== 0) {
        cur = put(cur, order, keyInCur, undefined, keyText.slice(0, s - 1)) as KeyvalObject;
      }
      keyInCur = keyText.slice(s, s + fragLen);
      s += fragLen;
      if (keyText[s] !== '.') break;
      s++;
    }

    let value: string;
    if (usingImplied) {
      value = rest.slice(0, impliedValueEnd);
      pos += impliedValueEnd;
      if (params[pos] === ',') pos++;
    } else {
      pos += s;
      if (params[pos] !== '=') {
        throw new KeyvalError(`Expected '=' after parameter '${keyText.slice(0, s)}'`);
      }
      pos++;
      value = '';
      while (pos < params.length) {
        if (params[pos] === ',') {
          pos++;
          if (params[pos] !== ',') break;
        }
        value += params[pos];
        pos++;
      }
    }
    put(cur, order, keyInCur, value, keyText);
    implied = undefined;
  }
  const listified = listify(root, order, []);
  return { value: listified as KeyvalObject, help };
}

/** keyval_listify(): objects whose keys are all indexes become arrays, without gaps. */
function listify(
  cur: KeyvalObject,
  order: Map<KeyvalObject, string[]>,
  path: readonly string[],
): KeyvalObject | KeyvalValue[] {
  const keys = qemuMemberOrder(order.get(cur) ?? []);
  let hasIndex = false;
  let hasMember = false;
  for (const key of keys) {
    if (keyToIndex(key) >= 0) hasIndex = true;
    else hasMember = true;
    const value = cur[key];
    if (typeof value === 'object' && !Array.isArray(value)) {
      cur[key] = listify(value, order, [...path, key]) as KeyvalValue;
    }
  }
  const prefix = path.map((p) => `${p}.`).join('');
  if (hasIndex && hasMember) {
    throw new KeyvalError(`Parameters '${prefix}*' used inconsistently`);
  }
  if (!hasIndex) return cur;
  const count = keys.length;
  const elements: Array<KeyvalValue | undefined> = new Array(count).fill(undefined);
  let maxIndex = -1;
  for (const key of keys) {
    const index = keyToIndex(key);
    if (index > maxIndex) maxIndex = index;
    if (index >= count) continue;
    elements[index] = cur[key];
  }
  const list: KeyvalValue[] = [];
  for (let i = 0; i < Math.min(count + 1, maxIndex + 1); i++) {
    const element = elements[i];
    if (element === undefined) throw new KeyvalError(`Parameter '${prefix}${i}' missing`);
    list.push(element);
  }
  return list;
}
