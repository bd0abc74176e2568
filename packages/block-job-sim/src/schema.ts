// The parts of QEMU's QMP schema the block layer walks: BlockdevOptions (blockdev-add and
// `--blockdev`) and BlockdevCreateOptions, read from the runtime schema (what query-qmp-schema
// returns) so that every driver's members, their order and their types are QEMU's own.
//
// The schema is handed in by whoever builds the simulator (qmpkit-server passes QEMU 7.2's from
// @qmpkit/qapi-types): it is generated from QEMU's schema and so GPL-2.0-or-later, and this MIT
// package only takes its types, never loads it.

import type {
  IntrospectionEntry,
  IntrospectionEnum,
  IntrospectionObject,
  QapiIntKind,
  QmpSchemaExtras,
} from '@qmpkit/qapi-types/7.2';

/** A runtime schema as `@qmpkit/server` takes it: the entries and what validation needs beyond. */
export interface RuntimeSchema {
  readonly schema: readonly IntrospectionEntry[];
  readonly schemaExtras: QmpSchemaExtras;
}

/** A member of an object type, with the type that declares it. */
export interface SchemaMember {
  readonly name: string;
  readonly type: string;
  readonly optional: boolean;
  readonly owner: string;
}

/** The lookups the block layer makes in a runtime schema. */
export class BlockSchema {
  readonly #entries: ReadonlyMap<string, IntrospectionEntry>;
  readonly #extras: QmpSchemaExtras;
  /** The masked name of BlockdevOptions (blockdev-add's argument type). */
  readonly blockdevOptionsType: string;
  /** The masked name of BlockdevCreateOptions (blockdev-create's `options`). */
  readonly blockdevCreateOptionsType: string;
  readonly #drivers: ReadonlySet<string>;

  constructor(runtime: RuntimeSchema) {
    this.#entries = new Map(runtime.schema.map((entry) => [entry.name, entry]));
    this.#extras = runtime.schemaExtras;
    this.blockdevOptionsType = this.#commandArgType('blockdev-add');
    const createArgs = this.entry(this.#commandArgType('blockdev-create')) as IntrospectionObject;
    const options = createArgs.members.find((m) => m.name === 'options');
    if (!options) throw new Error('blockdev-create has no options member');
    this.blockdevCreateOptionsType = options.type;
    // BlockdevDriver: the enum blockdev-add's `driver` member takes.
    const blockdevOptions = this.entry(this.blockdevOptionsType) as IntrospectionObject;
    const driver = blockdevOptions.members.find((m) => m.name === 'driver');
    if (!driver) throw new Error('blockdev-add has no driver member');
    this.#drivers = new Set((this.entry(driver.type) as IntrospectionEnum).values);
  }

  /** The schema entry called `name` (a masked number, a builtin, or `[N]` for arrays). */
  entry(name: string): IntrospectionEntry {
    const entry = this.#entries.get(name);
    if (!entry) throw new Error(`schema type '${name}' is not in the runtime schema`);
    return entry;
  }

  /** The schema's own name of a masked type (`"219"` → `BlockdevRef`). */
  typeName(name: string): string {
    return this.#extras.typeNames[name] ?? name;
  }

  /** The integer kind of `member` of object type `objectType` (introspection only says `int`). */
  memberIntKind(objectType: string, member: string): QapiIntKind {
    return this.#extras.memberIntKinds[objectType]?.[member] ?? 'int';
  }

  /** Whether `name` is a value of QAPI's BlockdevDriver enum. */
  isBlockdevDriver(name: string): boolean {
    return this.#drivers.has(name);
  }

  #commandArgType(command: string): string {
    const entry = this.entry(command);
    if (entry['meta-type'] !== 'command') throw new Error(`${command} is not a command`);
    return entry['arg-type'];
  }

  /**
   * The members of an object type in the order QEMU visits them: the object's own (base)
   * members, then those of the variant its tag selects. `value` supplies the tag.
   */
  objectMembers(type: string, value: Readonly<Record<string, unknown>>): SchemaMember[] {
    const entry = this.entry(type) as IntrospectionObject;
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
        const variantEntry = this.entry(variant.type) as IntrospectionObject;
        for (const m of variantEntry.members) {
          out.push({ name: m.name, type: m.type, optional: 'default' in m, owner: variant.type });
        }
      }
    }
    return out;
  }
}
