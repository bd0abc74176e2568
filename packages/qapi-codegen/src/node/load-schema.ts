import { readFileSync } from 'node:fs';
import type { Schema } from '../model.js';
import { type ParseSchemaOptions, parseSchema } from '../schema.js';

/** Reads a schema file (and its includes) from the file system, parses and checks it. */
export function loadSchemaFile(rootFile: string, options: ParseSchemaOptions = {}): Schema {
  return parseSchema(rootFile, (path) => readFileSync(path, 'utf8'), options);
}
