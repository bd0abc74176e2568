/**
 * The grammar stage: turns the tokens of one complete message (collected by the streamer until
 * its braces and brackets balanced) into a value, reporting the first error in parse order with
 * the texts of QEMU 7.2's json-parser.c.
 */
import { BadString } from './strings.js';
import { JsonFloat, type JsonObject, type JsonValue, type QemuJsonValue } from './value.js';

export const TOKEN_LCURLY = 1;
export const TOKEN_RCURLY = 2;
export const TOKEN_LSQUARE = 3;
export const TOKEN_RSQUARE = 4;
export const TOKEN_COLON = 5;
export const TOKEN_COMMA = 6;
/** A number, already converted (number, bigint or JsonFloat). */
export const TOKEN_NUMBER = 7;
/** A run of lower-case letters; its text is the payload. */
export const TOKEN_KEYWORD = 8;
/** A string: the decoded string, or a BadString with the error to report if it is parsed. */
export const TOKEN_STRING = 9;

/** Thrown inside the parser to unwind on the first error; carries QEMU's text. */
class ParseFailure {
  readonly desc: string;
  constructor(desc: string) {
    this.desc = desc;
  }
}

/** Keyword values that strict mode also accepts: the non-finite numbers QEMU prints with %g. */
const NON_FINITE: Record<string, number> = {
  inf: Number.POSITIVE_INFINITY,
  '-inf': Number.NEGATIVE_INFINITY,
  nan: Number.NaN,
  '-nan': Number.NaN,
};

export interface ParseOptions {
  /** Accept `inf`, `-inf`, `nan`, `-nan` as numbers (QEMU's output of non-finite doubles). */
  nonFinite: boolean;
}

/**
 * Parses the tokens `types[0..count)` as exactly one JSON value. `payloads` holds the payloads of
 * the value tokens among them (numbers, strings, keywords), in order. Returns the value, or a
 * string: the error text after `JSON parse error, `.
 */
export function parseTokens(
  types: ArrayLike<number>,
  payloads: readonly unknown[],
  count: number,
  options: ParseOptions,
): { value: QemuJsonValue } | { error: string } {
  // One parser for every message (a parse runs to its end synchronously): no closures or
  // parser object per message.
  const parser = TokenParser.shared;
  parser.types = types;
  parser.payloads = payloads;
  parser.count = count;
  parser.nonFinite = options.nonFinite;
  parser.pos = 0;
  parser.payload = 0;
  try {
    const value = parser.parseValue();
    return { value };
  } catch (e) {
    if (e instanceof ParseFailure) return { error: e.desc };
    throw e;
  } finally {
    // Let go of the caller's payloads.
    parser.payloads = NO_PAYLOADS;
  }
}

const NO_PAYLOADS: readonly unknown[] = [];

class TokenParser {
  static readonly shared = new TokenParser();
  types: ArrayLike<number> = NO_PAYLOADS as ArrayLike<number>;
  payloads: readonly unknown[] = NO_PAYLOADS;
  count = 0;
  nonFinite = false;
  pos = 0;
  /** The next value token's payload: the parser meets value tokens in input order. */
  payload = 0;

  fail(desc: string): never {
    throw new ParseFailure(desc);
  }

  parseValue(): QemuJsonValue {
    if (this.pos >= this.count) this.fail('premature EOI');
    switch (this.types[this.pos]) {
      case TOKEN_LCURLY:
        return this.parseObject();
      case TOKEN_LSQUARE:
        return this.parseArray();
      case TOKEN_NUMBER:
        this.pos++;
        return this.payloads[this.payload++] as number | bigint | JsonFloat;
      case TOKEN_STRING: {
        this.pos++;
        const s = this.payloads[this.payload++] as string | BadString;
        if (s instanceof BadString) this.fail(s.desc);
        return s as string;
      }
      case TOKEN_KEYWORD: {
        this.pos++;
        const word = this.payloads[this.payload++] as string;
        if (word === 'true') return true;
        if (word === 'false') return false;
        if (word === 'null') return null;
        if (this.nonFinite && word in NON_FINITE) return NON_FINITE[word]!;
        return this.fail(`invalid keyword '${word}'`);
      }
      default:
        return this.fail('expecting value');
    }
  }

  parseObject(): JsonObject {
    const types = this.types;
    this.pos++; // '{'
    const object: Record<string, QemuJsonValue> = {};
    if (this.pos >= this.count) this.fail('premature EOI');
    if (types[this.pos] === TOKEN_RCURLY) {
      this.pos++;
      return object as JsonObject;
    }
    for (;;) {
      // a pair: key, colon, value
      if (this.pos >= this.count) this.fail('premature EOI');
      const key = this.parseValue();
      if (typeof key !== 'string') this.fail('key is not a string in object');
      if (this.pos >= this.count) this.fail('premature EOI');
      if (types[this.pos++] !== TOKEN_COLON) this.fail('missing : in object pair');
      const value = this.parseValue();
      if (Object.hasOwn(object, key as string)) this.fail('duplicate key');
      if (key === '__proto__') {
        // An ordinary own property, never the prototype setter.
        Object.defineProperty(object, key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else {
        object[key as string] = value;
      }
      if (this.pos >= this.count) this.fail('premature EOI');
      const separator = types[this.pos++];
      if (separator === TOKEN_RCURLY) return object as JsonObject;
      if (separator !== TOKEN_COMMA) this.fail('expected separator in dict');
    }
  }

  parseArray(): JsonValue[] {
    const types = this.types;
    this.pos++; // '['
    const array: QemuJsonValue[] = [];
    if (this.pos >= this.count) this.fail('premature EOI');
    if (types[this.pos] === TOKEN_RSQUARE) {
      this.pos++;
      return array as JsonValue[];
    }
    for (;;) {
      array.push(this.parseValue());
      if (this.pos >= this.count) this.fail('premature EOI');
      const separator = types[this.pos++];
      if (separator === TOKEN_RSQUARE) return array as JsonValue[];
      if (separator !== TOKEN_COMMA) this.fail('expected separator in list');
    }
  }
}

export { JsonFloat };
