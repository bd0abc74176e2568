// The runtime schema generated from QEMU 7.2's schema files must be what the real binaries
// return for query-qmp-schema (qemu-data/qapi-corpus/introspect). QEMU is the oracle.
//
// What the comparison normalises, and why: key order inside entries (QEMU builds the reply from
// hash tables; the order means nothing). Nothing else: entries are compared one by one by name
// (names include QEMU's masked type numbers, so the numbering must be identical), and member,
// variant and enum-value order inside an entry is compared as is; a further test checks that
// the entry order is QEMU's too.
//
// The corpus defines files lack two symbols the Debian builds define: both binaries'
// replies have `pmem` (`if: CONFIG_LIBPMEM`, MemoryBackendFileProperties) and `mptcp`
// (`if: HAVE_IPPROTO_MPTCP`, InetSocketAddress), so those symbols were defined when it was built.
// The test adds them and, separately, pins down that they are the only gap.

import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { generateSchemaInfo, type SchemaInfo } from '../src/emit/schema-info.js';
import type { Schema } from '../src/model.js';
import { parseSchema } from '../src/schema.js';
import { corpusDefines, corpusPath, readCorpusJson } from './corpus.js';

const MISSING_FROM_DEFINES_FILES = ['CONFIG_LIBPMEM', 'HAVE_IPPROTO_MPTCP'];

const targets = [
  { root: 'schema/qemu-7.2/qapi/qapi-schema.json', binary: 'qemu-system-x86_64' },
  { root: 'schema/qemu-7.2/storage-daemon/qapi/qapi-schema.json', binary: 'qemu-storage-daemon' },
];

const byName = (list: readonly SchemaInfo[]) => new Map(list.map((e) => [e.name, e]));

describe.each(targets)('$binary 7.2', ({ root, binary }) => {
  const schema: Schema = parseSchema(corpusPath(root), (p) => readFileSync(p, 'utf8'));
  const reply = readCorpusJson(`introspect/${binary}-7.2.json`) as SchemaInfo[];
  const definesFile = corpusDefines(`introspect/${binary}-7.2-defines.txt`);
  const defined = new Set([...definesFile, ...MISSING_FROM_DEFINES_FILES]);
  const { entries } = generateSchemaInfo(schema, { defined });

  test('the generated runtime schema equals the real reply, masked numbers included', () => {
    expect(entries.length).toBe(reply.length);
    expect(byName(entries)).toEqual(byName(reply));
  });

  test('the entries come in the real reply order', () => {
    expect(entries.map((e) => e.name)).toEqual(reply.map((e) => e.name));
  });

  test('with the defines file alone, only the two members of the missing symbols differ', () => {
    const alone = byName(generateSchemaInfo(schema, { defined: definesFile }).entries);
    const real = byName(reply);
    const missing: string[] = [];
    for (const [name, entry] of real) {
      const ours = alone.get(name);
      if (entry['meta-type'] !== 'object' || ours?.['meta-type'] !== 'object') {
        expect(ours).toEqual(entry);
        continue;
      }
      const have = new Set(ours.members.map((m) => m.name));
      for (const m of entry.members) if (!have.has(m.name)) missing.push(m.name);
    }
    expect(missing.sort()).toEqual(['mptcp', 'pmem']);
  });
});

// QEMU 10.0.2's storage daemon, checked by 10.0's front-end rules. The reply was recorded from
// Debian's 1:10.0.2+ds-2+deb13u1~bpo12+1 binary; its defines file is complete (no missing
// symbols), and conformance's qapi-introspection test compares with the running binary too.
describe('qemu-storage-daemon 10.0', () => {
  const schema = parseSchema(
    corpusPath('schema/qemu-10.0/storage-daemon/qapi/qapi-schema.json'),
    (p) => readFileSync(p, 'utf8'),
    { qemu: '10.0' },
  );
  const reply = readCorpusJson('introspect/qemu-storage-daemon-10.0.json') as SchemaInfo[];
  const defined = corpusDefines('introspect/qemu-storage-daemon-10.0-defines.txt');
  const { entries } = generateSchemaInfo(schema, { defined });

  test('the generated runtime schema equals the real reply, in its order', () => {
    expect(entries.length).toBe(reply.length);
    expect(byName(entries)).toEqual(byName(reply));
    expect(entries.map((e) => e.name)).toEqual(reply.map((e) => e.name));
  });

  test('the real 10.0 reply has what the real 7.2 reply lacks: block-job-change, actively-synced', () => {
    const has = (list: readonly SchemaInfo[]) => ({
      command: list.some((e) => e.name === 'block-job-change'),
      member: list.some(
        (e) => e['meta-type'] === 'object' && e.members.some((m) => m.name === 'actively-synced'),
      ),
    });
    expect(has(reply)).toEqual({ command: true, member: true });
    const reply72 = readCorpusJson('introspect/qemu-storage-daemon-7.2.json') as SchemaInfo[];
    expect(has(reply72)).toEqual({ command: false, member: false });
  });

  test("7.2's rules stop at the pragma 10.0 added", () => {
    expect(() =>
      parseSchema(corpusPath('schema/qemu-10.0/storage-daemon/qapi/qapi-schema.json'), (p) =>
        readFileSync(p, 'utf8'),
      ),
    ).toThrow(/pragma\.json:8:.*unknown pragma 'documentation-exceptions'/);
  });
});
