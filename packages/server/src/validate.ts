/**
 * Argument validation from the runtime schema, done the way QEMU 7.2's QObject input visitor
 * and the generated `visit_type_*` functions do it: members in declaration order (base members,
 * then the union's branch), one error and stop, leftover keys reported last and chosen in GLib
 * hash-table order, and QEMU's texts to the letter (reference qmp-protocol.md §8,
 * qapi-schema.md §11.2 and §17.12).
 *
 * Success yields a fresh copy of the arguments for the handler: only declared members,
 * `JsonFloat`s turned into numbers, 64-bit integers turned into numbers (the generated types say
 * `number`; beyond ±2^53 that rounds), negative values of unsigned members wrapped modulo 2^64
 * as QEMU does.
 */
import { JsonFloat, qemuMemberOrder } from '@qmpkit/protocol';
import type {
  IntrospectionEntry,
  IntrospectionObject,
  QapiIntKind,
  QmpSchemaExtras,
} from '@qmpkit/qapi-types/7.2';
import { GHashKeySet } from './ghash.js';

/** The outcome of validating one command's arguments. */
export type ValidationResult =
  | { readonly ok: true; readonly value: Record<string, unknown> }
  | { readonly ok: false; readonly desc: string };

class ArgumentError extends Error {}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

const SIGNED_RANGES: Partial<Record<QapiIntKind, [bigint, bigint, string]>> = {
  int8: [-128n, 127n, 'int8_t'],
  int16: [-32768n, 32767n, 'int16_t'],
  int32: [-2147483648n, 2147483647n, 'int32_t'],
};
const UNSIGNED_MAX: Partial<Record<QapiIntKind, [bigint, string]>> = {
  uint8: [255n, 'uint8_t'],
  uint16: [65535n, 'uint16_t'],
  uint32: [4294967295n, 'uint32_t'],
};

/** QEMU's QNum classification of a decoded number: int64, uint64 (above int64), or double. */
function qnum(value: unknown): { kind: 'i64' | 'u64'; int: bigint } | { kind: 'double' } | null {
  if (value instanceof JsonFloat) return { kind: 'double' };
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return { kind: 'double' };
    const int = BigInt(value);
    if (int >= INT64_MIN && int <= INT64_MAX) return { kind: 'i64', int };
    if (int > INT64_MAX && int <= UINT64_MAX) return { kind: 'u64', int };
    return { kind: 'double' };
  }
  if (typeof value === 'bigint') {
    if (value >= INT64_MIN && value <= INT64_MAX) return { kind: 'i64', int: value };
    if (value > INT64_MAX && value <= UINT64_MAX) return { kind: 'u64', int: value };
    return { kind: 'double' };
  }
  return null;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof JsonFloat)
  );
}

/** The QType an alternate dispatches on. */
function qtypeOf(value: unknown): 'string' | 'number' | 'boolean' | 'null' | 'object' | 'array' {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'number' || typeof value === 'bigint' || value instanceof JsonFloat) {
    return 'number';
  }
  return 'object';
}

function hasOwn(object: object, key: string): boolean {
  return Object.hasOwn(object, key);
}

/** Sets a property without invoking a `__proto__` setter. */
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/** A JSON value for a handler: `JsonFloat` → number, bigint → number. */
export function plainJson(value: unknown): unknown {
  if (value instanceof JsonFloat) return value.value;
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(plainJson);
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) define(out, key, plainJson(value[key]));
    return out;
  }
  return value;
}

/**
 * The key table of an empty arguments object. Shared: visiting members removes only the keys
 * present, so it stays empty.
 */
const NO_KEYS = new GHashKeySet();

/** The arguments of a request without `arguments` (never handed out: results are copies). */
const NO_ARGS: Record<string, unknown> = Object.freeze({});

/** Validates command arguments against a `query-qmp-schema` style schema. */
export class SchemaValidator {
  private readonly entries = new Map<string, IntrospectionEntry>();
  private readonly commandArgTypes = new Map<string, string>();
  private readonly openArgs: ReadonlySet<string>;

  constructor(
    schema: readonly IntrospectionEntry[],
    private readonly extras: QmpSchemaExtras,
  ) {
    for (const entry of schema) {
      if (entry['meta-type'] === 'command') this.commandArgTypes.set(entry.name, entry['arg-type']);
      else if (entry['meta-type'] !== 'event') this.entries.set(entry.name, entry);
    }
    this.openArgs = new Set(extras.openArgCommands);
  }

  /** Whether the schema has this command. */
  hasCommand(name: string): boolean {
    return this.commandArgTypes.has(name);
  }

  /**
   * Validates `args` (the request's `arguments`, `undefined` when absent) for `command`.
   * Throws for a command the schema does not have.
   */
  validate(command: string, args: Record<string, unknown> | undefined): ValidationResult {
    const argType = this.commandArgTypes.get(command);
    if (argType === undefined) throw new RangeError(`command ${command} is not in the schema`);
    const given = args ?? NO_ARGS;
    if (this.openArgs.has(command)) {
      return { ok: true, value: plainJson(given) as Record<string, unknown> };
    }
    try {
      return { ok: true, value: this.visitStruct(argType, given, '') };
    } catch (error) {
      if (error instanceof ArgumentError) return { ok: false, desc: error.message };
      throw error;
    }
  }

  private entry(name: string): IntrospectionEntry {
    const entry = this.entries.get(name);
    if (entry === undefined) throw new Error(`schema type ${name} is missing`);
    return entry;
  }

  private typeName(name: string): string {
    return this.extras.typeNames[name] ?? name;
  }

  /** Visits a struct (or union) value: start_struct, members, check_struct. */
  private visitStruct(typeName: string, value: unknown, path: string): Record<string, unknown> {
    if (!isPlainObject(value)) {
      throw new ArgumentError(`Invalid parameter type for '${path}', expected: object`);
    }
    const entry = this.entry(typeName);
    if (entry['meta-type'] !== 'object')
      throw new Error(`schema type ${typeName} is not an object`);
    const names = Object.keys(value);
    // No members given (most queries): nothing can be left over, and no key table is needed.
    const keys = names.length === 0 ? NO_KEYS : new GHashKeySet();
    if (names.length > 0) for (const key of qemuMemberOrder(names)) keys.add(key);
    const out: Record<string, unknown> = {};
    this.visitMembers(entry, value, keys, path, out);
    const leftover = keys.first();
    if (leftover !== undefined) {
      throw new ArgumentError(`Parameter '${join(path, leftover)}' is unexpected`);
    }
    return out;
  }

  private visitMembers(
    entry: IntrospectionObject,
    value: Record<string, unknown>,
    keys: GHashKeySet,
    path: string,
    out: Record<string, unknown>,
  ): void {
    const intKinds = this.extras.memberIntKinds[entry.name];
    for (const member of entry.members) {
      const present = hasOwn(value, member.name);
      if (!present) {
        if ('default' in member) continue;
        throw new ArgumentError(`Parameter '${join(path, member.name)}' is missing`);
      }
      keys.remove(member.name);
      define(
        out,
        member.name,
        this.visitValue(
          member.type,
          value[member.name],
          member.name,
          join(path, member.name),
          intKinds?.[member.name] ?? 'int',
        ),
      );
    }
    if (entry.tag !== undefined && entry.variants !== undefined) {
      const tag = out[entry.tag];
      const variant = entry.variants.find((v) => v.case === tag);
      if (variant !== undefined) {
        const branch = this.entry(variant.type);
        if (branch['meta-type'] !== 'object') throw new Error(`bad union branch ${variant.type}`);
        this.visitMembers(branch, value, keys, path, out);
      }
    }
  }

  private visitValue(
    typeName: string,
    value: unknown,
    name: string | null,
    path: string,
    intKind: QapiIntKind,
  ): unknown {
    if (typeName.startsWith('[') && typeName.endsWith(']') && !this.entries.has(typeName)) {
      return this.visitList(typeName.slice(1, -1), value, path, intKind);
    }
    const entry = this.entry(typeName);
    switch (entry['meta-type']) {
      case 'builtin':
        return this.visitBuiltin(entry['json-type'], value, name, path, intKind);
      case 'enum': {
        if (typeof value !== 'string') {
          throw new ArgumentError(`Invalid parameter type for '${path}', expected: string`);
        }
        if (!entry.values.includes(value)) {
          throw new ArgumentError(`Parameter '${name ?? 'null'}' does not accept value '${value}'`);
        }
        return value;
      }
      case 'array':
        return this.visitList(entry['element-type'], value, path, intKind);
      case 'object':
        return this.visitStruct(typeName, value, path);
      case 'alternate': {
        const kind = qtypeOf(value);
        const branch = entry.members.find((m) => this.qtypeOfType(m.type) === kind);
        if (branch === undefined) {
          throw new ArgumentError(
            `Invalid parameter type for '${name ?? 'null'}', expected: ${this.typeName(typeName)}`,
          );
        }
        return this.visitValue(
          branch.type,
          value,
          name,
          path,
          this.extras.alternateIntKinds[typeName] ?? 'int',
        );
      }
      default:
        throw new Error(`schema type ${typeName} cannot be an argument`);
    }
  }

  private visitList(element: string, value: unknown, path: string, intKind: QapiIntKind) {
    if (!Array.isArray(value)) {
      throw new ArgumentError(`Invalid parameter type for '${path}', expected: array`);
    }
    return value.map((item, i) => this.visitValue(element, item, null, `${path}[${i}]`, intKind));
  }

  /** Which QType an alternate branch of this type takes. */
  private qtypeOfType(typeName: string): ReturnType<typeof qtypeOf> | undefined {
    if (typeName.startsWith('[')) return 'array';
    const entry = this.entries.get(typeName);
    if (entry === undefined) return undefined;
    switch (entry['meta-type']) {
      case 'builtin':
        switch (entry['json-type']) {
          case 'string':
            return 'string';
          case 'int':
          case 'number':
            return 'number';
          case 'boolean':
            return 'boolean';
          case 'null':
            return 'null';
          default:
            return undefined;
        }
      case 'enum':
        return 'string';
      case 'array':
        return 'array';
      case 'object':
        return 'object';
      default:
        return undefined;
    }
  }

  private visitBuiltin(
    jsonType: string,
    value: unknown,
    name: string | null,
    path: string,
    intKind: QapiIntKind,
  ): unknown {
    switch (jsonType) {
      case 'string':
        if (typeof value !== 'string') {
          throw new ArgumentError(`Invalid parameter type for '${path}', expected: string`);
        }
        return value;
      case 'boolean':
        if (typeof value !== 'boolean') {
          throw new ArgumentError(`Invalid parameter type for '${path}', expected: boolean`);
        }
        return value;
      case 'null':
        if (value !== null) {
          throw new ArgumentError(`Invalid parameter type for '${path}', expected: null`);
        }
        return null;
      case 'number':
        if (qnum(value) === null) {
          throw new ArgumentError(`Invalid parameter type for '${path}', expected: number`);
        }
        return plainJson(value);
      case 'int':
        return this.visitInt(value, name, path, intKind);
      default:
        return plainJson(value);
    }
  }

  private visitInt(value: unknown, name: string | null, path: string, kind: QapiIntKind): number {
    const n = qnum(value);
    const unsigned = kind.startsWith('uint') || kind === 'size';
    if (!unsigned) {
      if (n === null || n.kind !== 'i64') {
        throw new ArgumentError(`Invalid parameter type for '${path}', expected: integer`);
      }
      const range = SIGNED_RANGES[kind];
      if (range !== undefined && (n.int < range[0] || n.int > range[1])) {
        throw new ArgumentError(`Parameter '${name ?? 'null'}' expects ${range[2]}`);
      }
      return Number(n.int);
    }
    if (n === null || n.kind === 'double') {
      throw new ArgumentError(`Parameter '${path}' expects uint64`);
    }
    // QEMU accepts a negative int64 for an unsigned member and reads its bits as unsigned.
    const wrapped = n.int < 0n ? n.int + 2n ** 64n : n.int;
    const max = UNSIGNED_MAX[kind];
    if (max !== undefined && wrapped > max[0]) {
      throw new ArgumentError(`Parameter '${name ?? 'null'}' expects ${max[1]}`);
    }
    return Number(wrapped);
  }
}

function join(path: string, member: string): string {
  return path === '' ? member : `${path}.${member}`;
}
