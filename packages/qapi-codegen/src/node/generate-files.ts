// File-system side of the CLI: read the input (detecting its kind), write the output.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import { parseDefines } from '../emit/conditions.js';
import { QapiSchemaError } from '../errors.js';
import type { QapiFrontEnd } from '../front-end.js';
import { generateModules, RUNTIME_FILE, TYPES_FILE } from '../generate.js';
import { looksLikeIntrospection, schemaFromIntrospection } from '../introspection.js';
import { mapIntrospectionNames } from '../introspection-names.js';
import type { Schema } from '../model.js';
import { type ParseSchemaOptions, parseSchema } from '../schema.js';

/** Refuse inputs larger than this (QEMU 7.2's biggest schema file is ~220 kB). */
export const MAX_INPUT_BYTES = 64 * 1024 * 1024;

export type InputKind = 'schema' | 'introspection';

/**
 * Reads a QAPI schema file (and its includes) or a `query-qmp-schema` reply. A file whose text
 * parses as JSON and holds an array of SchemaInfo objects (or a QMP response wrapping one) is
 * introspection; anything else is read as a schema file.
 */
export function loadInput(
  file: string,
  options: ParseSchemaOptions = {},
): { schema: Schema; kind: InputKind } {
  let text: string;
  try {
    const buf = readFileSync(file);
    if (buf.length > MAX_INPUT_BYTES) {
      throw new QapiSchemaError(undefined, 'input-size', `larger than ${MAX_INPUT_BYTES} bytes`, {
        file,
      });
    }
    text = buf.toString('utf8');
  } catch (err) {
    if (QapiSchemaError.isInstance(err)) throw err;
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(err);
    throw new QapiSchemaError(undefined, 'input-read', `can't read input: ${why}`, {
      file,
      cause: err,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (json !== undefined && looksLikeIntrospection(json)) {
    return { schema: schemaFromIntrospection(json, file), kind: 'introspection' };
  }
  // The root file is already in memory; includes are read as the parser meets them.
  const readFile = (path: string) => (path === file ? text : readFileSync(path, 'utf8'));
  return { schema: parseSchema(file, readFile, options), kind: 'schema' };
}

export interface GenerateFilesOptions {
  input: string;
  /** Whose front-end rules check a schema file (default 7.2). */
  qemu?: QapiFrontEnd;
  outDir: string;
  defines?: readonly string[];
  definesFiles?: readonly string[];
  prefix?: string;
  /** How the headers name the input; default: `input` as given, with `/` separators. */
  sourceName?: string;
  /** For introspection input: a schema file whose type names replace the masked numbers. */
  namesFrom?: string;
}

export interface GenerateFilesResult {
  kind: InputKind;
  written: string[];
}

/** Reads the defined symbols of --define and --defines-file. */
export function collectDefines(defines: readonly string[], files: readonly string[]): Set<string> {
  const out = new Set(defines);
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(err);
      throw new QapiSchemaError(undefined, 'defines-read', `can't read defines file: ${why}`, {
        file: f,
        cause: err,
      });
    }
    for (const s of parseDefines(text, f)) out.add(s);
  }
  return out;
}

/** What `qapi-codegen <input> --out DIR …` does. */
export function generateFiles(options: GenerateFilesOptions): GenerateFilesResult {
  const defined = collectDefines(options.defines ?? [], options.definesFiles ?? []);
  const parseOptions = options.qemu === undefined ? {} : { qemu: options.qemu };
  const { schema, kind } = loadInput(options.input, parseOptions);
  const outDir = resolve(options.outDir);
  // The header names the input as it was given (a relative path when run by a package's
  // codegen script), so the output does not depend on where the checkout lives.
  const source = options.sourceName ?? options.input.split(sep).join('/');
  let realNames: ReadonlyMap<string, string> | undefined;
  if (options.namesFrom !== undefined) {
    const named = loadInput(options.namesFrom, parseOptions);
    if (kind !== 'introspection' || named.kind !== 'schema') {
      throw new QapiSchemaError(
        undefined,
        'names-from',
        '--names-from needs introspection input and a schema file',
        { file: options.namesFrom },
      );
    }
    realNames = mapIntrospectionNames(schema, named.schema).names;
  }
  const modules = generateModules(schema, {
    source,
    defined,
    ...(realNames === undefined ? {} : { realNames }),
  });
  mkdirSync(outDir, { recursive: true });
  const prefix = options.prefix ?? '';
  const written: string[] = [];
  for (const [name, text] of [
    [TYPES_FILE, modules.types],
    [RUNTIME_FILE, modules.runtime],
  ] as const) {
    const path = resolve(outDir, `${prefix}${name}`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    written.push(path);
  }
  return { kind, written };
}
