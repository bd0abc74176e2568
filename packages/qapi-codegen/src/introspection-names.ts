// Mapping introspection's masked type numbers back to schema names (reference §13.3): walk a
// `query-qmp-schema` model and a schema-file model in parallel, from each command's argument and
// return types and each event's data type, through object members (by name, base members
// included), union variants (by case), alternate branches (by position) and array elements.

import type { ObjectType, Schema, TypeDef } from './model.js';

export interface IntrospectionNameMap {
  /** Masked name → schema name, for every numbered type the walk reached. */
  names: Map<string, string>;
  /** Masked names the walk met with two different schema names (none for a matching schema). */
  conflicts: string[];
}

function arrayElement(ref: string): string | undefined {
  return ref.startsWith('[') && ref.endsWith(']') ? ref.slice(1, -1) : undefined;
}

function flatMembers(schema: Schema, def: ObjectType): Map<string, string> {
  const out = new Map<string, string>();
  const chain: ObjectType[] = [];
  for (let cur: TypeDef | undefined = def; cur?.kind === 'object'; ) {
    if (chain.includes(cur)) break;
    chain.unshift(cur);
    cur = cur.base === undefined ? undefined : schema.types.get(cur.base);
  }
  for (const t of chain) for (const m of t.members) out.set(m.name, m.type);
  return out;
}

export function mapIntrospectionNames(intro: Schema, source: Schema): IntrospectionNameMap {
  const names = new Map<string, string>();
  const conflicts: string[] = [];
  const queue: [string, string][] = [];

  const pair = (introRef: string, sourceRef: string): void => {
    const ie = arrayElement(introRef);
    const se = arrayElement(sourceRef);
    if (ie !== undefined || se !== undefined) {
      if (ie !== undefined && se !== undefined) pair(ie, se);
      return;
    }
    const def = intro.types.get(introRef);
    if (def === undefined || def.kind === 'builtin') return;
    const known = names.get(introRef);
    if (known !== undefined) {
      if (known !== sourceRef && !conflicts.includes(introRef)) conflicts.push(introRef);
      return;
    }
    if (!source.types.has(sourceRef)) return;
    names.set(introRef, sourceRef);
    queue.push([introRef, sourceRef]);
  };

  for (const cmd of intro.commands.values()) {
    const s = source.commands.get(cmd.name);
    if (s === undefined) continue;
    if (cmd.argType !== undefined) pair(cmd.argType, s.argType ?? 'q_empty');
    if (cmd.retType !== undefined) pair(cmd.retType, s.retType ?? 'q_empty');
  }
  for (const ev of intro.events.values()) {
    const s = source.events.get(ev.name);
    if (s !== undefined && ev.argType !== undefined) pair(ev.argType, s.argType ?? 'q_empty');
  }
  for (let i = 0; i < queue.length; i++) {
    const [introName, sourceName] = queue[i]!;
    const a = intro.types.get(introName)!;
    const b = source.types.get(sourceName)!;
    if (a.kind === 'object' && b.kind === 'object') {
      const members = flatMembers(source, b);
      for (const m of a.members) {
        const t = members.get(m.name);
        if (t !== undefined) pair(m.type, t);
      }
      const cases = new Map((b.variants?.cases ?? []).map((v) => [v.case, v.type]));
      for (const v of a.variants?.cases ?? []) {
        const t = cases.get(v.case);
        if (t !== undefined) pair(v.type, t);
      }
    } else if (a.kind === 'alternate' && b.kind === 'alternate') {
      a.branches.forEach((branch, n) => {
        const t = b.branches[n]?.type;
        if (t !== undefined) pair(branch.type, t);
      });
    }
  }
  return { names, conflicts };
}
