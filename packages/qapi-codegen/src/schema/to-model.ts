// Converts the checked entities into the shared, immutable model (model.ts) that the emitters
// and the introspection read.

import type {
  AlternateBranch,
  AlternateType,
  BuiltinType,
  Command,
  Doc,
  DocBlock,
  Entity,
  EnumType,
  EnumValue,
  Event,
  Feature,
  IfCond,
  IntKind,
  Member,
  Module,
  ModuleItem,
  ObjectType,
  Schema,
  TypeDef,
  Variant,
} from '../model.js';
import type { DocSection, QapiDoc } from '../qapi-doc.js';
import type { Pos, QValue } from '../source.js';
import { BUILTIN_MODULE, type SchemaBuilder } from './builder.js';
import {
  AlternateE,
  ArrayE,
  BuiltinE,
  CommandE,
  type EntityE,
  EnumE,
  EventE,
  type FeatureM,
  IncludeE,
  ObjectE,
  type TypeE,
} from './entities.js';

// --- conversion to the shared model -------------------------------------------------------------

function toIf(cond: QValue | undefined): IfCond | undefined {
  if (cond === undefined) return undefined;
  if (typeof cond === 'string') return cond;
  if (cond instanceof Map) {
    const [key, value] = [...cond][0] as [string, QValue];
    if (key === 'not') return { not: toIf(value) as IfCond };
    const operands = (value as QValue[]).map((c) => toIf(c) as IfCond);
    return key === 'all' ? { all: operands } : { any: operands };
  }
  throw new Error('unchecked condition');
}

function withIf<T extends object>(value: T, cond: QValue | undefined): T & { if?: IfCond } {
  const c = toIf(cond);
  return c === undefined ? value : { ...value, if: c };
}

function toFeatures(features: readonly FeatureM[]): Feature[] {
  return features.map((f) => withIf({ name: f.name }, f.ifcond));
}

function typeRef(t: TypeE | undefined): string {
  if (t instanceof ArrayE) return `[${t.elementTypeName}]`;
  return t?.name ?? '';
}

function toDoc(doc: QapiDoc): Doc {
  const record = (m: Map<string, DocSection>): Record<string, string> => {
    const out: Record<string, string> = Object.create(null);
    m.forEach((s, k) => {
      out[k] = s.text;
    });
    return out;
  };
  return {
    body: doc.body.text,
    members: record(doc.args),
    features: record(doc.features),
    sections: doc.sections.map((s) => ({ name: s.name ?? '', text: s.text })),
  };
}

const INT_KINDS = new Set<string>([
  'int',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'size',
]);

function definitionBase(
  ent: EntityE,
  docs: Map<QapiDoc, Doc>,
): { name: string; features: Feature[]; if?: IfCond; doc?: Doc; info?: ReturnType<Pos['toInfo']> } {
  const base: {
    name: string;
    features: Feature[];
    if?: IfCond;
    doc?: Doc;
    info?: ReturnType<Pos['toInfo']>;
  } = withIf({ name: ent.name, features: toFeatures(ent.features) }, ent.ifcond);
  if (ent.doc) {
    const d = docs.get(ent.doc);
    if (d) base.doc = d;
  }
  if (ent.info && !ent.isImplicit()) base.info = ent.info.toInfo();
  return base;
}

function toEntity(ent: EntityE, docs: Map<QapiDoc, Doc>): Entity | undefined {
  if (ent instanceof BuiltinE) {
    const b: BuiltinType = {
      ...definitionBase(ent, docs),
      kind: 'builtin',
      jsonType: ent.json,
      ...(INT_KINDS.has(ent.name) ? { intKind: ent.name as IntKind } : {}),
    };
    return b;
  }
  if (ent instanceof EnumE) {
    const values: EnumValue[] = ent.members.map((m) =>
      withIf({ name: m.name, features: toFeatures(m.features) }, m.ifcond),
    );
    const e: EnumType = {
      ...definitionBase(ent, docs),
      kind: 'enum',
      values,
      ...(ent.prefix !== undefined ? { prefix: ent.prefix } : {}),
      ...(ent.isImplicit() ? { implicit: true } : {}),
    };
    return e;
  }
  if (ent instanceof ObjectE) {
    const members: Member[] = ent.localMembers.map((m) =>
      withIf(
        {
          name: m.name,
          type: typeRef(m.type),
          optional: m.optional,
          features: toFeatures(m.features),
        },
        m.ifcond,
      ),
    );
    const o: ObjectType = {
      ...definitionBase(ent, docs),
      kind: 'object',
      ...(ent.base ? { base: ent.base.name } : {}),
      members,
      ...(ent.variants
        ? {
            variants: {
              tag: ent.variants.tagMember?.name ?? '',
              cases: ent.variants.variants.map(
                (v): Variant => withIf({ case: v.name, type: v.type?.name ?? '' }, v.ifcond),
              ),
            },
          }
        : {}),
      origin: ent.isImplicit() ? 'implicit' : ent.variants ? 'union' : 'struct',
    };
    return o;
  }
  if (ent instanceof AlternateE) {
    const branches: AlternateBranch[] = ent.variants.variants.map((v) =>
      withIf({ name: v.name, type: typeRef(v.type) }, v.ifcond),
    );
    const a: AlternateType = { ...definitionBase(ent, docs), kind: 'alternate', branches };
    return a;
  }
  if (ent instanceof CommandE) {
    const c: Command = {
      ...definitionBase(ent, docs),
      kind: 'command',
      ...(ent.argType ? { argType: ent.argType.name } : {}),
      ...(ent.retType ? { retType: typeRef(ent.retType) } : {}),
      ...ent.flags,
    };
    return c;
  }
  if (ent instanceof EventE) {
    const e: Event = {
      ...definitionBase(ent, docs),
      kind: 'event',
      ...(ent.argType ? { argType: ent.argType.name } : {}),
      boxed: ent.boxed,
    };
    return e;
  }
  return undefined;
}

export function toSchema(b: SchemaBuilder, allDocs: readonly QapiDoc[]): Schema {
  const docs = new Map<QapiDoc, Doc>();
  const docBlocks: DocBlock[] = [];
  const freeDocs: { info: ReturnType<Pos['toInfo']>; text: string }[] = [];
  for (const d of allDocs) {
    const doc = toDoc(d);
    docs.set(d, doc);
    const info = d.info.toInfo();
    if (d.symbol === undefined) {
      docBlocks.push({ info, doc });
      freeDocs.push({ info, text: doc.body });
    } else {
      docBlocks.push({ info, symbol: d.symbol, doc });
    }
  }
  const modules = new Map<string, { entities: Entity[]; items: ModuleItem[] }>();
  for (const name of b.moduleNames) modules.set(name, { entities: [], items: [] });
  const types = new Map<string, TypeDef>();
  const commands = new Map<string, Command>();
  const events = new Map<string, Event>();
  for (const ent of b.entities) {
    const mod = modules.get(ent.module ?? BUILTIN_MODULE);
    if (!mod) throw new Error(`no module for ${ent.name}`);
    if (ent instanceof IncludeE) {
      mod.items.push({ kind: 'include', module: ent.subModule, info: (ent.info as Pos).toInfo() });
      continue;
    }
    if (ent instanceof ArrayE) {
      mod.items.push({
        kind: 'array',
        name: ent.name,
        elementType: ent.elementTypeName,
        ...(ent.info ? { info: ent.info.toInfo() } : {}),
      });
      continue;
    }
    const model = toEntity(ent, docs);
    if (!model) continue;
    mod.entities.push(model);
    mod.items.push({ kind: 'entity', name: model.name });
    if (model.kind === 'command') commands.set(model.name, model);
    else if (model.kind === 'event') events.set(model.name, model);
    else types.set(model.name, model);
  }
  const moduleList: Module[] = [...modules].map(([name, m]) => ({
    name,
    entities: m.entities,
    items: m.items,
  }));
  return {
    modules: moduleList,
    types,
    commands,
    events,
    pragma: {
      docRequired: b.pragma.docRequired,
      commandNameExceptions: [...b.pragma.commandNameExceptions],
      commandReturnsExceptions: [...b.pragma.commandReturnsExceptions],
      memberNameExceptions: [...b.pragma.memberNameExceptions],
    },
    freeDocs,
    docs: docBlocks,
  };
}
