// Prints a Schema in exactly the format of QEMU 7.2's tests/qapi-schema/test-qapi.py, so that
// QEMU's golden `.out` files can check what the front end built. QEMU 10.0's test-qapi.py prints
// doc sections by kind (`Plain`, `Returns`, `Todo`, …) instead of by tag.

import { docSectionKind } from './doc-comment-10.js';
import type { QapiFrontEnd } from './front-end.js';
import type { Entity, Feature, IfCond, Schema, TypeRef } from './model.js';

/** Python's repr() of a condition, as test-qapi.py prints it. */
function pyRepr(cond: IfCond): string {
  if (typeof cond === 'string') return `'${cond}'`;
  if ('not' in cond) return `{'not': ${pyRepr(cond.not)}}`;
  if ('all' in cond) return `{'all': [${cond.all.map(pyRepr).join(', ')}]}`;
  return `{'any': [${cond.any.map(pyRepr).join(', ')}]}`;
}

function ifLine(cond: IfCond | undefined, indent: number): string[] {
  if (cond === undefined) return [];
  return [`${' '.repeat(indent)}if ${typeof cond === 'string' ? cond : pyRepr(cond)}`];
}

function featureLines(features: readonly Feature[], indent: number): string[] {
  const out: string[] = [];
  for (const f of features) {
    out.push(`${' '.repeat(indent)}feature ${f.name}`);
    out.push(...ifLine(f.if, indent + 4));
  }
  return out;
}

/** QEMU's name of a type reference: `[T]` is the array type `TList`. */
function qemuTypeName(ref: TypeRef): string {
  return ref.startsWith('[') && ref.endsWith(']') ? `${ref.slice(1, -1)}List` : ref;
}

const py = (b: boolean): string => (b ? 'True' : 'False');

function entityLines(ent: Entity): string[] {
  const out: string[] = [];
  switch (ent.kind) {
    case 'builtin':
      return out;
    case 'enum':
      out.push(`enum ${ent.name}`);
      if (ent.prefix) out.push(`    prefix ${ent.prefix}`);
      for (const v of ent.values) {
        out.push(`    member ${v.name}`, ...ifLine(v.if, 8), ...featureLines(v.features, 8));
      }
      break;
    case 'object':
      out.push(`object ${ent.name}`);
      if (ent.base !== undefined) out.push(`    base ${ent.base}`);
      for (const m of ent.members) {
        out.push(
          `    member ${m.name}: ${qemuTypeName(m.type)} optional=${py(m.optional)}`,
          ...ifLine(m.if, 8),
          ...featureLines(m.features, 8),
        );
      }
      if (ent.variants) {
        out.push(`    tag ${ent.variants.tag}`);
        for (const v of ent.variants.cases) {
          out.push(`    case ${v.case}: ${qemuTypeName(v.type)}`, ...ifLine(v.if, 8));
        }
      }
      break;
    case 'alternate':
      out.push(`alternate ${ent.name}`, '    tag type');
      for (const b of ent.branches) {
        out.push(`    case ${b.name}: ${qemuTypeName(b.type)}`, ...ifLine(b.if, 8));
      }
      break;
    case 'command':
      out.push(
        `command ${ent.name} ${ent.argType ?? 'None'} -> ${ent.retType === undefined ? 'None' : qemuTypeName(ent.retType)}`,
        `    gen=${py(ent.gen)} success_response=${py(ent.successResponse)} boxed=${py(ent.boxed)} ` +
          `oob=${py(ent.allowOob)} preconfig=${py(ent.allowPreconfig)}` +
          (ent.coroutine ? ' coroutine=True' : ''),
      );
      break;
    case 'event':
      out.push(`event ${ent.name} ${ent.argType ?? 'None'}`, `    boxed=${py(ent.boxed)}`);
      break;
  }
  out.push(...ifLine(ent.if, 4), ...featureLines(ent.features, 4));
  return out;
}

/** The text test-qapi.py prints for a schema (entities by module, then every doc block). */
export function dumpSchema(schema: Schema, options: { readonly qemu?: QapiFrontEnd } = {}): string {
  const sectionName =
    (options.qemu ?? '7.2') === '7.2'
      ? (name: string) => (name === '' ? 'None' : name)
      : (name: string) => docSectionKind(name === '' ? undefined : name);
  const out: string[] = [];
  const byName = new Map<string, Entity>();
  for (const mod of schema.modules) for (const e of mod.entities) byName.set(e.name, e);
  for (const mod of schema.modules) {
    out.push(`module ${mod.name}`);
    const items = mod.items ?? mod.entities.map((e) => ({ kind: 'entity' as const, name: e.name }));
    for (const item of items) {
      if (item.kind === 'include') {
        out.push(`include ${item.module}`);
      } else if (item.kind === 'array') {
        if (!item.info) continue; // test-qapi.py suppresses built-in arrays
        out.push(`array ${item.name} ${item.elementType}`);
        out.push(...ifLine(schema.types.get(item.elementType)?.if, 4));
      } else {
        const ent = byName.get(item.name);
        if (ent) out.push(...entityLines(ent));
      }
    }
  }
  for (const block of schema.docs ?? []) {
    out.push(block.symbol === undefined ? 'doc freeform' : `doc symbol=${block.symbol}`);
    out.push(`    body=\n${block.doc.body}`);
    for (const [name, text] of Object.entries(block.doc.members))
      out.push(`    arg=${name}\n${text}`);
    for (const [name, text] of Object.entries(block.doc.features)) {
      out.push(`    feature=${name}\n${text}`);
    }
    for (const s of block.doc.sections) out.push(`    section=${sectionName(s.name)}\n${s.text}`);
  }
  return out.map((l) => `${l}\n`).join('');
}
