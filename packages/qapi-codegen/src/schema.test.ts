// The model the front end builds, checked against what QEMU 7.2's scripts/qapi/schema.py builds
// for the same input (docs/devel/qapi-code-gen.rst and docs/reference/qapi-schema.md §3–§4).

import { describe, expect, test } from 'vitest';
import { QapiSchemaError } from './errors.js';
import type { ObjectType } from './model.js';
import { parseSchema } from './schema.js';

function schemaOf(text: string) {
  return parseSchema('t.json', (path) => {
    if (path !== 't.json') throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    return text;
  });
}

function errorOf(text: string): QapiSchemaError {
  try {
    schemaOf(text);
  } catch (err) {
    expect(err).toBeInstanceOf(QapiSchemaError);
    return err as QapiSchemaError;
  }
  throw new Error('expected an error');
}

describe('predefined types', () => {
  const schema = schemaOf('');

  test('builtins carry their JSON type and integer kind', () => {
    const table = [...schema.types.values()]
      .filter((t) => t.kind === 'builtin')
      .map((t) => [
        t.name,
        t.kind === 'builtin' ? t.jsonType : '',
        t.kind === 'builtin' ? t.intKind : '',
      ]);
    expect(table).toEqual([
      ['str', 'string', undefined],
      ['number', 'number', undefined],
      ['int', 'int', 'int'],
      ['int8', 'int', 'int8'],
      ['int16', 'int', 'int16'],
      ['int32', 'int', 'int32'],
      ['int64', 'int', 'int64'],
      ['uint8', 'int', 'uint8'],
      ['uint16', 'int', 'uint16'],
      ['uint32', 'int', 'uint32'],
      ['uint64', 'int', 'uint64'],
      ['size', 'int', 'size'],
      ['bool', 'boolean', undefined],
      ['any', 'value', undefined],
      ['null', 'null', undefined],
    ]);
  });

  test('q_empty and the implicit QType enum live in ./builtin', () => {
    expect(schema.modules.map((m) => m.name)).toEqual(['./builtin', 't.json']);
    expect(schema.types.get('q_empty')).toMatchObject({
      kind: 'object',
      members: [],
      origin: 'implicit',
    });
    expect(schema.types.get('QType')).toMatchObject({
      kind: 'enum',
      implicit: true,
      prefix: 'QTYPE',
      values: ['none', 'qnull', 'qnum', 'qstring', 'qdict', 'qlist', 'qbool'].map((name) => ({
        name,
        features: [],
      })),
    });
  });

  test('redefining a builtin is an error', () => {
    expect(errorOf("{ 'struct': 'QType', 'data': {} }").reason).toBe(
      "enum type 'QType' is already defined",
    );
  });
});

describe('unions', () => {
  const schema = schemaOf(`
{ 'enum': 'Kind', 'data': [ 'a', { 'name': 'b', 'if': 'CONFIG_B' }, 'c' ] }
{ 'struct': 'Br', 'data': { 'x': 'int' } }
{ 'union': 'Un', 'base': { 'kind': 'Kind', '*tags': [ 'str' ] }, 'discriminator': 'kind',
  'data': { 'c': 'Br' }, 'if': { 'all': [ 'CONFIG_U', { 'not': 'CONFIG_V' } ] } }
`);

  test('listed branches come first, then an implicit q_empty branch per unlisted value', () => {
    const un = schema.types.get('Un') as ObjectType;
    expect(un.variants).toEqual({
      tag: 'kind',
      cases: [
        { case: 'c', type: 'Br' },
        { case: 'a', type: 'q_empty' },
        { case: 'b', type: 'q_empty', if: 'CONFIG_B' },
      ],
    });
    expect(un.origin).toBe('union');
    expect(un.members).toEqual([]);
    expect(un.if).toEqual({ all: ['CONFIG_U', { not: 'CONFIG_V' }] });
  });

  test('an inline base becomes q_obj_<Union>-base, right before the union, with its if', () => {
    const un = schema.types.get('Un') as ObjectType;
    expect(un.base).toBe('q_obj_Un-base');
    const base = schema.types.get('q_obj_Un-base');
    expect(base).toMatchObject({
      kind: 'object',
      origin: 'implicit',
      if: { all: ['CONFIG_U', { not: 'CONFIG_V' }] },
      members: [
        { name: 'kind', type: 'Kind', optional: false, features: [] },
        { name: 'tags', type: '[str]', optional: true, features: [] },
      ],
    });
    expect(base?.info).toBeUndefined();
    expect(schema.modules[1]?.entities.map((e) => e.name)).toEqual([
      'Kind',
      'Br',
      'q_obj_Un-base',
      'Un',
    ]);
  });
});

describe('commands and events', () => {
  const schema = schemaOf(`
{ 'struct': 'Elem', 'data': { '*n': 'uint8' } }
{ 'command': 'plain' }
{ 'command': 'flags', 'data': 'Elem', 'returns': [ 'Elem' ], 'gen': false,
  'success-response': false, 'allow-oob': true, 'allow-preconfig': true,
  'features': [ 'deprecated', { 'name': 'x', 'if': 'CONFIG_X' } ] }
{ 'command': 'co', 'coroutine': true, 'boxed': true, 'data': 'Elem' }
{ 'event': 'EV', 'data': { 'a': [ 'Elem' ] } }
`);

  test("QEMU's defaults and flags", () => {
    expect(schema.commands.get('plain')).toEqual({
      kind: 'command',
      name: 'plain',
      features: [],
      info: { file: 't.json', line: 3, col: 1 },
      gen: true,
      successResponse: true,
      boxed: false,
      allowOob: false,
      allowPreconfig: false,
      coroutine: false,
    });
    expect(schema.commands.get('flags')).toMatchObject({
      argType: 'Elem',
      retType: '[Elem]',
      gen: false,
      successResponse: false,
      allowOob: true,
      allowPreconfig: true,
      features: [{ name: 'deprecated' }, { name: 'x', if: 'CONFIG_X' }],
    });
    expect(schema.commands.get('co')).toMatchObject({ boxed: true, coroutine: true });
  });

  test('inline event data becomes q_obj_<EVENT>-arg', () => {
    expect(schema.events.get('EV')).toMatchObject({ argType: 'q_obj_EV-arg', boxed: false });
    expect(schema.types.get('q_obj_EV-arg')).toMatchObject({
      members: [{ name: 'a', type: '[Elem]', optional: false }],
    });
  });

  test('the array type is recorded where QEMU creates it: the module of its element', () => {
    expect(schema.modules[1]?.items?.filter((i) => i.kind === 'array')).toEqual([
      {
        kind: 'array',
        name: 'ElemList',
        elementType: 'Elem',
        info: { file: 't.json', line: 4, col: 1 },
      },
    ]);
  });
});

describe('inputs QEMU 7.2 itself crashes on are clean errors', () => {
  test('a double-quoted string', () => {
    const e = errorOf('{ "enum": "E" }');
    expect(e.reason).toBe(`stray '"'`);
    expect(e.info).toEqual({ file: 't.json', line: 1, col: 3 });
  });

  test("a struct whose 'data' is a type name (QEMU 8.1 rejects it)", () => {
    const e = errorOf("{ 'struct': 'Foo', 'data': 'Bar' }");
    expect(e.reason).toBe("'data' should be an object");
    expect(e.rule).toBe('bad-type');
  });

  test('a base chain deep enough to exhaust the stack', () => {
    const n = 30000;
    const lines = ["{ 'struct': 'Tt0', 'data': {} }"];
    for (let i = 1; i < n; i++)
      lines.push(`{ 'struct': 'Tt${i}', 'base': 'Tt${i - 1}', 'data': {} }`);
    // Checked from the deepest end, so the recursion runs the whole chain.
    lines.reverse();
    let result: unknown;
    try {
      result = schemaOf(lines.join('\n')).types.size;
    } catch (err) {
      result = err;
    }
    if (result instanceof Error) {
      expect(result).toBeInstanceOf(QapiSchemaError);
      expect((result as QapiSchemaError).rule).toBe('too-deep');
    } else {
      expect(result).toBeGreaterThan(n);
    }
  });
});

describe('QapiSchemaError', () => {
  test('message names file, line, column and rule; isInstance recognises it', () => {
    const e = errorOf("{ 'enum': 'Foo', 'data': [] }\n{ 'struct': 'Foo', 'data': {} }");
    expect(e.message).toBe(
      "t.json:2:1: 'Foo' is already defined\nt.json:1:1: previous definition [duplicate-definition]",
    );
    expect(e.rule).toBe('duplicate-definition');
    expect(e.info).toEqual({ file: 't.json', line: 2, col: 1 });
    expect(QapiSchemaError.isInstance(e)).toBe(true);
    expect(QapiSchemaError.isInstance(new Error('x'))).toBe(false);
    expect(e.name).toBe('QapiSchemaError');
  });

  test('rule ids for common mistakes', () => {
    expect(errorOf("{ 'struct': 'Foo', 'data': { 'a': 'Nope' } }").rule).toBe('unknown-type');
    expect(errorOf("{ 'struct': 'Foo', 'data': { 'a': 'int' }, 'bogus': 1 }").rule).toBe(
      'stray-token',
    );
    expect(errorOf("{ 'struct': 'Foo', 'data': { 'a': 'int' }, 'bogus': true }").rule).toBe(
      'unknown-key',
    );
    expect(errorOf("{ 'struct': 'Foo', 'data': { 'a-b': 'int', 'a_b': 'int' } }").rule).toBe(
      'name-case',
    );
  });
});

describe('docs in the model', () => {
  const schema = schemaOf(`{ 'pragma': { 'doc-required': true } }
##
# = Intro
##

##
# @do-it:
#
# Does it.
#
# @a: the a
#
# Since: 7.2
##
{ 'command': 'do-it', 'data': { 'a': 'int', '*b': 'str' } }
`);

  test('definition docs attach to their definition, undocumented members get ""', () => {
    expect(schema.commands.get('do-it')?.doc).toEqual({
      body: 'Does it.',
      members: { a: 'the a', b: '' },
      features: {},
      sections: [{ name: 'Since', text: '7.2' }],
    });
    expect(schema.freeDocs).toEqual([
      { info: { file: 't.json', line: 2, col: 1 }, text: '= Intro' },
    ]);
    expect(schema.docs?.map((d) => d.symbol)).toEqual([undefined, 'do-it']);
    expect(schema.pragma.docRequired).toBe(true);
  });
});
