// Converts the checked entities into the shared, immutable model (model.ts) that the emitters
// and the introspection read.

import type * as M from '../model.js';
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

function toIf(cond: QValue | undefined): M.IfCond | undefined {
  if (cond === undefined) return undefined;
  if (typeof cond === 'string') return cond;
  if (cond instanceof Map) {
    const [key, value] = [...cond][0] as [string, QValue];
    if (key === 'not') return { not: toIf(value) as M.IfCond };
    const operands = (value as QValue[]).map((c) => toIf(c) as M.IfCond);
    return key === 'all' ? { all: operands } : { any: operands };
  }
  throw new Error('unchecked condition');
}

function withIf<T extends object>(value: T, cond: QValue | undefined): T & { if?: M.IfCond } {
  const c = toIf(cond);
  return c === undefined ? value : { ...value, if: c };
}

function toFeatures(features: readonly FeatureM[]): M.Feature[] {
  return features.map((f) => withIf({ name: f.name }, f.ifcond));
}

function typeRef(t: TypeE | undefined): string {
  if (t instanceof ArrayE) return `[${t.elementTypeName}]`;
  return t?.name ?? '';
}

function toDoc(doc: QapiDoc): M.Doc {
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

/** What every definition of the model has (filled in here, so not read-only yet). */
type DefinitionBase = {
  -readonly [K in keyof Pick<
    M.EnumType,
    'name' | 'features' | 'if' | 'doc' | 'info'
  >]: M.EnumType[K];
};

function definitionBase(ent: EntityE, docs: Map<QapiDoc, M.Doc>): DefinitionBase {
  const base: DefinitionBase = withIf(
    { name: ent.name, features: toFeatures(ent.features) },
    ent.ifcond,
  );
  if (ent.doc) {
    const d = docs.get(ent.doc);
    if (d) base.doc = d;
  }
  if (ent.info && !ent.isImplicit()) base.info = ent.info.toInfo();
  return base;
}

function toEntity(ent: EntityE, docs: Map<QapiDoc, M.Doc>): M.Entity | undefined {
  if (ent instanceof BuiltinE) {
    const b: M.BuiltinType = {
      ...definitionBase(ent, docs),
      kind: 'builtin',
      jsonType: ent.json,
      ...(INT_KINDS.has(ent.name) ? { intKind: ent.name as M.IntKind } : {}),
    };
    return b;
  }
  if (ent instanceof EnumE) {
    const values: M.EnumValue[] = ent.members.map((m) =>
      withIf({ name: m.name, features: toFeatures(m.features) }, m.ifcond),
    );
    const e: M.EnumType = {
      ...definitionBase(ent, docs),
      kind: 'enum',
      values,
      ...(ent.prefix !== undefined ? { prefix: ent.prefix } : {}),
      ...(ent.isImplicit() ? { implicit: true } : {}),
    };
    return e;
  }
  if (ent instanceof ObjectE) {
    const members: M.Member[] = ent.localMembers.map((m) =>
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
    const o: M.ObjectType = {
      ...definitionBase(ent, docs),
      kind: 'object',
      ...(ent.base ? { base: ent.base.name } : {}),
      members,
      ...(ent.variants
        ? {
            variants: {
              tag: ent.variants.tagMember?.name ?? '',
              cases: ent.variants.variants.map(
                (v): M.Variant => withIf({ case: v.name, type: v.type?.name ?? '' }, v.ifcond),
              ),
            },
          }
        : {}),
      origin: ent.isImplicit() ? 'implicit' : ent.variants ? 'union' : 'struct',
    };
    return o;
  }
  if (ent instanceof AlternateE) {
    const branches: M.AlternateBranch[] = ent.variants.variants.map((v) =>
      withIf({ name: v.name, type: typeRef(v.type) }, v.ifcond),
    );
    const a: M.AlternateType = { ...definitionBase(ent, docs), kind: 'alternate', branches };
    return a;
  }
  if (ent instanceof CommandE) {
    const c: M.Command = {
      ...definitionBase(ent, docs),
      kind: 'command',
      ...(ent.argType ? { argType: ent.argType.name } : {}),
      ...(ent.retType ? { retType: typeRef(ent.retType) } : {}),
      ...ent.flags,
    };
    return c;
  }
  if (ent instanceof EventE) {
    const e: M.Event = {
      ...definitionBase(ent, docs),
      kind: 'event',
      ...(ent.argType ? { argType: ent.argType.name } : {}),
      boxed: ent.boxed,
    };
    return e;
  }
  return undefined;
}

export function toSchema(b: SchemaBuilder, allDocs: readonly QapiDoc[]): M.Schema {
  const docs = new Map<QapiDoc, M.Doc>();
  const docBlocks: M.DocBlock[] = [];
  const freeDocs: { info: M.SourceInfo; text: string }[] = [];
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
  const modules = new Map<string, { entities: M.Entity[]; items: M.ModuleItem[] }>();
  for (const name of b.moduleNames) modules.set(name, { entities: [], items: [] });
  const types = new Map<string, M.TypeDef>();
  const commands = new Map<string, M.Command>();
  const events = new Map<string, M.Event>();
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
  const moduleList: M.Module[] = [...modules].map(([name, m]) => ({
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
