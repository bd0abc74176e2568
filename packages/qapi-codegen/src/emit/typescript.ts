// Emitter 1: TypeScript types for a schema (reference §17).
//
// - enum → a `const` array `as const` and a union type of the same name;
// - struct → an interface; wire member names kept verbatim (quoted where needed); `base` →
//   `extends`; optional → `?` (never `| undefined`, never `| null`);
// - union → a union of intersections, one per distinct branch type, each narrowing the tag to
//   the values that select it; the values without a branch share one member, so every tag value
//   is typeable;
// - alternate → a TS union (QAPI guarantees the branches differ in JSON kind);
// - arrays → `T[]`;
// - builtins: `str` → string, `number` and every integer → number, `bool` → boolean,
//   `null` → null, `any` → unknown;
// - one `CommandMap` (name → { args; ret }) and one `EventMap` (name → data, `undefined` for an
//   event without data, since QEMU then sends no `data` member).
//
// Integers: all ten integer builtins map to `number`, including the 64-bit ones (`int`, `int64`,
// `uint64`, `size`), whose values can exceed 2^53. Exactness above Number.MAX_SAFE_INTEGER is the
// protocol layer's job (detect unsafe integers on receive, refuse them on send); the types do not
// pretend otherwise. The generated header says so.

import type {
  AlternateType,
  Command,
  Doc,
  EnumType,
  Event,
  Feature,
  IfCond,
  Member,
  ObjectType,
  Schema,
  TypeDef,
} from '../model.js';
import { type Defines, definesComment, describeCond, evalCond } from './conditions.js';
import { typeIdentifiers } from './names.js';

export interface TypeScriptOptions {
  /** Where the schema came from, for the header (a path relative to the output is best). */
  source: string;
  /**
   * The build's defined symbols: definitions whose condition is false are left out. Absent: every
   * definition is emitted, conditional ones with an "Only if" remark.
   */
  defined?: Defines;
  /**
   * For introspection input: schema names of masked types (see mapIntrospectionNames), so the
   * types get their real names instead of names derived from use.
   */
  realNames?: ReadonlyMap<string, string>;
}

const BUILTIN_TS: Readonly<Record<string, string>> = {
  string: 'string',
  number: 'number',
  int: 'number',
  boolean: 'boolean',
  null: 'null',
  value: 'unknown',
};

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function propertyKey(name: string): string {
  return IDENTIFIER.test(name) ? name : `'${name}'`;
}

function stringLiteral(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function emitTypeScript(schema: Schema, options: TypeScriptOptions): string {
  return new TypeScriptEmitter(schema, options).emit();
}

class TypeScriptEmitter {
  private readonly ids: Map<string, string>;
  /** The lines of the definition being written (and of a few before it). */
  private readonly out: string[] = [];
  /** The text written before them, in blocks of lines joined (see endDefinition). */
  private readonly blocks: string[] = [];
  /** The doc comment that documents an implicit type's members (its command's, event's, union's). */
  private readonly memberDocs = new Map<string, Doc>();
  private readonly bases = new Set<string>();

  constructor(
    private readonly schema: Schema,
    private readonly options: TypeScriptOptions,
  ) {
    this.ids = typeIdentifiers(schema, options.realNames);
    for (const e of [...schema.commands.values(), ...schema.events.values()]) {
      if (e.doc !== undefined && e.argType?.startsWith('q_obj_'))
        this.memberDocs.set(e.argType, e.doc);
    }
    for (const t of schema.types.values()) {
      if (t.kind !== 'object') continue;
      if (t.base !== undefined) this.bases.add(t.base);
      if (t.doc !== undefined && t.base?.startsWith('q_obj_')) this.memberDocs.set(t.base, t.doc);
    }
  }

  private enabled(cond: IfCond | undefined): boolean {
    return this.options.defined === undefined || evalCond(cond, this.options.defined);
  }

  private ref(ref: string): string {
    if (ref.startsWith('[')) return `${this.ref(ref.slice(1, -1))}[]`;
    const def = this.schema.types.get(ref);
    if (def === undefined) throw new Error(`unknown type '${ref}'`);
    if (def.kind === 'builtin') return BUILTIN_TS[def.jsonType] ?? 'unknown';
    return this.ids.get(ref)!;
  }

  emit(): string {
    this.header();
    const done = new Set<string>();
    const referenced = this.referencedTypes();
    const emitType = (def: TypeDef) => {
      if (done.has(def.name) || def.kind === 'builtin') return;
      // Types the generator predefines (QType) only when something uses them.
      if (def.kind === 'enum' && def.implicit === true && !referenced.has(def.name)) return;
      done.add(def.name);
      if (!this.enabled(def.if)) return;
      if (def.kind === 'enum') this.enumType(def);
      else if (def.kind === 'object') this.objectType(def);
      else this.alternateType(def);
      this.endDefinition();
    };
    for (const mod of this.schema.modules) {
      for (const e of mod.entities) if (e.kind !== 'command' && e.kind !== 'event') emitType(e);
    }
    for (const def of this.schema.types.values()) emitType(def);
    if (![...this.ids.values()].includes('QmpEmpty')) {
      this.out.push('/** The member-less object: no arguments, or an empty `return`. */');
      this.out.push('export type QmpEmpty = Record<string, never>;', '');
    }
    this.commandMap();
    this.eventMap();
    // The text ends in exactly one newline. Trimming the lines before the one join gives one flat
    // string; appending to the joined text would make a two-part string that writing it copies.
    const out = this.out;
    while (out.length > 0 && out[out.length - 1]!.trimEnd() === '') out.pop();
    if (out.length > 0) out[out.length - 1] = out[out.length - 1]!.trimEnd();
    out.push('');
    if (this.blocks.length === 0) return out.join('\n');
    this.blocks.push(out.join('\n'));
    return this.blocks.join('\n');
  }

  /**
   * Between definitions: once enough lines have piled up, joins them into one block. A line then
   * dies young, instead of living (and being copied by the GC) until the whole text is joined.
   */
  private endDefinition(): void {
    if (this.out.length < 256) return;
    this.blocks.push(this.out.join('\n'));
    this.out.length = 0;
  }

  private referencedTypes(): Set<string> {
    const refs = new Set<string>();
    const add = (ref: string | undefined) => {
      if (ref !== undefined) refs.add(ref.startsWith('[') ? ref.slice(1, -1) : ref);
    };
    for (const c of this.schema.commands.values()) {
      add(c.argType);
      add(c.retType);
    }
    for (const e of this.schema.events.values()) add(e.argType);
    for (const t of this.schema.types.values()) {
      if (t.kind === 'object') {
        add(t.base);
        for (const m of t.members) add(m.type);
        for (const v of t.variants?.cases ?? []) add(v.type);
      } else if (t.kind === 'alternate') {
        for (const b of t.branches) add(b.type);
      }
    }
    return refs;
  }

  private header(): void {
    this.out.push(
      `// Generated by qapi-codegen from ${this.options.source}. Do not edit.`,
      '//',
      '// Integers: every QAPI integer type (int, int8…int64, uint8…uint64, size) is a `number`.',
      '// Values of the 64-bit types can exceed Number.MAX_SAFE_INTEGER (2^53 - 1); the protocol',
      '// layer is responsible for detecting such unsafe integers. `any` is `unknown`.',
    );
    if (this.options.defined !== undefined) this.out.push(...definesComment(this.options.defined));
    this.out.push('');
  }

  /** Writes `lines` as a TSDoc comment, each of its lines after `indent`. */
  private doc(lines: string[], indent = ''): void {
    let text = lines.length === 1 ? (lines[0] as string) : lines.join('\n');
    if (text.includes('*/')) text = text.replace(/\*\//g, '*\\/');
    text = text.trimEnd();
    if (text === '') return;
    const out = this.out;
    let nl = text.indexOf('\n');
    if (nl < 0) {
      out.push(`${indent}/** ${text} */`);
      return;
    }
    // Line by line straight into the output (no array of the lines, no mapped copy of it).
    out.push(`${indent}/**`);
    for (let start = 0; ; nl = text.indexOf('\n', start)) {
      const end = nl < 0 ? text.length : nl;
      out.push(end === start ? `${indent} *` : `${indent} * ${text.slice(start, end)}`);
      if (nl < 0) break;
      start = nl + 1;
    }
    out.push(`${indent} */`);
  }

  private indentDoc(lines: string[]): void {
    this.doc(lines, '  ');
  }

  /** TSDoc lines for a definition: its text, sections, features and condition. */
  private defDoc(
    doc: Doc | undefined,
    features: readonly Feature[],
    cond: IfCond | undefined,
  ): string[] {
    const lines: string[] = [];
    if (doc !== undefined) {
      const body = prose(doc.body);
      if (body !== '') lines.push(body);
      for (const s of doc.sections) {
        const text = prose(s.text);
        if (s.name === 'TODO' || text === '') continue;
        if (s.name === 'Since') continue;
        if (lines.length > 0) lines.push('');
        if (s.name === 'Returns') lines.push(`@returns ${text}`);
        else if (s.name === 'Note' || s.name === 'Notes') lines.push(`@remarks ${text}`);
        else if (s.name === 'Example' || s.name === 'Examples') {
          lines.push('@example', '```text', ...s.text.trimEnd().split('\n'), '```');
        } else if (s.name === '') lines.push(text);
        else lines.push(`${s.name}: ${text}`);
      }
    }
    const tags = this.featureTags(features, doc);
    if (cond !== undefined && this.options.defined === undefined) {
      tags.push(`@remarks Only if ${describeCond(cond)}.`);
    }
    const since = doc?.sections.find((s) => s.name === 'Since');
    if (since !== undefined) tags.unshift(`@since ${prose(since.text)}`);
    if (tags.length > 0 && lines.length > 0) lines.push('');
    for (const tag of tags) lines.push(tag);
    return lines;
  }

  private featureTags(features: readonly Feature[], doc: Doc | undefined): string[] {
    const tags: string[] = [];
    for (const f of features) {
      if (!this.enabled(f.if)) continue;
      const why = doc?.features[f.name] === undefined ? '' : ` ${prose(doc.features[f.name]!)}`;
      if (f.name === 'deprecated') tags.push(`@deprecated${why}`);
      else if (f.name === 'unstable') tags.push(`@experimental${why}`);
    }
    const custom = features.filter(
      (f) => f.name !== 'deprecated' && f.name !== 'unstable' && this.enabled(f.if),
    );
    if (custom.length > 0) tags.push(`Features: ${custom.map((f) => `\`${f.name}\``).join(', ')}.`);
    return tags;
  }

  private enumType(def: EnumType): void {
    const id = this.ids.get(def.name)!;
    const values = def.values.filter((v) => this.enabled(v.if));
    const lines = this.defDoc(def.doc, def.features, def.if);
    const valueDocs = values
      .map((v) => {
        const text = def.doc?.members[v.name];
        const tags = this.featureTags(v.features, def.doc).join(' ');
        const cond =
          v.if !== undefined && this.options.defined === undefined
            ? ` (only if ${describeCond(v.if)})`
            : '';
        const all = [text === undefined ? '' : prose(text), tags].filter((s) => s !== '').join(' ');
        if (all === '' && cond === '') return undefined;
        return `- \`${v.name}\`${cond}: ${all.replace(/\n/g, '\n  ')}`;
      })
      .filter((l): l is string => l !== undefined);
    if (valueDocs.length > 0) lines.push(...(lines.length > 0 ? [''] : []), ...valueDocs);
    this.doc(lines);
    const literals = values.map((v) => stringLiteral(v.name));
    const oneLine = `export const ${id} = [${literals.join(', ')}] as const;`;
    if (oneLine.length <= 100) this.out.push(oneLine);
    else this.out.push(`export const ${id} = [`, ...literals.map((l) => `  ${l},`), '] as const;');
    this.out.push(`export type ${id} = (typeof ${id})[number];`, '');
  }

  private members(members: readonly Member[], doc: Doc | undefined): string[] {
    const start = this.out.length;
    this.writeMembers(members, doc);
    return this.out.splice(start);
  }

  /** Writes the members' lines (each with its doc comment) to the output. */
  private writeMembers(members: readonly Member[], doc: Doc | undefined): void {
    for (const m of members) {
      if (!this.enabled(m.if)) continue;
      const lines: string[] = [];
      const text = doc?.members[m.name];
      if (text !== undefined) lines.push(prose(text));
      lines.push(...this.featureTags(m.features, doc));
      if (m.if !== undefined && this.options.defined === undefined) {
        lines.push(`@remarks Only if ${describeCond(m.if)}.`);
      }
      this.indentDoc(lines);
      this.out.push(`  ${propertyKey(m.name)}${m.optional ? '?' : ''}: ${this.ref(m.type)};`);
    }
  }

  private objectType(def: ObjectType): void {
    const id = this.ids.get(def.name)!;
    const doc = def.doc ?? this.memberDocs.get(def.name);
    if (def.variants !== undefined) {
      this.unionType(def, id, doc);
      return;
    }
    this.doc(
      def.doc === undefined
        ? this.implicitDoc(def.name)
        : this.defDoc(def.doc, def.features, def.if),
    );
    const base = def.base === undefined ? undefined : this.ids.get(def.base);
    const ext = base === undefined ? '' : ` extends ${base}`;
    // The members go straight into the output after the interface's first line, which is
    // rewritten if there turn out to be none.
    const out = this.out;
    const head = out.length;
    out.push(`export interface ${id}${ext} {`);
    this.writeMembers(def.members, doc);
    if (out.length > head + 1) {
      out.push('}', '');
      return;
    }
    out.length = head;
    if (base === undefined && !this.bases.has(def.name)) {
      out.push(`export type ${id} = Record<string, never>;`, '');
    } else {
      out.push(`export interface ${id}${ext} {}`, '');
    }
  }

  /** What an implicit type is for: its owner's name (no doc of its own). */
  private implicitDoc(name: string): string[] {
    const owner = /^q_obj_(.+)-(arg|base)$/.exec(name);
    if (owner === null) return [];
    if (owner[2] === 'base') return [`The members common to every branch of \`${owner[1]}\`.`];
    if (this.schema.events.has(owner[1]!)) return [`The data of event \`${owner[1]}\`.`];
    return [`The arguments of command \`${owner[1]}\`.`];
  }

  private unionType(def: ObjectType, id: string, doc: Doc | undefined): void {
    const variants = def.variants!;
    this.doc(this.defDoc(def.doc, def.features, def.if));
    const common: string[] = [];
    if (def.base !== undefined) common.push(this.ids.get(def.base)!);
    const own = this.members(def.members, doc);
    if (own.length > 0) common.push(`{\n${own.map((l) => `  ${l}`).join('\n')}\n  }`);
    // One union member per distinct branch type, in the order the branches come.
    const groups = new Map<string, string[]>();
    for (const v of variants.cases) {
      if (!this.enabled(v.if)) continue;
      const list = groups.get(v.type) ?? [];
      list.push(v.case);
      groups.set(v.type, list);
    }
    const alternatives: string[] = [];
    for (const [type, cases] of groups) {
      const tag = `{ ${propertyKey(variants.tag)}: ${cases.map(stringLiteral).join(' | ')} }`;
      const parts = [...common, tag];
      const branch = this.schema.types.get(type);
      const emptyBranch =
        branch?.kind === 'object' &&
        branch.members.length === 0 &&
        branch.base === undefined &&
        branch.variants === undefined;
      if (!emptyBranch) parts.push(this.ref(type));
      alternatives.push(`  | (${parts.join(' & ')})`);
    }
    if (alternatives.length === 0) alternatives.push('  | never');
    this.out.push(`export type ${id} =`, ...alternatives);
    this.out[this.out.length - 1] += ';';
    this.out.push('');
  }

  private alternateType(def: AlternateType): void {
    const id = this.ids.get(def.name)!;
    this.doc(this.defDoc(def.doc, def.features, def.if));
    const branches = def.branches.filter((b) => this.enabled(b.if)).map((b) => this.ref(b.type));
    this.out.push(
      `export type ${id} = ${branches.length === 0 ? 'never' : branches.join(' | ')};`,
      '',
    );
  }

  private commandEntry(cmd: Command): string {
    const args = cmd.argType === undefined ? 'QmpEmpty' : this.ref(cmd.argType);
    const open = cmd.gen ? args : `${args} & { [key: string]: unknown }`;
    const ret = !cmd.successResponse
      ? 'never'
      : cmd.retType === undefined
        ? 'QmpEmpty'
        : this.ref(cmd.retType);
    return `{ args: ${open}; ret: ${ret} }`;
  }

  private commandMap(): void {
    this.doc([
      'Every command: its arguments (`QmpEmpty` when it takes none) and its `return` value',
      '(`QmpEmpty` for commands without `returns`, which answer `{}`).',
      'A `gen: false` command (QEMU does not check its arguments) accepts extra keys.',
      'A `success-response: false` command sends no reply on success: `ret` is `never`.',
    ]);
    this.out.push('export interface CommandMap {');
    for (const cmd of this.inOrder('command')) {
      if (!this.enabled(cmd.if)) continue;
      this.indentDoc(this.defDoc(cmd.doc, cmd.features, cmd.if));
      this.out.push(`  ${propertyKey(cmd.name)}: ${this.commandEntry(cmd)};`);
      this.endDefinition();
    }
    this.out.push('}', '', 'export type CommandName = keyof CommandMap;', '');
  }

  private eventData(ev: Event): string {
    if (ev.argType === undefined) return 'undefined';
    const def = this.schema.types.get(ev.argType);
    // QEMU omits `data` for an event whose (unboxed) data type has no members.
    if (!ev.boxed && def?.kind === 'object' && this.flatMemberCount(def) === 0 && !def.variants) {
      return 'undefined';
    }
    return this.ref(ev.argType);
  }

  private flatMemberCount(def: ObjectType): number {
    let n = def.members.filter((m) => this.enabled(m.if)).length;
    const base = def.base === undefined ? undefined : this.schema.types.get(def.base);
    if (base?.kind === 'object') n += this.flatMemberCount(base);
    return n;
  }

  private eventMap(): void {
    this.doc([
      'Every event: the type of its `data` member, or `undefined` for events QEMU sends without',
      '`data`.',
    ]);
    this.out.push('export interface EventMap {');
    for (const ev of this.inOrder('event')) {
      if (!this.enabled(ev.if)) continue;
      this.indentDoc(this.defDoc(ev.doc, ev.features, ev.if));
      this.out.push(`  ${propertyKey(ev.name)}: ${this.eventData(ev)};`);
      this.endDefinition();
    }
    this.out.push('}', '', 'export type EventName = keyof EventMap;');
  }

  private inOrder(kind: 'command'): Command[];
  private inOrder(kind: 'event'): Event[];
  private inOrder(kind: 'command' | 'event'): (Command | Event)[] {
    const list: (Command | Event)[] = [];
    for (const mod of this.schema.modules) {
      for (const e of mod.entities) if (e.kind === kind) list.push(e);
    }
    return list;
  }
}

/** QAPI doc text → TSDoc prose: `@name` references become code spans (TSDoc would read tags). */
function prose(text: string): string {
  const trimmed = text.trim();
  if (!trimmed.includes('@')) return trimmed;
  return trimmed.replace(/(^|[^\w`])@([A-Za-z_][\w.-]*\w|[A-Za-z_])/g, '$1`$2`');
}
