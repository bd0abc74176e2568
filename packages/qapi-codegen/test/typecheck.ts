// Type-checks generated modules with the repository's tsc under our strict settings.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const tscBin = join(dirname(require.resolve('typescript/package.json')), 'bin', 'tsc');
const baseConfig = fileURLToPath(new URL('../../../tsconfig.base.json', import.meta.url));

/** Writes `files` into a fresh directory and runs tsc --noEmit on them; returns tsc's output. */
export function typecheck(files: Record<string, string>): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'qapi-codegen-tsc-'));
  try {
    return typecheckIn(dir, files);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function typecheckIn(dir: string, files: Record<string, string>): { ok: boolean; output: string } {
  const base = JSON.parse(readFileSync(baseConfig, 'utf8')) as { compilerOptions: object };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        ...base.compilerOptions,
        types: [],
        noEmit: true,
        declaration: false,
        declarationMap: false,
        sourceMap: false,
      },
      files: Object.keys(files),
    }),
  );
  const run = spawnSync(process.execPath, [tscBin, '-p', join(dir, 'tsconfig.json')], {
    encoding: 'utf8',
  });
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` };
}
