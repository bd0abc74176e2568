// The committed src/generated must be exactly what `pnpm codegen` produces now. The test runs
// the package's own `codegen` script command line through the qapi-codegen bin, writing into a
// temporary directory instead of src/generated, and compares every file.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, test } from 'vitest';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const codegenDir = dirname(
  createRequire(import.meta.url).resolve('@qmpkit/qapi-codegen/package.json'),
);
const bin = join(codegenDir, 'dist/bin/qapi-codegen.js');
const out = mkdtempSync(join(tmpdir(), 'qapi-types-drift-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

test('src/generated is up to date (if not: run pnpm codegen)', () => {
  const manifest = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as {
    scripts: { codegen: string };
  };
  const [program, ...args] = manifest.scripts.codegen.split(/\s+/);
  expect(program).toBe('qapi-codegen');
  const outAt = args.indexOf('--out');
  expect(args[outAt + 1]).toBe('src/generated');
  args[outAt + 1] = out;
  execFileSync(process.execPath, [bin, ...args], { cwd: pkgDir, stdio: 'pipe' });

  const committed = readdirSync(join(pkgDir, 'src/generated')).sort();
  expect(readdirSync(out).sort()).toEqual(committed);
  for (const file of committed) {
    const fresh = readFileSync(join(out, file), 'utf8');
    const kept = readFileSync(join(pkgDir, 'src/generated', file), 'utf8');
    expect(fresh === kept, `${file} differs from a fresh generation: run pnpm codegen`).toBe(true);
  }
});
