/**
 * JSON values as the codec represents them.
 *
 * Integers: a JSON integer whose value lies within ±(2^53 − 1) decodes to a `number`; any other
 * integer decodes to a `bigint`, so QEMU's uint64 values (18446744073709551615) and int64
 * extremes survive exactly. The encoder writes a `bigint` as its decimal digits and never writes
 * an integer in exponent notation.
 */
export type JsonPrimitive = null | boolean | number | bigint | string;

/** A JSON object. Decoded objects have `Object.prototype`; a `"__proto__"` key is an own property. */
export interface JsonObject {
  [key: string]: JsonValue;
}

/** Any JSON value. */
export type JsonValue = JsonPrimitive | JsonValue[] | JsonObject;

/**
 * A JSON number that was written as a float (with `.`, `e` or `E`, or an integer beyond the
 * 64-bit range, which QEMU also turns into a double). The decoder produces it only with the
 * `markFloats` option, for a server that must tell `1.0` from `1` the way QEMU does (QEMU
 * refuses a float for an integer parameter). The encoder writes it like QEMU writes a double.
 */
export class JsonFloat {
  readonly value: number;
  constructor(value: number) {
    this.value = value;
  }
  valueOf(): number {
    return this.value;
  }
}

/** A JSON value that may contain `JsonFloat`s (decoded with `markFloats`). */
export type QemuJsonValue =
  | JsonPrimitive
  | JsonFloat
  | QemuJsonValue[]
  | { [key: string]: QemuJsonValue };

/** True for a JSON object (not an array, not null, not a `JsonFloat`). */
export function isJsonObject(value: unknown): value is JsonObject {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof JsonFloat)
  );
}
