// The committed src/generated must be exactly what `pnpm codegen` produces now.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateFiles, parseCliArgs, RUNTIME_FILE, TYPES_FILE } from '@qmpkit/qapi-codegen';
import { expect, test } from 'vitest';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));

test('src/generated is up to date (if not: run pnpm codegen)', () => {
  const manifest = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as {
    scripts: { codegen: string };
  };
  // Run the codegen script's own arguments (relative to this package), into a temp dir.
  const [program, ...args] = manifest.scripts.codegen.split(/\s+/);
  expect(program).toBe('qapi-codegen');
  const cmd = parseCliArgs(args);
  if (cmd.help) throw new Error('the codegen script asks for help');
  const out = mkdtempSync(join(tmpdir(), 'qapi-types-drift-'));
  generateFiles({
    input: resolve(pkgDir, cmd.input),
    sourceName: cmd.input,
    outDir: out,
    defines: cmd.defines,
    definesFiles: cmd.definesFiles.map((f) => resolve(pkgDir, f)),
    prefix: cmd.prefix,
  });
  for (const file of [TYPES_FILE, RUNTIME_FILE]) {
    const committed = readFileSync(resolve(pkgDir, cmd.outDir, `${cmd.prefix}${file}`), 'utf8');
    const fresh = readFileSync(join(out, `${cmd.prefix}${file}`), 'utf8');
    expect(fresh === committed, `${file} differs from a fresh generation: run pnpm codegen`).toBe(
      true,
    );
  }
});
