// The runtime schema: the `query-qmp-schema` reply QEMU's scripts/qapi/introspect.py would compile
// into a binary built with a given set of defined symbols.
//
// How QEMU 7.2 builds it, and so how we do:
// - Commands and events first, in module order (the order QAPISchema visits its modules), each
//   entry naming its argument and return types.
// - A type is listed only if it is reachable from a command or an event; types are listed in the
//   order they are first referenced (a work queue that grows while it is walked).
// - Names of non-builtin, non-array types are replaced by decimal numbers, counted in the order
//   the names are first referenced. The counting walks the whole schema irrespective of the build
//   conditions; the conditions are applied afterwards (in C, by `#if` around the entries), which
//   leaves gaps in the numbering and can leave types whose only referrer is compiled out.
// - Every integer builtin is reported as `int`, arrays of them as `[int]`.
// - Object members are flattened (base members first); optional members carry `default: null`;
//   `allow-oob` appears only when true; `features` only when the definition has any.

import type {
  AlternateType,
  Command,
  Event,
  Feature,
  IfCond,
  IntKind,
  JsonType,
  Member,
  ObjectType,
  Schema,
  TypeDef,
} from '../model.js';
import { type Defines, evalCond } from './conditions.js';

export interface SchemaInfoFeatures {
  features?: string[];
}
export interface SchemaInfoBuiltin extends SchemaInfoFeatures {
  name: string;
  'meta-type': 'builtin';
  'json-type': JsonType;
}
export interface SchemaInfoEnumMember extends SchemaInfoFeatures {
  name: string;
}
export interface SchemaInfoEnum extends SchemaInfoFeatures {
  name: string;
  'meta-type': 'enum';
  members: SchemaInfoEnumMember[];
  values: string[];
}
export interface SchemaInfoArray extends SchemaInfoFeatures {
  name: string;
  'meta-type': 'array';
  'element-type': string;
}
export interface SchemaInfoObjectMember extends SchemaInfoFeatures {
  name: string;
  type: string;
  default?: null;
}
export interface SchemaInfoObjectVariant {
  case: string;
  type: string;
}
export interface SchemaInfoObject extends SchemaInfoFeatures {
  name: string;
  'meta-type': 'object';
  members: SchemaInfoObjectMember[];
  tag?: string;
  variants?: SchemaInfoObjectVariant[];
}
export interface SchemaInfoAlternate extends SchemaInfoFeatures {
  name: string;
  'meta-type': 'alternate';
  members: { type: string }[];
}
export interface SchemaInfoCommand extends SchemaInfoFeatures {
  name: string;
  'meta-type': 'command';
  'arg-type': string;
  'ret-type': string;
  'allow-oob'?: boolean;
}
export interface SchemaInfoEvent extends SchemaInfoFeatures {
  name: string;
  'meta-type': 'event';
  'arg-type': string;
}
/** One entry of a `query-qmp-schema` reply. */
export type SchemaInfo =
  | SchemaInfoBuiltin
  | SchemaInfoEnum
  | SchemaInfoArray
  | SchemaInfoObject
  | SchemaInfoAlternate
  | SchemaInfoCommand
  | SchemaInfoEvent;

/**
 * What a validator needs beyond the SchemaInfo list (which must stay equal to QEMU's), keyed by
 * the names used in that list.
 */
export interface SchemaInfoExtras {
  /** The real (schema) name of every numbered type, e.g. `{ "0": "q_empty" }`. */
  typeNames: Record<string, string>;
  /**
   * The integer kind of every object member whose type is a narrower or wider integer than
   * plain `int` (or an array of one): type name → member name → kind.
   */
  memberIntKinds: Record<string, Record<string, IntKind>>;
  /** The integer kind of an alternate's integer branch (or array-of-integer branch). */
  alternateIntKinds: Record<string, IntKind>;
  /** The integer kind of each command's integer return type (or array of one), if not `int`. */
  returnIntKinds: Record<string, IntKind>;
  /** Commands declared `gen: false`: QEMU does not check their arguments (e.g. `device_add`). */
  openArgCommands: string[];
}

export interface SchemaInfoOptions {
  /** Symbols that are defined in the build; every other symbol is false. */
  defined: Defines;
  /** For introspection input: known schema names of masked types, reported in the extras. */
  realNames?: ReadonlyMap<string, string>;
}

export interface SchemaInfoResult {
  entries: SchemaInfo[];
  extras: SchemaInfoExtras;
}

/** The name of the module the introspection front end puts everything in. */
export const INTROSPECTION_MODULE = 'query-qmp-schema';

export function isIntrospectionSchema(schema: Schema): boolean {
  return schema.modules.length === 1 && schema.modules[0]?.name === INTROSPECTION_MODULE;
}

/** A guarded entry: dropped from the output when its condition is false. */
interface Guarded<T> {
  value: T;
  if: IfCond | undefined;
}

/**
 * Builds the SchemaInfo list. For a schema read from schema files this follows introspect.py
 * (reachability, numbering, conditions). For a schema read from a `query-qmp-schema` reply the
 * names are already QEMU's and every entry is kept, in order, so the reply is reproduced.
 */
export function generateSchemaInfo(schema: Schema, options: SchemaInfoOptions): SchemaInfoResult {
  const result = new IntrospectWalk(schema, options.defined, isIntrospectionSchema(schema)).run();
  if (isIntrospectionSchema(schema)) {
    for (const [masked, real] of options.realNames ?? []) {
      if (schema.types.has(masked)) result.extras.typeNames[masked] = real;
    }
  }
  return result;
}

function featureList(features: readonly Feature[], defined: Defines): string[] | undefined {
  if (features.length === 0) return undefined;
  return features.filter((f) => evalCond(f.if, defined)).map((f) => f.name);
}

function withFeatures<T extends object>(obj: T, features: string[] | undefined): T {
  if (features !== undefined) (obj as SchemaInfoFeatures).features = features;
  return obj;
}

function emptyExtras(): SchemaInfoExtras {
  return {
    typeNames: Object.create(null) as Record<string, string>,
    memberIntKinds: Object.create(null) as Record<string, Record<string, IntKind>>,
    alternateIntKinds: Object.create(null) as Record<string, IntKind>,
    returnIntKinds: Object.create(null) as Record<string, IntKind>,
    openArgCommands: [],
  };
}

/** The SchemaInfo entry of one type definition (arrays are handled by the caller). */
function typeEntries(
  def: TypeDef,
  name: string,
  use: (ref: string) => string,
  defined: Defines,
): SchemaInfo[] {
  const features = featureList(def.features, defined);
  switch (def.kind) {
    case 'builtin':
      return [withFeatures({ name, 'meta-type': 'builtin', 'json-type': def.jsonType }, features)];
    case 'enum': {
      const values = def.values.filter((v) => evalCond(v.if, defined));
      return [
        withFeatures(
          {
            name,
            'meta-type': 'enum',
            members: values.map((v) =>
              withFeatures({ name: v.name }, featureList(v.features, defined)),
            ),
            values: values.map((v) => v.name),
          },
          features,
        ),
      ];
    }
    case 'object':
      throw new Error('objects are built by the caller');
    case 'alternate':
      return [
        withFeatures(
          {
            name,
            'meta-type': 'alternate',
            members: def.branches
              .map((b): Guarded<{ type: string }> => ({ value: { type: use(b.type) }, if: b.if }))
              .filter((g) => evalCond(g.if, defined))
              .map((g) => g.value),
          },
          features,
        ),
      ];
  }
}

class IntrospectWalk {
  private readonly names = new Map<string, string>();
  /** The work queue of used types, by canonical reference (`[int]` for any integer array). */
  private readonly used: string[] = [];
  private readonly usedSet = new Set<string>();
  private readonly out: Guarded<SchemaInfo>[] = [];
  private readonly extras = emptyExtras();
  /** Types whose extras are recorded under their masked name, with their build condition. */
  private readonly guardedExtras: Guarded<() => void>[] = [];

  /**
   * @param keepNames the schema came from a `query-qmp-schema` reply: its names are already
   *   QEMU's (masked) names, and types no command or event reaches (QEMU's orphans) are kept too,
   *   so that the reply is reproduced.
   */
  constructor(
    private readonly schema: Schema,
    private readonly defined: Defines,
    private readonly keepNames: boolean,
  ) {}

  run(): SchemaInfoResult {
    for (const mod of this.schema.modules) {
      for (const entity of mod.entities) {
        if (entity.kind === 'command') this.command(entity);
        else if (entity.kind === 'event') this.event(entity);
      }
    }
    // The queue grows while it is walked, exactly like introspect.py's visit_end().
    let i = 0;
    for (; i < this.used.length; i++) this.visitType(this.used[i]!);
    if (this.keepNames) {
      for (const mod of this.schema.modules) {
        for (const entity of mod.entities) {
          if (entity.kind === 'command' || entity.kind === 'event') continue;
          this.enqueue(entity.name);
        }
      }
      for (; i < this.used.length; i++) this.visitType(this.used[i]!);
    }
    for (const g of this.guardedExtras) if (evalCond(g.if, this.defined)) g.value();
    return {
      entries: this.out.filter((g) => evalCond(g.if, this.defined)).map((g) => g.value),
      extras: this.extras,
    };
  }

  private lookup(name: string): TypeDef {
    const t = this.schema.types.get(name);
    if (t === undefined) throw new Error(`unknown type '${name}'`);
    return t;
  }

  private mask(name: string): string {
    if (this.keepNames) return name;
    let n = this.names.get(name);
    if (n === undefined) {
      n = String(this.names.size);
      this.names.set(name, n);
    }
    return n;
  }

  /** introspect.py's `_use_type`: queue the type, return the name the output uses for it. */
  private use(ref: string): string {
    const elementName = arrayElement(ref);
    if (elementName !== undefined) {
      const element = this.lookup(elementName);
      const canonical = isIntType(element) ? '[int]' : ref;
      this.enqueue(canonical);
      return `[${this.use(isIntType(element) ? 'int' : elementName)}]`;
    }
    const def = this.lookup(ref);
    const canonical = isIntType(def) ? 'int' : ref;
    this.enqueue(canonical);
    if (def.kind === 'builtin') return canonical;
    return this.mask(canonical);
  }

  private enqueue(canonical: string): void {
    if (!this.usedSet.has(canonical)) {
      this.usedSet.add(canonical);
      this.used.push(canonical);
    }
  }

  private emptyObject(): string {
    return 'q_empty';
  }

  private command(cmd: Command): void {
    const entry: SchemaInfoCommand = {
      name: cmd.name,
      'meta-type': 'command',
      'arg-type': this.use(cmd.argType ?? this.emptyObject()),
      'ret-type': this.use(cmd.retType ?? this.emptyObject()),
    };
    if (cmd.allowOob) entry['allow-oob'] = true;
    this.out.push({
      value: withFeatures(entry, featureList(cmd.features, this.defined)),
      if: cmd.if,
    });
    if (cmd.if === undefined || evalCond(cmd.if, this.defined)) {
      if (!cmd.gen) this.extras.openArgCommands.push(cmd.name);
      const retKind = cmd.retType === undefined ? undefined : this.intKindOf(cmd.retType);
      if (retKind !== undefined) this.extras.returnIntKinds[cmd.name] = retKind;
    }
  }

  private event(ev: Event): void {
    const entry: SchemaInfoEvent = {
      name: ev.name,
      'meta-type': 'event',
      'arg-type': this.use(ev.argType ?? this.emptyObject()),
    };
    this.out.push({
      value: withFeatures(entry, featureList(ev.features, this.defined)),
      if: ev.if,
    });
  }

  /** The integer kind of a reference (or of an array's element) when it is not plain `int`. */
  private intKindOf(ref: string): IntKind | undefined {
    const def = this.lookup(arrayElement(ref) ?? ref);
    if (def.kind !== 'builtin' || def.jsonType !== 'int') return undefined;
    const kind = def.intKind ?? 'int';
    return kind === 'int' ? undefined : kind;
  }

  private visitType(canonical: string): void {
    const elementName = arrayElement(canonical);
    if (elementName !== undefined) {
      const element = this.use(elementName);
      this.out.push({
        value: { name: `[${element}]`, 'meta-type': 'array', 'element-type': element },
        if: this.lookup(elementName).if,
      });
      return;
    }
    const def = this.lookup(canonical);
    const name = def.kind === 'builtin' ? def.name : this.mask(def.name);
    if (def.kind !== 'builtin' && !this.keepNames && evalCond(def.if, this.defined)) {
      this.extras.typeNames[name] = def.name;
    }
    if (def.kind === 'object') {
      this.object(def, name);
      return;
    }
    for (const value of typeEntries(def, name, (r) => this.use(r), this.defined)) {
      this.out.push({ value, if: def.if });
    }
    if (def.kind === 'alternate') this.alternateExtras(def, name);
  }

  private alternateExtras(def: AlternateType, name: string): void {
    for (const b of def.branches) {
      const kind = this.intKindOf(b.type);
      if (kind === undefined) continue;
      this.guardedExtras.push({
        value: () => {
          if (evalCond(b.if, this.defined)) this.extras.alternateIntKinds[name] = kind;
        },
        if: def.if,
      });
    }
  }

  /** Base members first (recursively), then the type's own. */
  private flatMembers(def: ObjectType): Member[] {
    const chain: Member[][] = [];
    let cur: ObjectType | undefined = def;
    const seen = new Set<string>();
    while (cur !== undefined && !seen.has(cur.name)) {
      seen.add(cur.name);
      chain.unshift([...cur.members]);
      const base: TypeDef | undefined = cur.base === undefined ? undefined : this.lookup(cur.base);
      cur = base?.kind === 'object' ? base : undefined;
    }
    return chain.flat();
  }

  private object(def: ObjectType, name: string): void {
    const members: Guarded<SchemaInfoObjectMember>[] = [];
    const intKinds: Guarded<[string, IntKind]>[] = [];
    for (const m of this.flatMembers(def)) {
      const member: SchemaInfoObjectMember = { name: m.name, type: this.use(m.type) };
      if (m.optional) member.default = null;
      members.push({
        value: withFeatures(member, featureList(m.features, this.defined)),
        if: m.if,
      });
      const kind = this.intKindOf(m.type);
      if (kind !== undefined) intKinds.push({ value: [m.name, kind], if: m.if });
    }
    const entry: SchemaInfoObject = {
      name,
      'meta-type': 'object',
      members: members.filter((g) => evalCond(g.if, this.defined)).map((g) => g.value),
    };
    if (def.variants !== undefined) {
      entry.tag = def.variants.tag;
      entry.variants = def.variants.cases
        .map((v) => ({ value: { case: v.case, type: this.use(v.type) }, if: v.if }))
        .filter((g) => evalCond(g.if, this.defined))
        .map((g) => g.value);
    }
    this.out.push({
      value: withFeatures(entry, featureList(def.features, this.defined)),
      if: def.if,
    });
    const kinds = intKinds.filter((g) => evalCond(g.if, this.defined)).map((g) => g.value);
    if (kinds.length > 0) {
      this.guardedExtras.push({
        value: () => {
          const rec = Object.create(null) as Record<string, IntKind>;
          for (const [member, kind] of kinds) rec[member] = kind;
          this.extras.memberIntKinds[name] = rec;
        },
        if: def.if,
      });
    }
  }
}

function arrayElement(ref: string): string | undefined {
  return ref.startsWith('[') && ref.endsWith(']') ? ref.slice(1, -1) : undefined;
}

function isIntType(def: TypeDef): boolean {
  return def.kind === 'builtin' && def.jsonType === 'int';
}
