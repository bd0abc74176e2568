// The parts of QEMU 7.2's QMP schema the block layer walks: BlockdevOptions (blockdev-add and
// `--blockdev`) and BlockdevCreateOptions, taken from @qmpkit/qapi-types' runtime schema (what
// query-qmp-schema returns) so that every driver's members, their order and their types are
// QEMU's own.

import {
  type IntrospectionEntry,
  type IntrospectionObject,
  type QapiIntKind,
  qmpSchema,
  qmpSchemaExtras,
} from '@qmpkit/qapi-types';

const entries = new Map<string, IntrospectionEntry>(qmpSchema.map((entry) => [entry.name, entry]));

/** The schema entry called `name` (a masked number, a builtin, or `[N]` for arrays). */
export function schemaEntry(name: string): IntrospectionEntry {
  const entry = entries.get(name);
  if (!entry) throw new Error(`schema type '${name}' is not in the runtime schema`);
  return entry;
}

/** The schema's own name of a masked type (`"219"` → `BlockdevRef`). */
export function typeName(name: string): string {
  return qmpSchemaExtras.typeNames[name] ?? name;
}

/** The integer kind of `member` of object type `objectType` (introspection only says `int`). */
export function memberIntKind(objectType: string, member: string): QapiIntKind {
  return qmpSchemaExtras.memberIntKinds[objectType]?.[member] ?? 'int';
}

function commandArgType(command: string): string {
  const entry = schemaEntry(command);
  if (entry['meta-type'] !== 'command') throw new Error(`${command} is not a command`);
  return entry['arg-type'];
}

/** The masked name of BlockdevOptions (blockdev-add's argument type). */
export const BLOCKDEV_OPTIONS_TYPE = commandArgType('blockdev-add');

/** The masked name of BlockdevCreateOptions (blockdev-create's `options`). */
export const BLOCKDEV_CREATE_OPTIONS_TYPE = (() => {
  const args = schemaEntry(commandArgType('blockdev-create')) as IntrospectionObject;
  const options = args.members.find((m) => m.name === 'options');
  if (!options) throw new Error('blockdev-create has no options member');
  return options.type;
})();

/**
 * The members of an object type in the order QEMU visits them: the object's own (base)
 * members, then those of the variant its tag selects. `value` supplies the tag.
 */
export function objectMembers(
  type: string,
  value: Readonly<Record<string, unknown>>,
): ReadonlyArray<{
  readonly name: string;
  readonly type: string;
  readonly optional: boolean;
  readonly owner: string;
}> {
  const entry = schemaEntry(type) as IntrospectionObject;
  const out = entry.members.map((m) => ({
    name: m.name,
    type: m.type,
    optional: 'default' in m,
    owner: type,
  }));
  if (entry.tag !== undefined && entry.variants) {
    const tag = value[entry.tag];
    const variant = entry.variants.find((v) => v.case === tag);
    if (variant) {
      const variantEntry = schemaEntry(variant.type) as IntrospectionObject;
      for (const m of variantEntry.members) {
        out.push({ name: m.name, type: m.type, optional: 'default' in m, owner: variant.type });
      }
    }
  }
  return out;
}
