// The layering rules of DESIGN.md, checked against the packages as they are on disk.
//
// The level table is read from DESIGN.md itself (the repository's own, at its root), so the
// check cannot drift from the document: a package missing from the table, a dependency the table
// does not allow, or a "may depend on" phrase this checker does not understand all fail.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';

export interface LayerRow {
  /** Short name, e.g. `client` (the package is `@qmpkit/client`). */
  readonly name: string;
  /** 0-4, or null for the row marked `—` (conformance). */
  readonly level: number | null;
  /** The "may depend on" cell, verbatim. */
  readonly mayDependOn: string;
}

export interface PackageOnDisk {
  readonly name: string;
  readonly dir: string;
  readonly manifest: {
    readonly name?: string;
    readonly private?: boolean;
    readonly bin?: string | Record<string, string>;
    readonly dependencies?: Record<string, string>;
    readonly peerDependencies?: Record<string, string>;
    readonly optionalDependencies?: Record<string, string>;
    readonly devDependencies?: Record<string, string>;
  };
  /** Source files relative to `dir`, with their text. */
  readonly sources: ReadonlyArray<{ readonly path: string; readonly text: string }>;
}

export interface Allowance {
  /** Packages a runtime dependency may name. */
  readonly runtime: ReadonlySet<string>;
  /** Packages a devDependency (tests, codegen) may name in addition. */
  readonly dev: ReadonlySet<string>;
}

const SCOPE = '@qmpkit/';

/** Parses the "Packages and layers" table of DESIGN.md. */
export function parseLayerTable(designMarkdown: string): LayerRow[] {
  const rows: LayerRow[] = [];
  for (const line of designMarkdown.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    // | level | `name` | what | may depend on |  → ['', level, name, what, may, '']
    if (cells.length !== 6) continue;
    const [, levelCell, nameCell, , mayCell] = cells;
    const name = /^`([a-z0-9-]+)`/.exec(nameCell ?? '')?.[1];
    if (name === undefined || levelCell === undefined || mayCell === undefined) continue;
    let level: number | null;
    if (/^\d+$/.test(levelCell)) level = Number(levelCell);
    else if (levelCell === '—' || levelCell === '-') level = null;
    else continue;
    rows.push({ name, level, mayDependOn: mayCell });
  }
  if (rows.length === 0) throw new Error('DESIGN.md: no rows found in the package level table');
  return rows;
}

/** Turns each row's "may depend on" phrase into the set of packages it allows. */
export function allowances(rows: readonly LayerRow[]): Map<string, Allowance> {
  const byName = new Map(rows.map((r) => [r.name, r]));
  const below = (level: number) =>
    rows.filter((r) => r.level !== null && r.level < level).map((r) => r.name);
  const result = new Map<string, Allowance>();
  for (const row of rows) {
    const phrase = row.mayDependOn;
    const named = [...phrase.matchAll(/`([a-z0-9-]+)`/g)].map((m) => m[1] as string);
    for (const n of named) {
      if (!byName.has(n)) throw new Error(`DESIGN.md: ${row.name} may depend on unknown '${n}'`);
    }
    let runtime: string[];
    let dev: string[] = [];
    if (/^nothing in the repo$/.test(phrase)) {
      runtime = [];
    } else if (/^nothing \((\w+) is a devDependency\)$/.test(phrase)) {
      // "nothing (codegen is a devDependency)": the word names a package by its first part.
      const word = /^nothing \((\w+) is a devDependency\)$/.exec(phrase)?.[1] ?? '';
      runtime = [];
      dev = rows.filter((r) => r.name.endsWith(`-${word}`) || r.name === word).map((r) => r.name);
      if (dev.length !== 1) throw new Error(`DESIGN.md: cannot tell which package '${word}' is`);
    } else if (phrase === 'anything') {
      runtime = rows.filter((r) => r.name !== row.name).map((r) => r.name);
    } else if (phrase === 'anything below') {
      if (row.level === null) throw new Error(`DESIGN.md: '${row.name}' has no level`);
      runtime = below(row.level);
    } else if (/^`[a-z0-9-]+`( and below)?(, `[a-z0-9-]+`( and below)?)*$/.test(phrase)) {
      // A list of terms: "`client`" names one package, "`client` and below" that package and
      // every level under it.
      runtime = [];
      for (const term of phrase.split(', ')) {
        const name = /^`([a-z0-9-]+)`/.exec(term)?.[1] as string;
        runtime.push(name);
        if (term.endsWith(' and below')) {
          const anchor = byName.get(name);
          if (anchor?.level == null) throw new Error(`DESIGN.md: '${term}' anchors on no level`);
          runtime.push(...below(anchor.level));
        }
      }
      runtime = [...new Set(runtime)];
    } else {
      throw new Error(
        `DESIGN.md: the layering check does not understand '${phrase}' (${row.name})`,
      );
    }
    // Test support (a row without a level that depends on nothing) serves every package's tests.
    dev.push(...testSupport(rows).filter((n) => n !== row.name));
    result.set(row.name, {
      runtime: new Set(runtime.map((n) => SCOPE + n)),
      dev: new Set(dev.map((n) => SCOPE + n)),
    });
  }
  return result;
}

/** The rows of test support: no level, and nothing in the repo to depend on. */
function testSupport(rows: readonly LayerRow[]): string[] {
  return rows
    .filter((r) => r.level === null && r.mayDependOn === 'nothing in the repo')
    .map((r) => r.name);
}

const SOURCE_FILE = /\.(m|c)?tsx?$|\.(m|c)?js$/;

function walk(dir: string, base: string, out: Array<{ path: string; text: string }>): void {
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry === 'dist' || entry === '.turbo') continue;
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) walk(full, base, out);
    else if (SOURCE_FILE.test(entry)) {
      out.push({
        path: relative(base, full).split(sep).join('/'),
        text: readFileSync(full, 'utf8'),
      });
    }
  }
}

/** Reads every package under `packagesDir` with its manifest and its source files. */
export function readPackages(packagesDir: string): PackageOnDisk[] {
  const result: PackageOnDisk[] = [];
  for (const entry of readdirSync(packagesDir).sort()) {
    const dir = resolve(packagesDir, entry);
    let manifestText: string;
    try {
      manifestText = readFileSync(join(dir, 'package.json'), 'utf8');
    } catch {
      continue;
    }
    const sources: Array<{ path: string; text: string }> = [];
    for (const sub of ['src', 'test', 'bench', 'bin']) {
      try {
        if (statSync(join(dir, sub)).isDirectory()) walk(join(dir, sub), dir, sources);
      } catch {
        // the folder does not exist
      }
    }
    result.push({ name: entry, dir, manifest: JSON.parse(manifestText), sources });
  }
  return result;
}

// import x from 'y' / import 'y' / export … from 'y' / import('y') / require('y')
const IMPORT_SPECIFIER =
  /^\s*(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)|\brequire\(\s*['"]([^'"]+)['"]\s*\)/gm;

export function importSpecifiers(text: string): string[] {
  // Comments may mention imports; strip them first (strings containing // are rare enough in
  // import positions that a line comment stripper is sufficient here).
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  return [...code.matchAll(IMPORT_SPECIFIER)].map((m) => (m[1] ?? m[2] ?? m[3] ?? m[4]) as string);
}

function packageOf(specifier: string): string | undefined {
  if (!specifier.startsWith(SCOPE)) return undefined;
  return specifier.split('/').slice(0, 2).join('/');
}

const isTestFile = (path: string) =>
  /\.test(-d)?\.[cm]?tsx?$/.test(path) || path.startsWith('test/') || path.startsWith('bench/');

/** Files allowed to behave as an application: the apps, and each package's own bin entry. */
function isAppCode(pkg: PackageOnDisk, path: string, appPackages: ReadonlySet<string>): boolean {
  if (appPackages.has(pkg.name)) return true;
  return path.startsWith('src/bin/') || path.startsWith('bin/');
}

/** Every violation of DESIGN.md's layering rules; an empty list means the house is in order. */
export function checkLayering(
  rows: readonly LayerRow[],
  packages: readonly PackageOnDisk[],
): string[] {
  const problems: string[] = [];
  const allowed = allowances(rows);
  const levelOf = new Map(rows.map((r) => [r.name, r.level]));
  // Levels 0-3 and test support are libraries; the apps (level 4) and the private conformance
  // suite are not.
  const support = new Set(testSupport(rows));
  const appPackages = new Set(
    rows
      .filter((r) => (r.level === null && !support.has(r.name)) || (r.level ?? 0) >= 4)
      .map((r) => r.name),
  );
  for (const pkg of packages) {
    const allow = allowed.get(pkg.name);
    if (allow === undefined) {
      problems.push(`packages/${pkg.name}: not in DESIGN.md's package table`);
      continue;
    }
    if (support.has(pkg.name) && pkg.manifest.private !== true) {
      problems.push(`packages/${pkg.name}: test support must be private (never published)`);
    }
    if (pkg.manifest.name !== SCOPE + pkg.name) {
      problems.push(`packages/${pkg.name}: package.json name must be '${SCOPE}${pkg.name}'`);
    }
    const runtimeDeps = {
      ...pkg.manifest.dependencies,
      ...pkg.manifest.peerDependencies,
      ...pkg.manifest.optionalDependencies,
    };
    const devDeps = pkg.manifest.devDependencies ?? {};
    const level = levelOf.get(pkg.name);
    const describe = (dep: string) => {
      const depLevel = levelOf.get(dep.slice(SCOPE.length));
      if (depLevel === undefined) return 'a package DESIGN.md does not list';
      if (level != null && depLevel != null && depLevel === level) return 'a sibling on its level';
      if (level != null && depLevel != null && depLevel > level) return 'a higher level';
      return 'a package its row does not allow';
    };
    for (const [dep, range] of Object.entries(runtimeDeps)) {
      if (!dep.startsWith(SCOPE)) continue;
      if (!allow.runtime.has(dep)) {
        problems.push(`packages/${pkg.name}: depends on ${dep}, ${describe(dep)}`);
      }
      if (range !== 'workspace:^') {
        problems.push(`packages/${pkg.name}: ${dep} must be 'workspace:^', not '${range}'`);
      }
    }
    for (const [dep, range] of Object.entries(devDeps)) {
      if (!dep.startsWith(SCOPE)) continue;
      if (!allow.runtime.has(dep) && !allow.dev.has(dep)) {
        problems.push(`packages/${pkg.name}: devDepends on ${dep}, ${describe(dep)}`);
      }
      if (range !== 'workspace:^') {
        problems.push(`packages/${pkg.name}: ${dep} must be 'workspace:^', not '${range}'`);
      }
    }
    const isLibrary = !appPackages.has(pkg.name);
    for (const file of pkg.sources) {
      const where = `packages/${pkg.name}/${file.path}`;
      const test = isTestFile(file.path);
      for (const spec of importSpecifiers(file.text)) {
        const dep = packageOf(spec);
        if (dep !== undefined) {
          if (dep === SCOPE + pkg.name) {
            problems.push(`${where}: imports its own package by name ('${spec}')`);
          } else if (!(dep in runtimeDeps) && !(test && dep in devDeps)) {
            problems.push(`${where}: imports ${spec}, which package.json does not declare`);
          }
        } else if (spec.startsWith('.')) {
          const target = resolve(pkg.dir, file.path, '..', spec);
          if (relative(pkg.dir, target).startsWith('..')) {
            problems.push(`${where}: relative import '${spec}' leaves the package`);
          }
        } else if (spec.startsWith('node:')) {
          if (
            isLibrary &&
            !test &&
            !file.path.startsWith('src/node/') &&
            !isAppCode(pkg, file.path, appPackages)
          ) {
            problems.push(`${where}: imports '${spec}' outside src/node/**`);
          }
        } else if (
          /^(fs|path|net|os|child_process|crypto|events|stream|url|util|tty|readline)(\/|$)/.test(
            spec,
          )
        ) {
          problems.push(`${where}: imports Node's '${spec}' without the 'node:' prefix`);
        }
      }
      if (!test && !isAppCode(pkg, file.path, appPackages)) {
        const code = file.text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
        for (const m of code.matchAll(/\bprocess\.(argv|env|exit)\b/g)) {
          problems.push(`${where}: uses process.${m[1]}; only the apps may`);
        }
      }
    }
    if (pkg.name === 'job-engine') {
      for (const file of pkg.sources.filter((f) => !isTestFile(f.path))) {
        const code = file.text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
        for (const m of code.matchAll(
          /\b(Date\.now|setTimeout|setInterval|setImmediate|Promise|async\s)/g,
        )) {
          problems.push(
            `packages/job-engine/${file.path}: uses ${m[1]?.trim()}; the engine is pure`,
          );
        }
      }
    }
  }
  return problems;
}
