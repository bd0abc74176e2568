import type { IfCond } from '../model.js';

/**
 * The build configuration conditions are evaluated against: the set of defined symbols
 * (`CONFIG_LINUX`, `TARGET_X86_64`…). Like the C preprocessor QEMU uses, a symbol that is not in
 * the set is false.
 */
export type Defines = ReadonlySet<string>;

/** Evaluates a QAPI `if` condition; an absent condition is true. */
export function evalCond(cond: IfCond | undefined, defined: Defines): boolean {
  if (cond === undefined) return true;
  if (typeof cond === 'string') return defined.has(cond);
  if ('all' in cond) return cond.all.every((c) => evalCond(c, defined));
  if ('any' in cond) return cond.any.some((c) => evalCond(c, defined));
  return !evalCond(cond.not, defined);
}

/** Renders a condition the way QEMU's C generator would guard it, for documentation. */
export function describeCond(cond: IfCond): string {
  if (typeof cond === 'string') return cond;
  if ('all' in cond) return `(${cond.all.map(describeCond).join(' && ')})`;
  if ('any' in cond) return `(${cond.any.map(describeCond).join(' || ')})`;
  return `!${describeCond(cond.not)}`;
}

/**
 * Reads a defines file: one symbol per line; blank lines and `#` comments are ignored.
 * Throws on a line that is not a valid condition symbol.
 */
export function parseDefines(text: string, source = 'defines'): Set<string> {
  const out = new Set<string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').replace(/#.*/, '').trim();
    if (line === '') continue;
    if (!SYMBOL.test(line)) {
      throw new Error(`${source}:${i + 1}: '${line}' is not a condition symbol`);
    }
    out.add(line);
  }
  return out;
}

/** What QAPI accepts as a condition symbol (a C identifier). */
export const SYMBOL = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `// Conditions evaluated with A, B, … defined.` wrapped to comment lines of at most 100 columns. */
export function definesComment(defined: Defines, lead = 'Conditions evaluated with'): string[] {
  const syms = [...defined].sort();
  const words = [
    ...lead.split(' '),
    ...(syms.length === 0
      ? ['no', 'symbol']
      : syms.map((s, i) => (i < syms.length - 1 ? `${s},` : s))),
    'defined.',
  ];
  const lines: string[] = [];
  let line = '//';
  for (const w of words) {
    if (line.length + 1 + w.length > 100) {
      lines.push(line);
      line = '//';
    }
    line += ` ${w}`;
  }
  lines.push(line);
  return lines;
}
