// Each published package's public API as a normalized report, checked into the repository
// (`packages/<p>/api/<p>.api.md`) so that a change of the surface shows in review. The report is
// the declaration rollup of every published entry point: the built `.d.ts` of the entry and of
// every module it re-exports or imports by relative path, comments removed (documentation edits
// are not surface changes), blank lines dropped, modules in path order. `@internal` members are
// already gone (`stripInternal`). api-extractor would need TypeScript 5's compiler; this reads
// what TypeScript 7 emits.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import type { Manifest } from './import-graph.js';

/** Removes `//` and `/* … *\/` comments, leaving string and template literals alone. */
export function stripComments(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    const next = text[i + 1];
    if (c === '/' && next === '/') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? text.length : end + 2;
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

const RELATIVE_SPECIFIER =
  /\bfrom\s+['"](\.{1,2}\/[^'"]+)['"]|\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

/** The `.d.ts` modules reachable from `entry` by relative specifiers, entry included. */
function declarationModules(entry: string): string[] {
  const seen = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.shift() as string;
    if (seen.has(file) || !existsSync(file)) continue;
    seen.add(file);
    const text = stripComments(readFileSync(file, 'utf8'));
    for (const m of text.matchAll(RELATIVE_SPECIFIER)) {
      const spec = (m[1] ?? m[2]) as string;
      queue.push(resolve(dirname(file), spec.replace(/\.js$/, '.d.ts')));
    }
  }
  return [...seen].sort();
}

function normalize(text: string): string {
  return stripComments(text)
    .split('\n')
    .map((line) => line.trimEnd())
    .filter((line) => line.trim() !== '' && !line.startsWith('//# sourceMappingURL'))
    .join('\n');
}

/** The report of one package, from its built `dist/` (run the build first). */
export function apiReport(dir: string, manifest: Manifest): string {
  const exportsMap = manifest.publishConfig?.exports ?? manifest.exports ?? {};
  const lines = [
    `# ${manifest.name}: public API`,
    '',
    'Generated from the built declaration files by `pnpm api:update`; do not edit. The test',
    '`packages/conformance/test/api-report.test.ts` fails when the API differs from this file.',
  ];
  const modules = new Set<string>();
  for (const [key, target] of Object.entries(exportsMap)) {
    if (key === './package.json') continue;
    const types = typeof target === 'string' ? undefined : (target as { types?: string }).types;
    if (types === undefined) continue;
    const entry = resolve(dir, types);
    lines.push('', `## \`${manifest.name}${key.slice(1)}\` (${relative(dir, entry)})`);
    for (const file of declarationModules(entry)) modules.add(file);
  }
  for (const file of [...modules].sort()) {
    lines.push(
      '',
      `### ${relative(dir, file)}`,
      '',
      '```ts',
      normalize(readFileSync(file, 'utf8')),
      '```',
    );
  }
  return `${lines.join('\n')}\n`;
}
