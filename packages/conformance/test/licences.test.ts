// MIT at run time: no MIT package loads GPL code. From every entry point an MIT package
// publishes, follow the import graph of its built JavaScript (dist/, what users run; `import
// type` is gone there) through relative imports and into the @qmpkit packages it imports by
// name, and fail on any module that belongs to a GPL package (its package.json's `license`).
import { existsSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { entryPoints, isGpl, owner, packages, reachable } from '../src/import-graph.js';
import { repoRoot } from '../src/repo.js';

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
      .filter(([file]) => !file.startsWith('node:') && isGpl(owner(file)))
      .map(([, path]) => path.map((f) => f.slice(repoRoot.length + 1)).join(' → '));
    expect(gpl).toEqual([]);
  });

  test('the walk does see a runtime import of the GPL package (qmpkit-server embeds it)', () => {
    const app = packages.find((p) => p.manifest.name === '@qmpkit/server-app');
    if (app === undefined) throw new Error('server-app not found');
    const files = [...reachable(entryPoints(app.dir, app.manifest)).keys()];
    expect(
      files.some((f) => !f.startsWith('node:') && owner(f).name === '@qmpkit/qapi-types'),
    ).toBe(true);
  });
});
