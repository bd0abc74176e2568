import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  allowances,
  checkLayering,
  importSpecifiers,
  type PackageOnDisk,
  parseLayerTable,
  readPackages,
} from '../src/layering.js';
import { designFile, repoRoot } from '../src/repo.js';

const design = readFileSync(designFile, 'utf8');
const rows = parseLayerTable(design);

describe('the level table of DESIGN.md', () => {
  test('has every package DESIGN.md names, with its level', () => {
    expect(rows.map((r) => [r.name, r.level])).toEqual([
      ['qapi-codegen', 0],
      ['qapi-types', 0],
      ['job-engine', 1],
      ['protocol', 1],
      ['nbd', 2],
      ['client', 2],
      ['server', 2],
      ['block-job-sim', 3],
      ['dashboard', 3],
      ['server-app', 4],
      ['cli', 4],
      ['test-support', null],
      ['conformance', null],
    ]);
  });

  test('reads each "may depend on" phrase as DESIGN.md means it', () => {
    const a = allowances(rows);
    const names = (n: string) => [...(a.get(n)?.runtime ?? [])].sort();
    expect(names('qapi-codegen')).toEqual([]);
    expect(names('qapi-types')).toEqual([]);
    expect([...(a.get('qapi-types')?.dev ?? [])]).toEqual([
      '@qmpkit/qapi-codegen',
      '@qmpkit/test-support',
    ]);
    expect([...(a.get('protocol')?.dev ?? [])]).toEqual(['@qmpkit/test-support']);
    expect([...(a.get('test-support')?.dev ?? [])]).toEqual([]);
    expect(names('test-support')).toEqual([]);
    expect(names('client')).toEqual(['@qmpkit/protocol', '@qmpkit/qapi-types']);
    expect(names('nbd')).toEqual(['@qmpkit/protocol']);
    expect(names('protocol')).toEqual([]);
    expect(names('block-job-sim')).toEqual([
      '@qmpkit/job-engine',
      '@qmpkit/nbd',
      '@qmpkit/protocol',
      '@qmpkit/qapi-types',
      '@qmpkit/server',
    ]);
    expect(names('dashboard')).toEqual([
      '@qmpkit/client',
      '@qmpkit/job-engine',
      '@qmpkit/protocol',
      '@qmpkit/qapi-codegen',
      '@qmpkit/qapi-types',
    ]);
    expect(names('cli')).toEqual([
      '@qmpkit/client',
      '@qmpkit/dashboard',
      '@qmpkit/job-engine',
      '@qmpkit/protocol',
      '@qmpkit/qapi-codegen',
      '@qmpkit/qapi-types',
    ]);
    expect(names('server-app')).not.toContain('@qmpkit/cli');
    expect(names('conformance')).toContain('@qmpkit/cli');
  });
});

describe('the packages on disk', () => {
  const packages = readPackages(resolve(repoRoot, 'packages'));

  test('follow the layering rules', () => {
    const problems = checkLayering(rows, packages);
    expect(problems).toEqual([]);
  });

  test('a source file over 800 lines says in its header why it stays one piece', () => {
    const unexplained: string[] = [];
    for (const pkg of packages) {
      for (const { path, text } of pkg.sources) {
        if (/\.generated\.|__snapshots__\//.test(path)) continue;
        const lines = text.split('\n');
        if (lines.length <= 800) continue;
        if (!lines.slice(0, 40).some((line) => /One (?:piece|file) on purpose/.test(line))) {
          unexplained.push(`${pkg.name}/${path} (${lines.length} lines)`);
        }
      }
    }
    expect(unexplained).toEqual([]);
  });

  test('an entry point lists its exports by name', () => {
    // The one wholesale re-export: qapi-types' root is the 10.0 entry point, itself a list.
    const allowed = new Set(['qapi-types/src/index.ts']);
    const wholesale: string[] = [];
    for (const pkg of packages) {
      for (const { path, text } of pkg.sources) {
        if (!/^src\/(?:[^/]+\/)?index\.ts$/.test(path)) continue;
        if (/^export \*/m.test(text) && !allowed.has(`${pkg.name}/${path}`)) {
          wholesale.push(`${pkg.name}/${path}`);
        }
      }
    }
    expect(wholesale).toEqual([]);
  });
});

describe('the checker itself', () => {
  const pkg = (name: string, extra: Partial<PackageOnDisk> = {}): PackageOnDisk => ({
    name,
    dir: `/repo/packages/${name}`,
    manifest: { name: `@qmpkit/${name}` },
    sources: [],
    ...extra,
  });

  test('refuses a sibling dependency on the same level', () => {
    const client = pkg('client', {
      manifest: { name: '@qmpkit/client', dependencies: { '@qmpkit/server': 'workspace:^' } },
    });
    expect(checkLayering(rows, [client])).toEqual([
      'packages/client: depends on @qmpkit/server, a sibling on its level',
    ]);
  });

  test('lets any package take test support for its tests only, and keeps it private', () => {
    const nbd = pkg('nbd', {
      manifest: {
        name: '@qmpkit/nbd',
        devDependencies: { '@qmpkit/test-support': 'workspace:^' },
      },
      sources: [
        { path: 'test/a.test.ts', text: "import { until } from '@qmpkit/test-support';\n" },
        { path: 'src/b.ts', text: "import { until } from '@qmpkit/test-support';\n" },
      ],
    });
    const client = pkg('client', {
      manifest: {
        name: '@qmpkit/client',
        dependencies: { '@qmpkit/test-support': 'workspace:^' },
      },
    });
    const published = pkg('test-support', {
      manifest: { name: '@qmpkit/test-support', private: false },
    });
    expect(checkLayering(rows, [nbd, client, published])).toEqual([
      'packages/nbd/src/b.ts: imports @qmpkit/test-support, which package.json does not declare',
      'packages/client: depends on @qmpkit/test-support, a package its row does not allow',
      'packages/test-support: test support must be private (never published)',
    ]);
  });

  test('refuses a dependency on a higher level', () => {
    const engine = pkg('job-engine', {
      manifest: { name: '@qmpkit/job-engine', dependencies: { '@qmpkit/server': 'workspace:^' } },
    });
    expect(checkLayering(rows, [engine])).toEqual([
      'packages/job-engine: depends on @qmpkit/server, a higher level',
    ]);
  });

  test('refuses an import the manifest does not declare, and one by relative path', () => {
    const client = pkg('client', {
      sources: [
        { path: 'src/a.ts', text: "import { x } from '@qmpkit/protocol';\n" },
        { path: 'src/b.ts', text: "export * from '../../protocol/src/index.js';\n" },
      ],
    });
    expect(checkLayering(rows, [client])).toEqual([
      'packages/client/src/a.ts: imports @qmpkit/protocol, which package.json does not declare',
      "packages/client/src/b.ts: relative import '../../protocol/src/index.js' leaves the package",
    ]);
  });

  test('keeps node: imports in src/node/** and process.* in the apps', () => {
    const protocol = pkg('protocol', {
      sources: [
        { path: 'src/codec.ts', text: "import { Socket } from 'node:net';\n" },
        { path: 'src/node/socket.ts', text: "import { Socket } from 'node:net';\n" },
        { path: 'src/x.ts', text: 'const a = process.env.HOME;\n' },
      ],
    });
    const app = pkg('server-app', {
      sources: [
        { path: 'src/main.ts', text: "import 'node:fs';\nprocess.exit(process.argv.length);\n" },
      ],
    });
    expect(checkLayering(rows, [protocol, app])).toEqual([
      "packages/protocol/src/codec.ts: imports 'node:net' outside src/node/**",
      'packages/protocol/src/x.ts: uses process.env; only the apps may',
    ]);
  });

  test('keeps the job engine free of timers, promises and clocks', () => {
    const engine = pkg('job-engine', {
      sources: [{ path: 'src/engine.ts', text: 'export const t = Date.now();\n' }],
    });
    expect(checkLayering(rows, [engine])).toEqual([
      'packages/job-engine/src/engine.ts: uses Date.now; the engine is pure',
    ]);
  });

  test('flags a package DESIGN.md does not list', () => {
    expect(checkLayering(rows, [pkg('utils')])).toEqual([
      "packages/utils: not in DESIGN.md's package table",
    ]);
  });

  test('finds the specifiers of every import form', () => {
    const text = [
      "import a from 'a';",
      "import { b } from 'b';",
      "import type { C } from 'c';",
      "export { d } from 'd';",
      "export * from 'e';",
      "import 'f';",
      "const g = await import('g');",
      "// import x from 'not-me';",
    ].join('\n');
    expect(importSpecifiers(text)).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
  });
});
