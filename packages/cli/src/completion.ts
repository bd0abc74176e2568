/**
 * Tab completion for the shell, from the server's own `query-qmp-schema` answer (so it offers
 * exactly what the server it talks to accepts):
 *
 * - the first word: command names (and `transaction(`); inside a transaction, action types;
 * - `key` words: the command's argument names, following dotted paths into nested objects
 *   (members of every variant of a union, and of the object branches of an alternate);
 * - after `key=`: the values of an enum member, or `true`/`false` for a boolean.
 */

interface MemberInfo {
  name: string;
  type: string;
}

interface EntryInfo {
  metaType: string;
  members: MemberInfo[];
  /** enum values */
  values: string[];
  /** union variants / alternate branches / array element */
  refs: string[];
  tag: string | undefined;
  variants: Array<{ case: string; type: string }>;
  jsonType: string | undefined;
  argType: string | undefined;
}

const MAX_ENTRIES = 100_000;
const MAX_RESOLVE_DEPTH = 32;

function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value.slice(0, MAX_ENTRIES) : [];
}

/** What the shell can complete, built from a `query-qmp-schema` answer. */
export class SchemaIndex {
  private readonly entries = new Map<string, EntryInfo>();
  readonly commands: readonly string[];

  constructor(schema: unknown) {
    const commands: string[] = [];
    for (const raw of asArray(schema)) {
      if (typeof raw !== 'object' || raw === null) continue;
      const entry = raw as Record<string, unknown>;
      const name = asString(entry.name);
      const metaType = asString(entry['meta-type']);
      if (name === undefined || metaType === undefined) continue;
      const members: MemberInfo[] = [];
      const refs: string[] = [];
      const variants: Array<{ case: string; type: string }> = [];
      for (const m of asArray(entry.members)) {
        const member = m as Record<string, unknown>;
        const type = asString(member?.type);
        const memberName = asString(member?.name);
        if (metaType === 'alternate' && type !== undefined) refs.push(type);
        else if (memberName !== undefined && type !== undefined) {
          members.push({ name: memberName, type });
        }
      }
      for (const v of asArray(entry.variants)) {
        const variant = v as Record<string, unknown>;
        const type = asString(variant?.type);
        const tagCase = asString(variant?.case);
        if (type !== undefined && tagCase !== undefined) variants.push({ case: tagCase, type });
      }
      const element = asString(entry['element-type']);
      if (element !== undefined) refs.push(element);
      this.entries.set(name, {
        metaType,
        members,
        values: asArray(entry.values).filter((v): v is string => typeof v === 'string'),
        refs,
        tag: asString(entry.tag),
        variants,
        jsonType: asString(entry['json-type']),
        argType: asString(entry['arg-type']),
      });
      if (metaType === 'command') commands.push(name);
    }
    this.commands = commands.sort();
  }

  /** Argument names available under `path` (dotted key parts) of `command`. */
  argumentNames(command: string, path: readonly string[]): MemberInfo[] {
    const argType = this.entries.get(command)?.argType;
    if (argType === undefined) return [];
    return this.membersAt(argType, path);
  }

  /** The transaction action types (the `type` tag of `transaction`'s actions). */
  transactionActions(): string[] {
    const action = this.actionUnion();
    return action === undefined ? [] : action.variants.map((v) => v.case).sort();
  }

  /** Names under `path` of a transaction action's `data`. */
  actionDataNames(actionType: string, path: readonly string[]): MemberInfo[] {
    const variant = this.actionUnion()?.variants.find((v) => v.case === actionType);
    if (variant === undefined) return [];
    const data = this.membersOf(variant.type, 0).find((m) => m.name === 'data');
    return data === undefined ? [] : this.membersAt(data.type, path);
  }

  /** Value completions for a member of type `type`. */
  valuesOf(type: string): string[] {
    const entry = this.entries.get(type);
    if (entry === undefined) return [];
    if (entry.metaType === 'enum') return [...entry.values];
    if (entry.metaType === 'builtin' && entry.jsonType === 'boolean') return ['true', 'false'];
    if (entry.metaType === 'alternate') return entry.refs.flatMap((ref) => this.valuesOf(ref));
    return [];
  }

  /**
   * True when a value of `type` is an object given member by member (`key.member=`); an
   * alternate (e.g. a node name or an object) is given with `key=` first.
   */
  isObject(type: string): boolean {
    return this.entries.get(type)?.metaType === 'object' && this.membersOf(type, 0).length > 0;
  }

  private actionUnion(): EntryInfo | undefined {
    const actions = this.argumentNames('transaction', []).find((m) => m.name === 'actions');
    if (actions === undefined) return undefined;
    const array = this.entries.get(actions.type);
    const element = array?.metaType === 'array' ? array.refs[0] : undefined;
    return element === undefined ? undefined : this.entries.get(element);
  }

  private membersAt(type: string, path: readonly string[]): MemberInfo[] {
    let current = this.membersOf(type, 0);
    for (const part of path) {
      const member = current.find((m) => m.name === part);
      if (member === undefined) return [];
      current = this.membersOf(member.type, 0);
    }
    return current;
  }

  /** Members of an object (with every variant's), or of an alternate's object branches. */
  private membersOf(type: string, depth: number): MemberInfo[] {
    if (depth > MAX_RESOLVE_DEPTH) return [];
    const entry = this.entries.get(type);
    if (entry === undefined) return [];
    const seen = new Set<string>();
    const out: MemberInfo[] = [];
    const add = (members: readonly MemberInfo[]) => {
      for (const m of members) {
        if (seen.has(m.name)) continue;
        seen.add(m.name);
        out.push(m);
      }
    };
    if (entry.metaType === 'object') {
      add(entry.members);
      for (const variant of entry.variants) add(this.membersOf(variant.type, depth + 1));
    } else if (entry.metaType === 'alternate') {
      for (const ref of entry.refs) add(this.membersOf(ref, depth + 1));
    }
    return out;
  }
}

/** The completions of the word being typed at the end of `line`, readline-style. */
export function completeLine(
  index: SchemaIndex,
  line: string,
  inTransaction: boolean,
): [string[], string] {
  const match = /(\S*)$/.exec(line);
  const word = match?.[1] ?? '';
  const before = line.slice(0, line.length - word.length);
  const previous = before.trim() === '' ? [] : before.trim().split(/\s+/);
  if (previous[0] === 'transaction(') {
    previous.shift();
    inTransaction = true;
  }
  if (previous.length === 0) {
    const names = inTransaction ? index.transactionActions() : [...index.commands, 'transaction('];
    return [names.filter((name) => name.startsWith(word)), word];
  }
  const head = previous[0] as string;
  const membersAt = (path: readonly string[]) =>
    inTransaction ? index.actionDataNames(head, path) : index.argumentNames(head, path);
  const eq = word.indexOf('=');
  if (eq >= 0) {
    const key = word.slice(0, eq).split('.');
    const leaf = key.pop() as string;
    const member = membersAt(key).find((m) => m.name === leaf);
    if (member === undefined) return [[], word];
    const prefix = word.slice(0, eq + 1);
    const typed = word.slice(eq + 1);
    const hits = index
      .valuesOf(member.type)
      .filter((value) => value.startsWith(typed))
      .map((value) => prefix + value);
    return [hits, word];
  }
  const path = word.split('.');
  const leaf = path.pop() as string;
  const given = new Set(previous.slice(1).map((w) => w.split('=')[0]));
  const stem = path.length === 0 ? '' : `${path.join('.')}.`;
  const hits = membersAt(path)
    .filter((m) => m.name.startsWith(leaf) && !given.has(stem + m.name))
    .map((m) => stem + m.name + (index.isObject(m.type) ? '.' : '='))
    .sort();
  return [hits, word];
}
