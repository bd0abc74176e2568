import { describe, expect, test } from 'vitest';
import { generateSchemaInfo, type SchemaInfo } from '../src/emit/schema-info.js';
import { QapiSchemaError } from '../src/errors.js';
import { schemaFromIntrospection } from '../src/introspection.js';
import { readCorpusJson } from './corpus.js';

const files = ['introspect/qemu-system-x86_64-7.2.json', 'introspect/qemu-storage-daemon-7.2.json'];

describe.each(files)('%s → model → runtime schema', (file) => {
  const reply = readCorpusJson(file) as SchemaInfo[];
  const schema = schemaFromIntrospection(reply, file);

  test('reproduces every entry of the reply exactly (key order aside)', () => {
    const { entries } = generateSchemaInfo(schema, { defined: new Set() });
    const byName = (list: SchemaInfo[]) => new Map(list.map((e) => [e.name, e]));
    expect(entries.length).toBe(reply.length);
    expect(byName(entries)).toEqual(byName(reply));
  });

  test("lists the entries in the reply order, unreachable types (QEMU's orphans) last", () => {
    const { entries } = generateSchemaInfo(schema, { defined: new Set() });
    const ours = entries.map((e) => e.name);
    // x86_64 has two orphans, "393" and "484" (reference §13.3): QEMU's walk met them through
    // compiled-out referrers that are absent from the reply, so ours meets them last. QEMU's walk
    // also met "483" first through "484"; ours meets it later, through another referrer.
    const orphans = file.includes('x86_64') ? ['393', '484'] : [];
    const moved = file.includes('x86_64') ? ['393', '483', '484'] : [];
    const keep = (n: string) => !moved.includes(n);
    expect(ours.filter(keep)).toEqual(reply.map((e) => e.name).filter(keep));
    expect(ours.slice(ours.length - orphans.length)).toEqual(orphans);
  });

  test('lists commands and events in the reply order', () => {
    const { entries } = generateSchemaInfo(schema, { defined: new Set() });
    const calls = (list: SchemaInfo[]) =>
      list
        .filter((e) => e['meta-type'] === 'command' || e['meta-type'] === 'event')
        .map((e) => e.name);
    expect(calls(entries)).toEqual(calls(reply));
  });
});

describe('the introspection front end', () => {
  test('counts what §13.2 of the reference counts for x86_64', () => {
    const schema = schemaFromIntrospection(readCorpusJson(files[0]!));
    expect(schema.commands.size).toBe(216);
    expect(schema.events.size).toBe(52);
    const kinds = [...schema.types.values()].map((t) =>
      t.kind === 'object' && t.variants ? 'union' : t.kind,
    );
    const count = (k: string) => kinds.filter((x) => x === k).length;
    expect([count('object') + count('union'), count('union'), count('enum')]).toEqual([
      553, 35, 132,
    ]);
    expect([count('alternate'), count('builtin')]).toEqual([6, 6]);
  });

  test('accepts a whole QMP response and reads enum values from `values` when `members` is missing', () => {
    const schema = schemaFromIntrospection({
      return: [
        { name: 'stop', 'meta-type': 'command', 'arg-type': '0', 'ret-type': '0' },
        { name: '0', 'meta-type': 'object', members: [] },
        { name: '1', 'meta-type': 'enum', values: ['a', 'b'] },
      ],
    });
    expect(schema.types.get('1')).toMatchObject({
      kind: 'enum',
      values: [{ name: 'a' }, { name: 'b' }],
    });
  });

  test.each([
    [{}, 'expected a JSON array'],
    [
      [{ name: 'x', 'meta-type': 'command', 'arg-type': '9', 'ret-type': '9' }],
      "type '9' is not listed",
    ],
    [[{ name: 'x', 'meta-type': 'weird' }], "unknown meta-type 'weird'"],
    [[{ name: '[1]', 'meta-type': 'array', 'element-type': '2' }], "array name must be '[2]'"],
    [
      [
        { name: '1', 'meta-type': 'enum', members: [] },
        { name: '1', 'meta-type': 'enum', members: [] },
      ],
      "duplicate name '1'",
    ],
  ])('rejects %j', (input, message) => {
    expect(() => schemaFromIntrospection(input, 'in.json')).toThrow(QapiSchemaError);
    expect(() => schemaFromIntrospection(input, 'in.json')).toThrow(message);
  });

  test('does not let a `__proto__` key change anything', () => {
    const reply = JSON.parse(
      '[{"name":"c","meta-type":"command","arg-type":"0","ret-type":"0","__proto__":{"x":1}},{"name":"0","meta-type":"object","members":[]}]',
    );
    const schema = schemaFromIntrospection(reply);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    expect(schema.commands.get('c')?.argType).toBe('0');
  });
});
