// The built import graph of the workspace's packages: what a module loads at run time, followed
// from a package's published entry points through relative imports and into the @qmpkit
// packages it imports by name (resolved through their published `exports`, as for a user).
// `import type` is gone from dist/, so every import here is a runtime one.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { importSpecifiers } from './layering.js';
import { repoRoot } from './repo.js';

export interface Manifest {
  name: string;
  license?: string;
  private?: boolean;
  exports?: Record<string, unknown>;
  publishConfig?: { exports?: Record<string, unknown> };
  bin?: string | Record<string, string>;
}

const packagesDir = join(repoRoot, 'packages');
export const packages = readdirSync(packagesDir)
  .filter((d) => existsSync(join(packagesDir, d, 'package.json')))
  .map((d) => ({
    dir: join(packagesDir, d),
    manifest: JSON.parse(readFileSync(join(packagesDir, d, 'package.json'), 'utf8')) as Manifest,
  }));

const byName = new Map(packages.map((p) => [p.manifest.name, p]));

/** Where `@qmpkit/x/sub` leads for a user: the published `exports` of that package. */
export function resolvePackage(spec: string): string {
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
export function owner(file: string): Manifest {
  let dir = dirname(file);
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
}

export const isGpl = (m: Manifest) => /^GPL/.test(m.license ?? '');

/** The built entry points a package publishes: its `exports` and its bins. */
export function entryPoints(dir: string, manifest: Manifest): string[] {
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
export function reachable(entries: readonly string[]): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const queue: Array<[string, string[]]> = entries.map((e) => [e, [e]]);
  while (queue.length > 0) {
    const [file, path] = queue.shift() as [string, string[]];
    if (seen.has(file)) continue;
    seen.set(file, path);
    if (!file.endsWith('.js')) continue; // node:… builtins and JSON end the walk
    const text = readFileSync(file, 'utf8');
    for (const spec of importSpecifiers(text)) {
      if (spec.startsWith('node:')) {
        queue.push([spec, [...path, spec]]);
        continue;
      }
      let target: string;
      if (spec.startsWith('.')) target = resolve(dirname(file), spec);
      else if (spec.startsWith('@qmpkit/')) target = resolvePackage(spec);
      else continue; // third-party packages are checked by their own licence, not here
      queue.push([target, [...path, target]]);
    }
  }
  return seen;
}
