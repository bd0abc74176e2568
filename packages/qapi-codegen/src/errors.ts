import type { SourceInfo } from './model.js';

// The `Symbol.for('qmpkit.error.<Name>')` marker of qmpkit's error scheme (@qmpkit/protocol's
// stampErrorMarker; this level-0 package depends on nothing, so it names the key itself).
const MARKER = Symbol.for('qmpkit.error.QapiSchemaError');

/**
 * A schema the front end rejects. Like QEMU's generator, the front end stops at the first error.
 *
 * `message` is `file:line:col: <what is wrong> [<rule>]`. `reason` is the bare description (the
 * text QEMU prints for the same problem), `rule` a short stable id of the rule that was broken,
 * `info` where it happened. `info` is undefined only when the root file itself cannot be read
 * (the message then starts with that file's name). `includedFrom` lists the include directives
 * that led to the file, outermost first.
 */
export class QapiSchemaError extends Error {
  override readonly name = 'QapiSchemaError';
  readonly info: SourceInfo | undefined;
  readonly rule: string;
  readonly reason: string;
  readonly includedFrom: readonly SourceInfo[];

  constructor(
    info: SourceInfo | undefined,
    rule: string,
    reason: string,
    options?: { cause?: unknown; includedFrom?: readonly SourceInfo[]; file?: string },
  ) {
    const where = info ? `${info.file}:${info.line}:${info.col}` : (options?.file ?? '<schema>');
    super(
      `${where}: ${reason} [${rule}]`,
      options?.cause === undefined ? {} : { cause: options.cause },
    );
    this.info = info;
    this.rule = rule;
    this.reason = reason;
    this.includedFrom = options?.includedFrom ?? [];
  }

  /** True for a QapiSchemaError, even one from another copy of this package. */
  static isInstance(value: unknown): value is QapiSchemaError {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as Record<symbol, unknown>)[MARKER] === true
    );
  }

  get [MARKER](): true {
    return true;
  }
}
