// TypeScript identifiers for QAPI types (reference §17.2).
//
// - Real type names stay as they are; characters a TS identifier cannot hold become `_`.
// - Names that would shadow a TS global type or one of the generator's own identifiers get a
//   `Qapi` prefix (QEMU 7.2 defines a struct `String`).
// - Implicit types get readable names: `q_obj_job-pause-arg` → `JobPauseArgs`,
//   `q_obj_JOB_STATUS_CHANGE-arg` → `JobStatusChangeEventData`, `q_obj_U-base` → `UBase`,
//   `q_empty` → `QmpEmpty`.
// - Introspection input has only masked numbers; its types are named from their first use:
//   `<Command>Args`, `<Command>Result`, `<Event>EventData`, then `<Referrer><Member>` and
//   `<Union><Case>`, `<Alternate>Branch<i>`; an unreachable type becomes `Type<number>`.
// A final check refuses two types that end up with one identifier.

import type { ObjectType, Schema, TypeDef } from '../model.js';
import { isIntrospectionSchema } from './schema-info.js';

/** Identifiers the generated module defines itself or that would shadow a global type. */
export const RESERVED_IDENTIFIERS: ReadonlySet<string> = new Set([
  // the generator's own
  'CommandMap',
  'EventMap',
  'CommandName',
  'EventName',
  'QmpEmpty',
  // TS / ES globals and utility types a module-level declaration would shadow
  'Array',
  'ArrayBuffer',
  'ArrayLike',
  'Awaited',
  'BigInt',
  'Boolean',
  'Capitalize',
  'DataView',
  'Date',
  'Error',
  'EvalError',
  'Exclude',
  'Extract',
  'Function',
  'InstanceType',
  'Intl',
  'Iterable',
  'Iterator',
  'JSON',
  'Lowercase',
  'Map',
  'Math',
  'NonNullable',
  'Number',
  'Object',
  'Omit',
  'Parameters',
  'Partial',
  'Pick',
  'Promise',
  'PromiseLike',
  'PropertyKey',
  'Proxy',
  'RangeError',
  'Readonly',
  'Record',
  'ReferenceError',
  'Reflect',
  'RegExp',
  'Required',
  'ReturnType',
  'Set',
  'String',
  'Symbol',
  'SyntaxError',
  'TypeError',
  'Uncapitalize',
  'Uppercase',
  'URIError',
  'WeakMap',
  'WeakRef',
  'WeakSet',
]);

/** `job-pause` → `JobPause`, `JOB_STATUS_CHANGE` → `JobStatusChange`, `x-exit-preconfig` → `XExitPreconfig`. */
export function pascalCase(name: string): string {
  const words = name.split(/[^A-Za-z0-9]+/).filter((w) => w !== '');
  const out = words
    .map((w) => {
      const word = w === w.toUpperCase() ? w.toLowerCase() : w;
      return word.charAt(0).toUpperCase() + word.slice(1);
    })
    .join('');
  return /^[0-9]/.test(out) ? `_${out}` : out;
}

export function sanitizeIdentifier(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_$]/g, '_');
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

function protect(name: string): string {
  return RESERVED_IDENTIFIERS.has(name) && name !== 'QmpEmpty' ? `Qapi${name}` : name;
}

/** Maps every non-builtin type of the schema to its TypeScript identifier. */
export function typeIdentifiers(
  schema: Schema,
  realNames?: ReadonlyMap<string, string>,
): Map<string, string> {
  const ids = isIntrospectionSchema(schema) ? usageNames(schema, realNames) : schemaNames(schema);
  const owners = new Map<string, string>();
  const clashes: string[] = [];
  for (const [type, id] of ids) {
    const other = owners.get(id);
    if (other !== undefined) clashes.push(`'${type}' and '${other}' both become '${id}'`);
    owners.set(id, type);
  }
  if (clashes.length > 0) throw new Error(`type identifiers clash: ${clashes.join('; ')}`);
  return ids;
}

function schemaNames(schema: Schema): Map<string, string> {
  const ids = new Map<string, string>();
  for (const def of schema.types.values()) {
    if (def.kind === 'builtin') continue;
    ids.set(def.name, schemaName(def.name, schema));
  }
  return ids;
}

function schemaName(name: string, schema: Schema): string {
  if (name === 'q_empty') return 'QmpEmpty';
  const arg = /^q_obj_(.+)-arg$/.exec(name);
  if (arg !== null) {
    const owner = arg[1]!;
    if (schema.events.has(owner)) return `${pascalCase(owner)}EventData`;
    return `${pascalCase(owner)}Args`;
  }
  const base = /^q_obj_(.+)-base$/.exec(name);
  if (base !== null) return `${sanitizeIdentifier(base[1]!)}Base`;
  if (name.startsWith('q_obj_')) return pascalCase(name.slice('q_obj_'.length));
  if (name === 'QmpEmpty') return 'QapiQmpEmpty';
  return protect(sanitizeIdentifier(name));
}

function isEmptyObject(def: TypeDef | undefined): boolean {
  return (
    def?.kind === 'object' &&
    def.members.length === 0 &&
    def.variants === undefined &&
    def.base === undefined
  );
}

function usageNames(schema: Schema, realNames?: ReadonlyMap<string, string>): Map<string, string> {
  const ids = new Map<string, string>();
  const taken = new Set<string>();
  const queue: string[] = [];
  // Types whose schema name is known (the parallel walk of §13.3) are named like schema input.
  for (const [masked, real] of realNames ?? []) {
    if (!schema.types.has(masked)) continue;
    const id = schemaName(real, schema);
    ids.set(masked, id);
    taken.add(id);
  }
  for (const masked of ids.keys()) queue.push(masked);
  const give = (ref: string, wanted: string): void => {
    const name = ref.startsWith('[') ? ref.slice(1, -1) : ref;
    const def = schema.types.get(name);
    if (def === undefined || def.kind === 'builtin' || ids.has(name)) return;
    let id = protect(wanted);
    for (let n = 2; taken.has(id); n++) id = `${protect(wanted)}${n}`;
    ids.set(name, id);
    taken.add(id);
    queue.push(name);
  };
  // The member-less object commands use for "no arguments" is QEMU's q_empty.
  for (const cmd of taken.has('QmpEmpty') ? [] : schema.commands.values()) {
    if (cmd.argType !== undefined && isEmptyObject(schema.types.get(cmd.argType))) {
      give(cmd.argType, 'QmpEmpty');
      break;
    }
  }
  for (const mod of schema.modules) {
    for (const e of mod.entities) {
      if (e.kind === 'command') {
        if (e.argType !== undefined) give(e.argType, `${pascalCase(e.name)}Args`);
        if (e.retType !== undefined) give(e.retType, `${pascalCase(e.name)}Result`);
      } else if (e.kind === 'event' && e.argType !== undefined) {
        give(e.argType, `${pascalCase(e.name)}EventData`);
      }
    }
  }
  for (let i = 0; i < queue.length; i++) {
    const def = schema.types.get(queue[i]!)!;
    const owner = ids.get(def.name)!;
    if (def.kind === 'object') {
      const obj: ObjectType = def;
      for (const m of obj.members) give(m.type, `${owner}${pascalCase(m.name)}`);
      for (const v of obj.variants?.cases ?? []) give(v.type, `${owner}${pascalCase(v.case)}`);
    } else if (def.kind === 'alternate') {
      def.branches.forEach((b, n) => {
        give(b.type, `${owner}Branch${n}`);
      });
    }
  }
  for (const def of schema.types.values()) give(def.name, `Type${sanitizeIdentifier(def.name)}`);
  return ids;
}
