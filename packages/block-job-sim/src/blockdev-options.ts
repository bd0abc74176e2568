// The `--blockdev` option of qemu-storage-daemon: either JSON (`{"driver": …}`) or QEMU's
// key=value form. Both end as the BlockdevOptions object blockdev-add receives. QEMU visits the
// parsed tree with its QObject input visitor: strictly typed for JSON, and for key=value a
// variant that converts each string by the type of the member it lands on (qapi/
// qobject-input-visitor.c, 7.2). This module does the same for the drivers the simulator runs;
// options for other drivers are returned as parsed (BlockLayer.add refuses those drivers).

import { type KeyvalValue, parseKeyval } from './keyval.js';
import {
  BLOCKDEV_MEMBERS,
  BLOCKDEV_REQUIRED,
  type BlockdevOptions,
  isBlockdevDriver,
  isSimulatedDriver,
  type MemberType,
} from './qapi.js';

/** Why a `--blockdev` argument was refused; `message` is QEMU's text. */
export class BlockdevArgumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BlockdevArgumentError';
  }
}

/** Bound on the JSON form's size and nesting (QEMU's parser limits nesting to 1024). */
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

const SIZE_SUFFIX: Readonly<Record<string, bigint>> = {
  B: 1n,
  K: 1024n,
  M: 1024n ** 2n,
  G: 1024n ** 3n,
  T: 1024n ** 4n,
  P: 1024n ** 5n,
  E: 1024n ** 6n,
};

/** qemu_strtosz(): a byte count with an optional binary suffix, fractions only with a suffix. */
export function parseSize(text: string): bigint | undefined {
  const hex = /^[ \t\n\v\f\r]*\+?0[xX]([0-9a-fA-F]+)([bBkKmMgGtTpPeE]?)$/.exec(text);
  if (hex) {
    const value = BigInt(`0x${hex[1]}`) * (SIZE_SUFFIX[(hex[2] as string).toUpperCase()] ?? 1n);
    return value <= UINT64_MAX ? value : undefined;
  }
  const match = /^[ \t\n\v\f\r]*\+?([0-9]+)(\.[0-9]*)?([bBkKmMgGtTpPeE]?)$/.exec(text);
  if (!match) return undefined;
  const whole = BigInt(match[1] as string);
  const fraction = match[2] ?? '';
  const multiplier = SIZE_SUFFIX[(match[3] as string).toUpperCase()] ?? 1n;
  if (fraction.length > 1 && /[1-9]/.test(fraction) && multiplier === 1n) return undefined;
  let value = whole * multiplier;
  if (fraction.length > 1) {
    const digits = fraction.slice(1);
    const scale = 10n ** BigInt(digits.length);
    // Round half up, as QEMU's 64.64 fixed-point arithmetic does.
    value += (BigInt(digits) * multiplier * 2n + scale) / (2n * scale);
  }
  return value <= UINT64_MAX ? value : undefined;
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

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

class Visitor {
  constructor(readonly mode: Mode) {}

  path(parent: string, name: string | number): string {
    if (typeof name === 'number')
      return this.mode === 'keyval' ? `${parent}.${name}` : `${parent}[${name}]`;
    return parent === '' ? name : `${parent}.${name}`;
  }

  scalar(value: unknown, type: MemberType, path: string, name: string): unknown {
    if (this.mode === 'keyval') {
      if (
        typeof type === 'string' &&
        type !== 'ref' &&
        type !== 'any' &&
        typeof value !== 'string'
      ) {
        throw new BlockdevArgumentError(`Parameters '${path}.*' are unexpected`);
      }
      return this.#keyvalScalar(value as string, type, path, name);
    }
    return this.#jsonScalar(value, type, path, name);
  }

  #keyvalScalar(text: string, type: MemberType, path: string, name: string): unknown {
    switch (type) {
      case 'str':
        return text;
      case 'int':
      case 'int32': {
        const value = parseCInteger(text);
        if (value === undefined || value < INT64_MIN || value > INT64_MAX) {
          throw new BlockdevArgumentError(`Parameter '${path}' expects integer`);
        }
        if (type === 'int32' && (value < -(2n ** 31n) || value >= 2n ** 31n)) {
          throw new BlockdevArgumentError(`Parameter '${name}' expects int32_t`);
        }
        return Number(value);
      }
      case 'uint64': {
        const value = parseCInteger(text);
        if (value === undefined || value > UINT64_MAX || value < -UINT64_MAX) {
          throw new BlockdevArgumentError(`Parameter '${path}' expects integer`);
        }
        return Number(value < 0n ? UINT64_MAX + 1n + value : value);
      }
      case 'size': {
        const value = parseSize(text);
        if (value === undefined)
          throw new BlockdevArgumentError(`Parameter '${path}' expects size`);
        return Number(value);
      }
      case 'bool': {
        const value = BOOL_WORDS[text];
        if (value === undefined) {
          throw new BlockdevArgumentError(`Parameter '${path}' expects 'on' or 'off'`);
        }
        return value;
      }
      default:
        if (typeof type === 'object' && 'enum' in type)
          return this.#enumValue(text, type.enum, name);
        return text;
    }
  }

  #enumValue(text: unknown, values: readonly string[], name: string): string {
    if (typeof text !== 'string' || !values.includes(text)) {
      throw new BlockdevArgumentError(
        `Parameter '${name}' does not accept value '${String(text)}'`,
      );
    }
    return text;
  }

  #jsonScalar(value: unknown, type: MemberType, path: string, name: string): unknown {
    const typeError = (expected: string) =>
      new BlockdevArgumentError(`Invalid parameter type for '${path}', expected: ${expected}`);
    switch (type) {
      case 'str':
        if (typeof value !== 'string') throw typeError('string');
        return value;
      case 'int':
      case 'int32':
        if (typeof value !== 'number' || !Number.isInteger(value)) throw typeError('integer');
        if (type === 'int32' && (value < -(2 ** 31) || value >= 2 ** 31)) {
          throw new BlockdevArgumentError(`Parameter '${name}' expects int32_t`);
        }
        return value;
      case 'uint64':
      case 'size':
        if (typeof value !== 'number' || !Number.isInteger(value)) {
          throw new BlockdevArgumentError(`Parameter '${path}' expects uint64`);
        }
        return value;
      case 'bool':
        if (typeof value !== 'boolean') throw typeError('boolean');
        return value;
      default:
        if (typeof type === 'object' && 'enum' in type) {
          if (typeof value !== 'string') throw typeError('string');
          return this.#enumValue(value, type.enum, name);
        }
        return value;
    }
  }

  /** Visits `value` as `type` at `path`; `name` is the member's own name for short messages. */
  visit(value: unknown, type: MemberType, path: string, name: string, depth: number): unknown {
    if (depth > MAX_NESTING) throw new BlockdevArgumentError('Nesting too deep');
    if (type === 'any') return value;
    if (type === 'ref') {
      if (typeof value === 'string') return value;
      if (isPlainObject(value)) return this.options(value, path, depth + 1);
      if (this.mode === 'json') {
        throw new BlockdevArgumentError(
          `Invalid parameter type for '${path}', expected: BlockdevRef`,
        );
      }
      throw new BlockdevArgumentError(`Parameters '${path}.*' are unexpected`);
    }
    if (typeof type === 'object' && 'list' in type) {
      if (!Array.isArray(value)) {
        throw new BlockdevArgumentError(`Invalid parameter type for '${path}', expected: array`);
      }
      return value.map((item, i) =>
        this.visit(item, type.list, this.path(path, i), 'null', depth + 1),
      );
    }
    if (typeof type === 'object' && 'object' in type) {
      if (!isPlainObject(value)) {
        throw new BlockdevArgumentError(`Invalid parameter type for '${path}', expected: object`);
      }
      return this.struct(value, type.object, type.required, path, depth + 1);
    }
    return this.scalar(value, type, path, name);
  }

  struct(
    value: Record<string, unknown>,
    members: Readonly<Record<string, MemberType>>,
    required: readonly string[],
    path: string,
    depth: number,
  ): Record<string, unknown> {
    const out: Record<string, unknown> = Object.create(null);
    for (const [member, type] of Object.entries(members)) {
      if (!Object.hasOwn(value, member)) {
        if (required.includes(member)) {
          throw new BlockdevArgumentError(`Parameter '${this.path(path, member)}' is missing`);
        }
        continue;
      }
      out[member] = this.visit(value[member], type, this.path(path, member), member, depth);
    }
    for (const key of Object.keys(value)) {
      if (!Object.hasOwn(members, key)) {
        throw new BlockdevArgumentError(`Parameter '${this.path(path, key)}' is unexpected`);
      }
    }
    return out;
  }

  options(value: Record<string, unknown>, path: string, depth: number): Record<string, unknown> {
    const driver = value.driver;
    if (driver === undefined) {
      throw new BlockdevArgumentError(`Parameter '${this.path(path, 'driver')}' is missing`);
    }
    if (typeof driver !== 'string') {
      throw new BlockdevArgumentError(
        `Invalid parameter type for '${this.path(path, 'driver')}', expected: string`,
      );
    }
    if (!isBlockdevDriver(driver)) {
      throw new BlockdevArgumentError(`Parameter 'driver' does not accept value '${driver}'`);
    }
    if (!isSimulatedDriver(driver)) return value;
    return this.struct(value, BLOCKDEV_MEMBERS[driver], BLOCKDEV_REQUIRED[driver], path, depth);
  }
}

/**
 * Parses a `--blockdev` argument (JSON when it starts with `{`, key=value otherwise with
 * `driver` as the implied first key) into the options blockdev-add receives. Throws
 * BlockdevArgumentError with QEMU's message.
 */
export function parseBlockdevArgument(argument: string): BlockdevOptions {
  if (argument.startsWith('{')) {
    if (argument.length > MAX_JSON_LENGTH) {
      throw new BlockdevArgumentError('JSON argument too long');
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(argument);
    } catch (error) {
      throw new BlockdevArgumentError(`JSON parse error, ${(error as Error).message}`);
    }
    if (!isPlainObject(parsed)) throw new BlockdevArgumentError('JSON argument is not an object');
    return new Visitor('json').options(parsed, '', 0) as unknown as BlockdevOptions;
  }
  let tree: KeyvalValue;
  try {
    const result = parseKeyval(argument, 'driver');
    if (result.help) throw new BlockdevArgumentError('Help is not available for this option');
    tree = result.value;
  } catch (error) {
    if (error instanceof BlockdevArgumentError) throw error;
    throw new BlockdevArgumentError((error as Error).message);
  }
  return new Visitor('keyval').options(
    tree as Record<string, unknown>,
    '',
    0,
  ) as unknown as BlockdevOptions;
}
