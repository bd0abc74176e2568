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
const codegenManifest = JSON.parse(readFileSync(join(codegenDir, 'package.json'), 'utf8')) as {
  bin: { 'qapi-codegen': string };
};
const bin = join(codegenDir, codegenManifest.bin['qapi-codegen']);
const out = mkdtempSync(join(tmpdir(), 'qapi-types-drift-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

test('src/generated is up to date for every QEMU version (if not: run pnpm codegen)', () => {
  const manifest = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as {
    scripts: { codegen: string };
  };
  // One qapi-codegen command per version, joined with &&.
  const commands = manifest.scripts.codegen.split(/\s*&&\s*/);
  const dirs: string[] = [];
  for (const command of commands) {
    const [program, ...args] = command.split(/\s+/);
    expect(program).toBe('qapi-codegen');
    const outAt = args.indexOf('--out');
    const dir = args[outAt + 1] as string;
    expect(dir).toMatch(/^src\/generated\/qemu-\d+\.\d+$/);
    dirs.push(dir);
    args[outAt + 1] = join(out, dir);
    execFileSync(process.execPath, [bin, ...args], { cwd: pkgDir, stdio: 'pipe' });
  }
  expect(dirs.sort()).toEqual(['src/generated/qemu-10.0', 'src/generated/qemu-7.2']);
  expect(readdirSync(join(pkgDir, 'src/generated')).sort()).toEqual(['qemu-10.0', 'qemu-7.2']);

  for (const dir of dirs) {
    const committed = readdirSync(join(pkgDir, dir)).sort();
    expect(readdirSync(join(out, dir)).sort()).toEqual(committed);
    for (const file of committed) {
      const fresh = readFileSync(join(out, dir, file), 'utf8');
      const kept = readFileSync(join(pkgDir, dir, file), 'utf8');
      expect(
        fresh === kept,
        `${dir}/${file} differs from a fresh generation: run pnpm codegen`,
      ).toBe(true);
    }
  }
});
