// parseSchema: QEMU's QAPI front end (scripts/qapi/parser.py, expr.py, schema.py) of 7.2 or 10.0.
// The steps, each in its own module: parse the files (parser.ts, with the doc comments of
// doc-comment-10.ts for 10.0), check the expressions (expr.ts), build and check the entities
// (schema/builder.ts, schema/entities.ts), convert them into the shared model (schema/to-model.ts).

import { checkExprs } from './expr.js';
import type { QapiFrontEnd } from './front-end.js';
import type { Schema } from './model.js';
import { parseSchemaFiles } from './parser.js';
import { SchemaBuilder } from './schema/builder.js';
import { toSchema } from './schema/to-model.js';

export interface ParseSchemaOptions {
  /**
   * Whose front-end rules apply: QEMU 7.2's scripts/qapi (the default) or 10.0's. A schema of
   * one release is generally invalid for the other's rules (e.g. 10.0's doc comments).
   */
  readonly qemu?: QapiFrontEnd;
}

/**
 * Parses and checks a QAPI schema: `rootFile` and every file it includes (include paths are
 * relative to the including file; each file is read once). `readFile` supplies a file's text and
 * throws when it cannot. Throws `QapiSchemaError` at the first problem, like QEMU's generator.
 */
export function parseSchema(
  rootFile: string,
  readFile: (path: string) => string,
  options: ParseSchemaOptions = {},
): Schema {
  const qemu = options.qemu ?? '7.2';
  const parsed = parseSchemaFiles(rootFile, readFile, qemu);
  checkExprs(parsed.exprs, parsed.pragma, qemu);
  const builder = new SchemaBuilder(rootFile, parsed.pragma, qemu);
  for (const e of parsed.exprs) builder.defExpr(e);
  builder.check(parsed.docs);
  return toSchema(builder, parsed.docs);
}
