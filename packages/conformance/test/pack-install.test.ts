// Every published package installs on its own, as users install it: pack each one with pnpm
// (which rewrites `workspace:^` and applies `publishConfig`), install the tarballs into an empty
// project outside the workspace with npm, import every entry of each `exports` map, run each bin,
// and let publint inspect what was installed.

import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { HANG_GUARD_MS } from '@qmpkit/test-support';
import { publint } from 'publint';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { repoRoot } from '../src/repo.js';

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  license?: string;
  exports?: Record<string, unknown>;
  bin?: string | Record<string, string>;
}

const packagesDir = resolve(repoRoot, 'packages');
const published = readdirSync(packagesDir)
  .map((dir) => ({
    dir: join(packagesDir, dir),
    manifestPath: join(packagesDir, dir, 'package.json'),
  }))
  .filter(({ manifestPath }) => existsSync(manifestPath))
  .map(({ dir, manifestPath }) => ({
    dir,
    manifest: JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest,
  }))
  .filter(({ manifest }) => manifest.private !== true);

let project: string;

beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'qmpkit-pack-'));
  const tarballs = join(project, 'tarballs');
  mkdirSync(tarballs);
  for (const { dir, manifest } of published) {
    if (!existsSync(join(dir, 'dist'))) {
      throw new Error(`${manifest.name} has no dist/: run 'pnpm build' before this test`);
    }
    execFileSync('pnpm', ['pack', '--pack-destination', tarballs], { cwd: dir, stdio: 'pipe' });
  }
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'qmpkit-pack-check', private: true, type: 'module' }),
  );
  const files = readdirSync(tarballs).map((f) => join(tarballs, f));
  execFileSync(
    'npm',
    ['install', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error', ...files],
    { cwd: project, stdio: 'pipe' },
  );
}, 3 * HANG_GUARD_MS);

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

test('there are published packages to check', () => {
  expect(published.length).toBeGreaterThan(0);
});

describe.each(published.map((p) => [p.manifest.name, p] as const))('%s', (name, { manifest }) => {
  const installedDir = () => join(project, 'node_modules', ...name.split('/'));
  const installedManifest = () =>
    JSON.parse(readFileSync(join(installedDir(), 'package.json'), 'utf8')) as Manifest;

  test('states its licence', () => {
    expect(manifest.license).toMatch(/^(MIT|GPL-2\.0-or-later)$/);
  });

  test('publishes no source-only export condition and no workspace: ranges', () => {
    const text = readFileSync(join(installedDir(), 'package.json'), 'utf8');
    expect(text).not.toContain('qmpkit-source');
    expect(text).not.toContain('workspace:');
  });

  test('imports every entry of its exports map from the installed copy', () => {
    const entries = Object.keys(installedManifest().exports ?? { '.': null }).filter(
      (k) => !k.endsWith('.json'),
    );
    expect(entries.length).toBeGreaterThan(0);
    for (const entry of entries) {
      const specifier = entry === '.' ? name : `${name}/${entry.slice(2)}`;
      const out = execFileSync(
        'node',
        [
          '--input-type=module',
          '-e',
          `const m = await import(${JSON.stringify(specifier)}); console.log(Object.keys(m).length);`,
        ],
        { cwd: project, encoding: 'utf8' },
      );
      expect(Number(out.trim()), `${specifier} exports something`).toBeGreaterThan(0);
    }
  });

  test('runs each of its bins', () => {
    const bin = installedManifest().bin;
    const bins =
      typeof bin === 'string' ? [name.split('/').pop() as string] : Object.keys(bin ?? {});
    for (const command of bins) {
      const out = execFileSync(join(project, 'node_modules', '.bin', command), ['--help'], {
        cwd: project,
        encoding: 'utf8',
      });
      expect(out, `${command} --help`).toMatch(/usage/i);
    }
  });

  test('publint finds nothing', async () => {
    const { messages } = await publint({
      pkgDir: installedDir(),
      strict: true,
      level: 'suggestion',
    });
    expect(messages).toEqual([]);
  });
});
