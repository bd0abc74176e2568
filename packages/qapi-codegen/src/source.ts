// What the schema-file parser, the doc comment parsers and the checkers share: parsed values,
// source positions (with their include chain) and the errors raised at them, the token kinds,
// and the pragma settings.

import { QapiSchemaError } from './errors.js';
import type { SourceInfo } from './model.js';

/** A parsed QAPI value. Objects are Maps: key order is kept and no key is special. */
export type QValue = string | boolean | QValue[] | QObject;
export type QObject = Map<string, QValue>;

/**
 * `key` of a member, branch, enum value or feature written either way: in the long form (an
 * object) its value, in the short form (anything else) the value itself when `key` is the one
 * the short form stands for (`shortKey`: `'type'` of a member or branch, `'name'` of an enum
 * value or feature), else nothing. The checks and the builder read the short form as written
 * instead of first rewriting it into an object of its own.
 */
export function longFormGet(value: QValue, key: string, shortKey: string): QValue | undefined {
  if (value instanceof Map) return value.get(key);
  return key === shortKey ? value : undefined;
}

/** A source position, with the chain of include directives that led to its file. */
export class Pos {
  /** Set by the expression checker: the definition this position belongs to. */
  defnMeta: string | undefined;
  defnName: string | undefined;

  constructor(
    readonly file: string,
    readonly line: number,
    readonly col: number,
    readonly parent: Pos | undefined,
  ) {}

  toInfo(): SourceInfo {
    return { file: this.file, line: this.line, col: this.col };
  }

  includedFrom(): SourceInfo[] {
    const chain: SourceInfo[] = [];
    for (let p = this.parent; p; p = p.parent) chain.unshift(p.toInfo());
    return chain;
  }
}

export function schemaError(pos: Pos | undefined, rule: string, reason: string): QapiSchemaError {
  return pos
    ? new QapiSchemaError(pos.toInfo(), rule, reason, { includedFrom: pos.includedFrom() })
    : new QapiSchemaError(undefined, rule, reason);
}

/** The pragma settings; shared by every file of one schema, like QEMU's. */
export interface PragmaState {
  docRequired: boolean;
  commandNameExceptions: string[];
  commandReturnsExceptions: string[];
  memberNameExceptions: string[];
  /** QEMU 10.0: definitions whose members may lack documentation. */
  documentationExceptions: string[];
}

/** Token kinds: a structural character, `'` (string), `t`/`f` (booleans), `#` (doc comment). */
export type Tok = '{' | '}' | ':' | ',' | '[' | ']' | "'" | 't' | 'f' | '#' | null;
