// The `--blockdev` option of qemu-storage-daemon: either JSON (`{"driver": …}`) or QEMU's
// key=value form. Both end as the BlockdevOptions object blockdev-add receives. QEMU visits the
// parsed tree with its QObject input visitor: strictly typed for JSON, and for key=value a
// variant that converts each string by the type of the member it lands on (qapi/
// qobject-input-visitor.c, 7.2). This module does the same, driven by the runtime schema, so
// every driver's options convert (and fail) as in QEMU.

import { hasErrorMarker, JsonStreamer, parseQemuSize, stampErrorMarker } from '@qmpkit/protocol';
import type { BlockdevOptions, IntrospectionObject, QapiIntKind } from '@qmpkit/qapi-types/7.2';
import { type KeyvalObject, parseKeyval } from './keyval.js';
import type { BlockSchema } from './schema.js';

/** Why a `--blockdev` argument was refused; `message` is QEMU's text. */
export class BlockdevArgumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BlockdevArgumentError';
    stampErrorMarker(this, 'BlockdevArgumentError');
  }

  /** True for a BlockdevArgumentError from any copy of this package (by its marker). */
  static isInstance(value: unknown): value is BlockdevArgumentError {
    return hasErrorMarker(value, 'BlockdevArgumentError');
  }
}

/** Bounds on the JSON form (QEMU's parser limits nesting to 1024; ours is tighter). */
const MAX_JSON_LENGTH = 1 << 20;
const MAX_NESTING = 64;

type Mode = 'keyval' | 'json';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** strtoll/strtoull with base 0 over the whole string, as qemu_strtoi64(s, NULL, 0) uses it. */
function parseCInteger(text: string): bigint | undefined {
  const match = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(text);
  if (!match) return undefined;
  const digits = match[2] as string;
  let value: bigint;
  if (/^0[xX]/.test(digits)) value = BigInt(digits);
  else if (digits.length > 1 && digits.startsWith('0')) value = BigInt(`0o${digits.slice(1)}`);
  else value = BigInt(digits);
  return match[1] === '-' ? -value : value;
}

const BOOL_WORDS: Readonly<Record<string, boolean>> = {
  on: true,
  yes: true,
  true: true,
  y: true,
  off: false,
  no: false,
  false: false,
  n: false,
};

/** Range of each narrower integer kind, and the C type name QEMU's message uses. */
const INT_RANGES: Readonly<Partial<Record<QapiIntKind, readonly [bigint, bigint, string]>>> = {
  int8: [-(2n ** 7n), 2n ** 7n - 1n, 'int8_t'],
  int16: [-(2n ** 15n), 2n ** 15n - 1n, 'int16_t'],
  int32: [-(2n ** 31n), 2n ** 31n - 1n, 'int32_t'],
  uint8: [0n, 2n ** 8n - 1n, 'uint8_t'],
  uint16: [0n, 2n ** 16n - 1n, 'uint16_t'],
  uint32: [0n, 2n ** 32n - 1n, 'uint32_t'],
};

const UNSIGNED: ReadonlySet<QapiIntKind> = new Set(['uint8', 'uint16', 'uint32', 'uint64', 'size']);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

class Visitor {
  constructor(
    readonly mode: Mode,
    readonly schema: BlockSchema,
  ) {}

  #path(parent: string, name: string | number): string {
    if (typeof name === 'number') {
      return this.mode === 'keyval' ? `${parent}.${name}` : `${parent}[${name}]`;
    }
    return parent === '' ? name : `${parent}.${name}`;
  }

  #typeError(path: string, expected: string): BlockdevArgumentError {
    return new BlockdevArgumentError(`Invalid parameter type for '${path}', expected: ${expected}`);
  }

  /** The keyval visitor's view of a scalar: it must be a string. */
  #keyvalString(value: unknown, path: string): string {
    if (typeof value === 'string') return value;
    throw new BlockdevArgumentError(`Parameters '${path}.*' are unexpected`);
  }

  #integer(value: unknown, kind: QapiIntKind, path: string, name: string): number {
    let parsed: bigint;
    if (this.mode === 'keyval') {
      const text = this.#keyvalString(value, path);
      if (kind === 'size') {
        const size = parseQemuSize(text);
        if (size === undefined) throw new BlockdevArgumentError(`Parameter '${path}' expects size`);
        return Number(size);
      }
      const number = parseCInteger(text);
      const unsigned = UNSIGNED.has(kind);
      if (
        number === undefined ||
        (unsigned
          ? number > UINT64_MAX || number < -UINT64_MAX
          : number < INT64_MIN || number > INT64_MAX)
      ) {
        throw new BlockdevArgumentError(`Parameter '${path}' expects integer`);
      }
      // strtoull negates in unsigned arithmetic: "-1" is 2^64 - 1.
      parsed = unsigned && number < 0n ? UINT64_MAX + 1n + number : number;
    } else {
      const unsigned = UNSIGNED.has(kind);
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        if (unsigned) throw new BlockdevArgumentError(`Parameter '${path}' expects uint64`);
        throw this.#typeError(path, 'integer');
      }
      // Negative numbers for unsigned members are accepted and wrap (qmp-protocol.md §8).
      parsed = unsigned && value < 0 ? UINT64_MAX + 1n + BigInt(value) : BigInt(value);
    }
    const range = INT_RANGES[kind];
    if (range && (parsed < range[0] || parsed > range[1])) {
      throw new BlockdevArgumentError(`Parameter '${name}' expects ${range[2]}`);
    }
    return Number(parsed);
  }

  visit(
    value: unknown,
    type: string,
    path: string,
    name: string,
    owner: string,
    depth: number,
  ): unknown {
    if (depth > MAX_NESTING) throw new BlockdevArgumentError('Nesting too deep');
    const entry = this.schema.entry(type);
    switch (entry['meta-type']) {
      case 'builtin':
        switch (entry['json-type']) {
          case 'string':
            if (this.mode === 'keyval') return this.#keyvalString(value, path);
            if (typeof value !== 'string') throw this.#typeError(path, 'string');
            return value;
          case 'int':
            return this.#integer(value, this.schema.memberIntKind(owner, name), path, name);
          case 'boolean': {
            if (this.mode === 'json') {
              if (typeof value !== 'boolean') throw this.#typeError(path, 'boolean');
              return value;
            }
            const bool = BOOL_WORDS[this.#keyvalString(value, path)];
            if (bool === undefined) {
              throw new BlockdevArgumentError(`Parameter '${path}' expects 'on' or 'off'`);
            }
            return bool;
          }
          case 'number': {
            if (this.mode === 'json') {
              if (typeof value !== 'number') throw this.#typeError(path, 'number');
              return value;
            }
            const number = Number(this.#keyvalString(value, path));
            if (!Number.isFinite(number)) throw this.#typeError(path, 'number');
            return number;
          }
          case 'null':
            if (value !== null) throw this.#typeError(path, 'null');
            return null;
          default:
            return value;
        }
      case 'enum': {
        if (this.mode === 'keyval') this.#keyvalString(value, path);
        else if (typeof value !== 'string') throw this.#typeError(path, 'string');
        if (!entry.values.includes(value as string)) {
          throw new BlockdevArgumentError(
            `Parameter '${name}' does not accept value '${String(value)}'`,
          );
        }
        return value;
      }
      case 'array': {
        if (!Array.isArray(value)) throw this.#typeError(path, 'array');
        return value.map((item, i) =>
          this.visit(item, entry['element-type'], this.#path(path, i), 'null', owner, depth + 1),
        );
      }
      case 'alternate': {
        // QEMU picks the branch by the JSON type of the value (keyval values are strings).
        const branches = entry.members.map((m) => this.schema.entry(m.type));
        const pick = branches.find((branch) => {
          if (branch['meta-type'] === 'object') return isPlainObject(value);
          if (branch['meta-type'] === 'builtin') {
            if (branch['json-type'] === 'string') return typeof value === 'string';
            if (branch['json-type'] === 'null') return value === null;
            if (branch['json-type'] === 'boolean') return typeof value === 'boolean';
            if (branch['json-type'] === 'int' || branch['json-type'] === 'number') {
              return typeof value === 'number';
            }
          }
          if (branch['meta-type'] === 'enum') return typeof value === 'string';
          if (branch['meta-type'] === 'array') return Array.isArray(value);
          return false;
        });
        if (!pick) throw this.#typeError(path, this.schema.typeName(type));
        return this.visit(value, pick.name, path, name, owner, depth + 1);
      }
      case 'object':
        if (!isPlainObject(value)) throw this.#typeError(path, 'object');
        return this.struct(value, type, path, depth + 1);
      default:
        throw new Error(`unexpected schema entry ${type}`);
    }
  }

  struct(
    value: Record<string, unknown>,
    type: string,
    path: string,
    depth: number,
  ): Record<string, unknown> {
    const out: Record<string, unknown> = Object.create(null);
    const entry = this.schema.entry(type) as IntrospectionObject;
    // The tag is visited (and checked) first, so the variant is known before its members.
    const members = this.schema.objectMembers(
      type,
      entry.tag !== undefined ? this.#checkedTag(value, entry, path) : value,
    );
    for (const member of members) {
      if (!Object.hasOwn(value, member.name)) {
        if (!member.optional) {
          throw new BlockdevArgumentError(
            `Parameter '${this.#path(path, member.name)}' is missing`,
          );
        }
        continue;
      }
      out[member.name] = this.visit(
        value[member.name],
        member.type,
        this.#path(path, member.name),
        member.name,
        member.owner,
        depth,
      );
    }
    for (const key of Object.keys(value)) {
      if (!Object.hasOwn(out, key)) {
        throw new BlockdevArgumentError(`Parameter '${this.#path(path, key)}' is unexpected`);
      }
    }
    return out;
  }

  #checkedTag(
    value: Record<string, unknown>,
    entry: IntrospectionObject,
    path: string,
  ): Record<string, unknown> {
    const tag = entry.tag as string;
    const tagMember = entry.members.find((m) => m.name === tag);
    if (!tagMember) return value;
    if (!Object.hasOwn(value, tag)) {
      throw new BlockdevArgumentError(`Parameter '${this.#path(path, tag)}' is missing`);
    }
    this.visit(value[tag], tagMember.type, this.#path(path, tag), tag, entry.name, 0);
    return value;
  }
}

/**
 * Parses a `--blockdev` argument (JSON when it starts with `{`, key=value otherwise with
 * `driver` as the implied first key) into the options blockdev-add receives, members in schema
 * order. Throws BlockdevArgumentError with QEMU's message.
 */
export function parseBlockdevArgument(argument: string, schema: BlockSchema): BlockdevOptions {
  if (argument.startsWith('{')) {
    if (argument.length > MAX_JSON_LENGTH)
      throw new BlockdevArgumentError('JSON argument too long');
    // QEMU reads the argument with its own JSON parser (single quotes allowed, its error texts).
    const streamer = new JsonStreamer({ mode: 'qemu-input' });
    const items = [...streamer.feed(argument), ...streamer.end()];
    const first = items[0];
    if (first === undefined) throw new BlockdevArgumentError('JSON parse error, premature EOI');
    if (first.kind === 'error') throw new BlockdevArgumentError(first.error.message);
    if (items.length > 1) throw new BlockdevArgumentError('Expecting at most one JSON value');
    const parsed: unknown = first.value;
    if (!isPlainObject(parsed)) throw new BlockdevArgumentError('JSON argument is not an object');
    const visited = new Visitor('json', schema).struct(parsed, schema.blockdevOptionsType, '', 0);
    return typedBlockdevOptions(visited, schema);
  }
  let tree: KeyvalObject;
  try {
    const result = parseKeyval(argument, 'driver');
    if (result.help) throw new BlockdevArgumentError('Help is not available for this option');
    tree = result.value;
  } catch (error) {
    if (error instanceof BlockdevArgumentError) throw error;
    throw new BlockdevArgumentError((error as Error).message);
  }
  const visited = new Visitor('keyval', schema).struct(tree, schema.blockdevOptionsType, '', 0);
  return typedBlockdevOptions(visited, schema);
}

/**
 * A blockdev-add argument as the typed BlockdevOptions. The visitors and canonicalOrder build
 * plain objects member by member from the schema's BlockdevOptions type, which is what makes
 * them one; what is left for a guard to see is the tag every variant carries, a driver the
 * schema knows (the visitor refused any other, so the error is only a safety net).
 */
function isBlockdevOptions(value: unknown, schema: BlockSchema): value is BlockdevOptions {
  return (
    isPlainObject(value) &&
    typeof value.driver === 'string' &&
    schema.isBlockdevDriver(value.driver)
  );
}

function typedBlockdevOptions(value: unknown, schema: BlockSchema): BlockdevOptions {
  if (isBlockdevOptions(value, schema)) return value;
  throw new BlockdevArgumentError("Parameter 'driver' is missing");
}

/** canonicalOrder() of a whole blockdev-add argument: the same options in schema order. */
export function canonicalBlockdevOptions(
  options: BlockdevOptions,
  schema: BlockSchema,
): BlockdevOptions {
  return typedBlockdevOptions(canonicalOrder(options, schema), schema);
}

/**
 * Reorders a BlockdevOptions (or BlockdevCreateOptions) value into schema member order, as
 * QEMU's output visitor rebuilds it from the parsed command; nested objects, lists and inline
 * children too. Values are not checked: the server validated them already.
 */
export function canonicalOrder(
  value: unknown,
  schema: BlockSchema,
  type: string = schema.blockdevOptionsType,
): unknown {
  const entry = schema.entry(type);
  switch (entry['meta-type']) {
    case 'array':
      return Array.isArray(value)
        ? value.map((item) => canonicalOrder(item, schema, entry['element-type']))
        : value;
    case 'alternate': {
      if (!isPlainObject(value)) return value;
      const objectBranch = entry.members.find(
        (m) => schema.entry(m.type)['meta-type'] === 'object',
      );
      return objectBranch ? canonicalOrder(value, schema, objectBranch.type) : value;
    }
    case 'object': {
      if (!isPlainObject(value)) return value;
      const out: Record<string, unknown> = Object.create(null);
      for (const member of schema.objectMembers(type, value)) {
        if (Object.hasOwn(value, member.name) && value[member.name] !== undefined) {
          out[member.name] = canonicalOrder(value[member.name], schema, member.type);
        }
      }
      for (const key of Object.keys(value)) {
        if (!Object.hasOwn(out, key) && value[key] !== undefined) out[key] = value[key];
      }
      return out;
    }
    default:
      return value;
  }
}
