// The introspection front end: a `query-qmp-schema` reply (a JSON array of SchemaInfo) → the
// same model the schema-file front end builds.
//
// What introspection cannot say is filled in neutrally: objects are flat (no base, every member
// listed), names are QEMU's masked numbers, there are no conditions, docs or source positions,
// integer widths are all `int`, and the flags introspection does not carry (`boxed`, `gen`,
// `success-response`, `allow-preconfig`, `coroutine`) get their defaults. Alternate branches have
// no names in introspection; they are named by position (`0`, `1`, …).

import { INTROSPECTION_MODULE } from './emit/schema-info.js';
import { QapiSchemaError } from './errors.js';
import type {
  AlternateBranch,
  BuiltinType,
  Command,
  Entity,
  EnumValue,
  Event,
  Feature,
  JsonType,
  Member,
  ObjectType,
  Schema,
  TypeDef,
  Variant,
} from './model.js';

/** Refuse replies larger than this many entries (QEMU 7.2's x86 reply has 1051). */
export const MAX_INTROSPECTION_ENTRIES = 100_000;

const JSON_TYPES: readonly JsonType[] = ['string', 'number', 'int', 'boolean', 'null', 'value'];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** True when a parsed JSON value looks like a `query-qmp-schema` reply (or `{"return": …}`). */
export function looksLikeIntrospection(value: unknown): boolean {
  const list = unwrapReturn(value);
  if (!Array.isArray(list)) return false;
  const first: unknown = list[0];
  return isObject(first) && typeof first['meta-type'] === 'string';
}

function unwrapReturn(value: unknown): unknown {
  if (isObject(value) && Object.hasOwn(value, 'return')) return value.return;
  return value;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Builds the model from a parsed `query-qmp-schema` reply: the array itself, or a whole QMP
 * response `{"return": [...]}`. `source` names the input in error messages.
 */
export function schemaFromIntrospection(value: unknown, source = '<introspection>'): Schema {
  const list = unwrapReturn(value);
  const fail = (where: string, reason: string, rule = 'introspection-shape'): never => {
    throw new QapiSchemaError(undefined, rule, `${where}${reason}`, { file: source });
  };
  if (!Array.isArray(list)) fail('', 'expected a JSON array of SchemaInfo objects');
  const entries = list as unknown[];
  if (entries.length > MAX_INTROSPECTION_ENTRIES) {
    fail('', `more than ${MAX_INTROSPECTION_ENTRIES} entries`, 'introspection-size');
  }

  const types = new Map<string, TypeDef>();
  const commands = new Map<string, Command>();
  const events = new Map<string, Event>();
  const entities: Entity[] = [];
  const arrays = new Map<string, string>();
  const names = new Set<string>();

  entries.forEach((raw, index) => {
    if (!isObject(raw)) {
      fail(`entry ${index}: `, 'not an object');
      return;
    }
    const name = raw.name;
    const where = `entry ${index}${typeof name === 'string' ? ` ('${name}')` : ''}: `;
    const str = (obj: JsonObject, key: string, ctx = where): string => {
      const v = obj[key];
      return typeof v === 'string' ? v : fail(ctx, `'${key}' must be a string`);
    };
    const list = (obj: JsonObject, key: string, ctx = where): JsonObject[] => {
      const v = obj[key];
      if (!Array.isArray(v)) return fail(ctx, `'${key}' must be an array`);
      return v.map((e, i) => (isObject(e) ? e : fail(ctx, `'${key}'[${i}] must be an object`)));
    };
    const features = (obj: JsonObject, ctx = where): Feature[] => {
      const v = obj.features;
      if (v === undefined) return [];
      if (!Array.isArray(v)) return fail(ctx, `'features' must be an array`);
      return v.map((f) =>
        typeof f === 'string' ? { name: f } : fail(ctx, `'features' must hold strings`),
      );
    };
    const metaType = str(raw, 'meta-type');
    const entryName = str(raw, 'name');
    if (metaType !== 'array') {
      if (names.has(entryName))
        fail(where, `duplicate name '${entryName}'`, 'introspection-duplicate');
      names.add(entryName);
    }
    const base = { name: entryName, features: features(raw) };
    switch (metaType) {
      case 'builtin': {
        const jsonType = str(raw, 'json-type') as JsonType;
        if (!JSON_TYPES.includes(jsonType)) fail(where, `unknown json-type '${jsonType}'`);
        const def: BuiltinType = { ...base, kind: 'builtin', jsonType };
        types.set(entryName, def);
        entities.push(def);
        return;
      }
      case 'enum': {
        // 6.2+ lists `members`; older versions only `values`.
        const values: EnumValue[] =
          raw.members !== undefined
            ? list(raw, 'members').map((m) => ({ name: str(m, 'name'), features: features(m) }))
            : stringList(raw.values, () => fail(where, `'values' must be an array of strings`)).map(
                (v) => ({ name: v, features: [] }),
              );
        const def: TypeDef = { ...base, kind: 'enum', values };
        types.set(entryName, def);
        entities.push(def);
        return;
      }
      case 'array': {
        const element = str(raw, 'element-type');
        if (entryName !== `[${element}]`) {
          fail(where, `array name must be '[${element}]'`);
        }
        arrays.set(entryName, element);
        return;
      }
      case 'object': {
        const members: Member[] = list(raw, 'members').map((m) => ({
          name: str(m, 'name'),
          type: str(m, 'type'),
          optional: Object.hasOwn(m, 'default'),
          features: features(m),
        }));
        let variants: ObjectType['variants'];
        if (raw.tag !== undefined || raw.variants !== undefined) {
          const cases: Variant[] = list(raw, 'variants').map((v) => ({
            case: str(v, 'case'),
            type: str(v, 'type'),
          }));
          variants = { tag: str(raw, 'tag'), cases };
        }
        const def: ObjectType = {
          ...base,
          kind: 'object',
          members,
          origin: 'introspection',
          ...(variants === undefined ? {} : { variants }),
        };
        types.set(entryName, def);
        entities.push(def);
        return;
      }
      case 'alternate': {
        const branches: AlternateBranch[] = list(raw, 'members').map((m, i) => ({
          name: String(i),
          type: str(m, 'type'),
        }));
        const def: TypeDef = { ...base, kind: 'alternate', branches };
        types.set(entryName, def);
        entities.push(def);
        return;
      }
      case 'command': {
        const allowOob = raw['allow-oob'];
        if (allowOob !== undefined && typeof allowOob !== 'boolean') {
          fail(where, `'allow-oob' must be a boolean`);
        }
        const def: Command = {
          ...base,
          kind: 'command',
          argType: str(raw, 'arg-type'),
          retType: str(raw, 'ret-type'),
          boxed: false,
          gen: true,
          successResponse: true,
          allowOob: allowOob === true,
          allowPreconfig: false,
          coroutine: false,
        };
        commands.set(entryName, def);
        entities.push(def);
        return;
      }
      case 'event': {
        const def: Event = { ...base, kind: 'event', argType: str(raw, 'arg-type'), boxed: false };
        events.set(entryName, def);
        entities.push(def);
        return;
      }
      default:
        fail(where, `unknown meta-type '${metaType}'`);
    }
  });

  // Every reference must resolve; arrays must name an existing element type.
  const resolve = (ref: string, where: string): void => {
    const element = ref.startsWith('[') ? arrays.get(ref) : undefined;
    if (ref.startsWith('[') && element === undefined) {
      fail(where, `array type '${ref}' is not listed`, 'introspection-reference');
    }
    if (!types.has(element ?? ref)) {
      fail(where, `type '${element ?? ref}' is not listed`, 'introspection-reference');
    }
  };
  for (const e of entities) {
    const where = `${e.kind} '${e.name}': `;
    if (e.kind === 'command') {
      resolve(e.argType!, where);
      resolve(e.retType!, where);
      if (types.get(e.argType!)?.kind !== 'object')
        fail(where, `'arg-type' must be an object type`);
    } else if (e.kind === 'event') {
      resolve(e.argType!, where);
      if (types.get(e.argType!)?.kind !== 'object')
        fail(where, `'arg-type' must be an object type`);
    } else if (e.kind === 'object') {
      for (const m of e.members) resolve(m.type, where);
      for (const v of e.variants?.cases ?? []) resolve(v.type, where);
      const tag = e.variants?.tag;
      if (tag !== undefined && !e.members.some((m) => m.name === tag)) {
        fail(where, `tag '${tag}' is not a member`);
      }
    } else if (e.kind === 'alternate') {
      for (const b of e.branches) resolve(b.type, where);
    }
  }
  for (const [name, element] of arrays) resolve(element, `array '${name}': `);

  return {
    modules: [{ name: INTROSPECTION_MODULE, entities }],
    types,
    commands,
    events,
    pragma: {
      docRequired: false,
      commandNameExceptions: [],
      commandReturnsExceptions: [],
      memberNameExceptions: [],
    },
    freeDocs: [],
  };
}

function stringList(value: unknown, bad: () => never): string[] {
  if (!Array.isArray(value)) return bad();
  return value.map((v) => (typeof v === 'string' ? v : bad()));
}

/** Parses the text of a `query-qmp-schema` reply and builds the model. */
export function schemaFromIntrospectionText(text: string, source = '<introspection>'): Schema {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new QapiSchemaError(
      undefined,
      'introspection-json',
      `not JSON: ${(err as Error).message}`,
      {
        file: source,
        cause: err,
      },
    );
  }
  return schemaFromIntrospection(value, source);
}
