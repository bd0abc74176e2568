// The whole back end in one call: a checked schema → the two generated modules.

import type { Defines } from './emit/conditions.js';
import { emitRuntimeModule } from './emit/runtime-module.js';
import { emitTypeScript } from './emit/typescript.js';
import type { Schema } from './model.js';

export interface GenerateOptions {
  /** Where the schema came from, written into the headers (keep it free of absolute paths). */
  source: string;
  /** The build's defined condition symbols; every other symbol is false. */
  defined: Defines;
  /** For introspection input: schema names of masked types (mapIntrospectionNames). */
  realNames?: ReadonlyMap<string, string>;
}

export interface GeneratedModules {
  /** The TypeScript types: enums, structs, unions, alternates, CommandMap, EventMap. */
  types: string;
  /** The runtime schema: the query-qmp-schema reply as data, plus validator extras. */
  runtime: string;
}

/** File names the CLI writes, after its --prefix. */
export const TYPES_FILE = 'types.generated.ts';
export const RUNTIME_FILE = 'schema.generated.ts';

export function generateModules(schema: Schema, options: GenerateOptions): GeneratedModules {
  return {
    types: emitTypeScript(schema, options),
    runtime: emitRuntimeModule(schema, options),
  };
}
