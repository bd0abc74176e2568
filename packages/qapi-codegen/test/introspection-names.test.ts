import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { generateSchemaInfo } from '../src/emit/schema-info.js';
import { emitTypeScript } from '../src/emit/typescript.js';
import { schemaFromIntrospection } from '../src/introspection.js';
import { mapIntrospectionNames } from '../src/introspection-names.js';
import { parseSchema } from '../src/schema.js';
import { corpusDefines, corpusPath, readCorpusJson } from './corpus.js';
import { typecheck } from './typecheck.js';

// Reference §13.3: the parallel walk recovers 689 of the 691 numbered x86_64 types (all but the
// two unreachable orphans "393" and "484") and all 362 of qemu-storage-daemon's, without conflict.
describe.each([
  ['qemu-system-x86_64', 'schema/qemu-7.2/qapi/qapi-schema.json', 691, 689],
  ['qemu-storage-daemon', 'schema/qemu-7.2/storage-daemon/qapi/qapi-schema.json', 362, 362],
])('%s 7.2: masked numbers → schema names', (binary, root, numbered, mapped) => {
  const intro = schemaFromIntrospection(readCorpusJson(`introspect/${binary}-7.2.json`));
  const source = parseSchema(corpusPath(root), (p) => readFileSync(p, 'utf8'));
  const { names, conflicts } = mapIntrospectionNames(intro, source);

  test('maps every reachable numbered type, without conflict', () => {
    const numberedNames = [...intro.types.keys()].filter((n) => /^\d+$/.test(n));
    expect(numberedNames).toHaveLength(numbered);
    expect(names.size).toBe(mapped);
    expect(conflicts).toEqual([]);
    if (binary === 'qemu-system-x86_64') {
      expect(numberedNames.filter((n) => !names.has(n)).sort()).toEqual(['393', '484']);
    }
  });

  test('agrees with the numbering the runtime-schema emitter gives the schema files', () => {
    const defined = new Set([
      ...corpusDefines(`introspect/${binary}-7.2-defines.txt`),
      'CONFIG_LIBPMEM',
      'HAVE_IPPROTO_MPTCP',
    ]);
    const { typeNames } = generateSchemaInfo(source, { defined }).extras;
    for (const [masked, real] of names) expect([masked, typeNames[masked]]).toEqual([masked, real]);
  });
});

test('with the names, introspection input gives schema-named types that type-check', () => {
  const intro = schemaFromIntrospection(readCorpusJson('introspect/qemu-storage-daemon-7.2.json'));
  const source = parseSchema(
    corpusPath('schema/qemu-7.2/storage-daemon/qapi/qapi-schema.json'),
    (p) => readFileSync(p, 'utf8'),
  );
  const { names } = mapIntrospectionNames(intro, source);
  const ts = emitTypeScript(intro, { source: 'qsd.json', realNames: names });
  expect(ts).toContain("  'query-jobs': { args: QmpEmpty; ret: JobInfo[] };");
  expect(ts).toContain('  JOB_STATUS_CHANGE: JobStatusChangeEventData;');
  expect(ts).toContain("  'blockdev-add': { args: BlockdevOptions; ret: QmpEmpty };");
  expect(ts).toMatch(
    /export interface JobInfo \{\n {2}id: string;\n {2}type: JobType;\n {2}status: JobStatus;/,
  );
  const usage = `import type { CommandMap, JobInfo } from './types.js';
export const j: JobInfo = { id: 'a', type: 'mirror', status: 'ready', 'current-progress': 1, 'total-progress': 2 };
export const p: CommandMap['job-pause']['args'] = { id: 'a' };
`;
  expect(typecheck({ 'types.ts': ts, 'usage.ts': usage }).output).toBe('');
});
