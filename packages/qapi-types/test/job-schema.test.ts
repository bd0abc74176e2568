// The seed schema qemu-data/qapi-corpus/schema/job.json: a snapshot of its generated TypeScript,
// plus checks whose expectations come from the schema file itself, not from our output.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { emitTypeScript, parseSchema } from '@qmpkit/qapi-codegen';
import { describe, expect, test } from 'vitest';

const jobJson = fileURLToPath(
  new URL('../../../qemu-data/qapi-corpus/schema/job.json', import.meta.url),
);
const schemaText = readFileSync(jobJson, 'utf8');

/** An enum's values as written in the schema file, read with a regular expression. */
function enumValuesInFile(name: string): string[] {
  const m = new RegExp(`\\{ 'enum': '${name}',\\s*'data': \\[([^\\]]*)\\]`).exec(schemaText);
  if (m === null) throw new Error(`enum ${name} not found in job.json`);
  return [...m[1]!.matchAll(/'([^']*)'/g)].map((v) => v[1]!);
}

describe('job.json', () => {
  const ts = emitTypeScript(
    parseSchema(jobJson, (p) => readFileSync(p, 'utf8')),
    { source: 'qapi-corpus/schema/job.json', defined: new Set() },
  );

  test('generates the TypeScript in the snapshot', async () => {
    await expect(ts).toMatchFileSnapshot('./__snapshots__/job.types.ts');
  });

  test.each(['JobType', 'JobStatus', 'JobVerb'])(
    '%s lists the values of the schema file',
    async (name) => {
      // The snapshot is the generated module: load it and read its const arrays.
      const generated = (await import('./__snapshots__/job.types.js')) as Record<string, unknown>;
      const values = generated[name];
      expect(values).toEqual(enumValuesInFile(name));
    },
  );

  test('every command of the schema file is in CommandMap', () => {
    const commands = [...schemaText.matchAll(/\{ 'command': '([^']+)'/g)].map((m) => m[1]!);
    expect(commands.length).toBeGreaterThan(5);
    for (const c of commands) expect(ts).toContain(`  '${c}': { args: `);
  });
});
