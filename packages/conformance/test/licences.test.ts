// MIT at run time: no MIT package loads GPL code. From every entry point an MIT package
// publishes, follow the import graph of its built JavaScript (dist/, what users run; `import
// type` is gone there) through relative imports and into the @qmpkit packages it imports by
// name, and fail on any module that belongs to a GPL package (its package.json's `license`).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { importSpecifiers } from '../src/layering.js';
import { repoRoot } from '../src/repo.js';

interface Manifest {
  name: string;
  license?: string;
  private?: boolean;
  exports?: Record<string, unknown>;
  publishConfig?: { exports?: Record<string, unknown> };
  bin?: string | Record<string, string>;
}

const packagesDir = join(repoRoot, 'packages');
const packages = readdirSync(packagesDir)
  .filter((d) => existsSync(join(packagesDir, d, 'package.json')))
  .map((d) => ({
    dir: join(packagesDir, d),
    manifest: JSON.parse(readFileSync(join(packagesDir, d, 'package.json'), 'utf8')) as Manifest,
  }));

const byName = new Map(packages.map((p) => [p.manifest.name, p]));

/** Where `@qmpkit/x/sub` leads for a user: the published `exports` of that package. */
function resolvePackage(spec: string): string {
  const [scope, name, ...rest] = spec.split('/');
  const pkg = byName.get(`${scope}/${name}`);
  if (pkg === undefined) throw new Error(`${spec}: no such package in the workspace`);
  const key = rest.length === 0 ? '.' : `./${rest.join('/')}`;
  const exportsMap = pkg.manifest.publishConfig?.exports ?? pkg.manifest.exports ?? {};
  const target = exportsMap[key];
  const file = typeof target === 'string' ? target : (target as { default?: string }).default;
  if (file === undefined) throw new Error(`${spec}: not exported`);
  return resolve(pkg.dir, file);
}

/** The package a file belongs to: the nearest package.json above it. */
function owner(file: string): Manifest {
  let dir = dirname(file);
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
}

const isGpl = (m: Manifest) => /^GPL/.test(m.license ?? '');

/** The built entry points a package publishes: its `exports` and its bins. */
function entryPoints(dir: string, manifest: Manifest): string[] {
  const entries: string[] = [];
  const exportsMap = manifest.publishConfig?.exports ?? manifest.exports ?? {};
  for (const [key, target] of Object.entries(exportsMap)) {
    if (key === './package.json') continue;
    const file = typeof target === 'string' ? target : (target as { default?: string }).default;
    if (file !== undefined) entries.push(resolve(dir, file));
  }
  const bins =
    typeof manifest.bin === 'string' ? [manifest.bin] : Object.values(manifest.bin ?? {});
  for (const bin of bins) entries.push(resolve(dir, bin));
  return entries;
}

/** Every module reachable from `entries` at run time, with the path that reached it. */
function reachable(entries: readonly string[]): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const queue: Array<[string, string[]]> = entries.map((e) => [e, [e]]);
  while (queue.length > 0) {
    const [file, path] = queue.shift() as [string, string[]];
    if (seen.has(file)) continue;
    seen.set(file, path);
    if (!file.endsWith('.js')) continue;
    const text = readFileSync(file, 'utf8');
    for (const spec of importSpecifiers(text)) {
      if (spec.startsWith('node:')) continue;
      let target: string;
      if (spec.startsWith('.')) target = resolve(dirname(file), spec);
      else if (spec.startsWith('@qmpkit/')) target = resolvePackage(spec);
      else continue; // third-party packages are checked by their own licence, not here
      queue.push([target, [...path, target]]);
    }
  }
  return seen;
}

const mitPackages = packages.filter((p) => !p.manifest.private && p.manifest.license === 'MIT');

describe('MIT packages load no GPL module at run time', () => {
  test('there are MIT packages and a GPL one to keep apart', () => {
    expect(mitPackages.map((p) => p.manifest.name)).toContain('@qmpkit/client');
    expect(packages.filter((p) => isGpl(p.manifest)).map((p) => p.manifest.name)).toContain(
      '@qmpkit/qapi-types',
    );
  });

  test.each(mitPackages.map((p) => [p.manifest.name, p] as const))('%s', (_name, pkg) => {
    const entries = entryPoints(pkg.dir, pkg.manifest);
    expect(entries.length).toBeGreaterThan(0);
    for (const entry of entries) expect(existsSync(entry), `${entry} (run pnpm build)`).toBe(true);
    const gpl = [...reachable(entries)]
      .filter(([file]) => isGpl(owner(file)))
      .map(([, path]) => path.map((f) => f.slice(repoRoot.length + 1)).join(' → '));
    expect(gpl).toEqual([]);
  });

  test('the walk does see a runtime import of the GPL package (qmpkit-server embeds it)', () => {
    const app = packages.find((p) => p.manifest.name === '@qmpkit/server-app');
    if (app === undefined) throw new Error('server-app not found');
    const files = [...reachable(entryPoints(app.dir, app.manifest)).keys()];
    expect(files.some((f) => owner(f).name === '@qmpkit/qapi-types')).toBe(true);
  });
});
