import { describe, expect, test } from 'vitest';
import { evalCond, parseDefines } from '../src/emit/conditions.js';
import { generateSchemaInfo } from '../src/emit/schema-info.js';
import { shapesSchema } from './hand-model.js';

describe('evalCond', () => {
  const d = new Set(['A', 'B']);
  test.each([
    [undefined, true],
    ['A', true],
    ['C', false],
    [{ all: ['A', 'B'] }, true],
    [{ all: ['A', 'C'] }, false],
    [{ any: ['C', { not: 'A' }] }, false],
    [{ any: ['C', { not: 'D' }] }, true],
    [{ not: { all: ['A', { any: ['C', 'B'] }] } }, false],
  ])('%j → %s', (cond, value) => {
    expect(evalCond(cond, d)).toBe(value);
  });

  test('parseDefines reads one symbol a line and refuses junk', () => {
    expect([...parseDefines('CONFIG_A\n\n# c\nTARGET_X86_64  \n')]).toEqual([
      'CONFIG_A',
      'TARGET_X86_64',
    ]);
    expect(() => parseDefines('OK\nnot ok\n', 'd.txt')).toThrow("d.txt:2: 'not ok'");
  });
});

// The expectation follows scripts/qapi/introspect.py step by step: commands and events first;
// each type numbered when first referenced (rect-only's Rect gets "4" although CONFIG_RECT is
// off); the work queue visited in order; conditional entries, members and variants dropped
// afterwards; integers collapsed to int; [int] kept although its only user is compiled out.
describe('generateSchemaInfo on a hand-built schema', () => {
  const { entries, extras } = generateSchemaInfo(shapesSchema(), { defined: new Set() });

  test('gives the entries introspect.py would, in its order', () => {
    expect(entries).toEqual([
      {
        name: 'draw-shape',
        'meta-type': 'command',
        'arg-type': '0',
        'ret-type': '[1]',
        features: ['unstable'],
      },
      { name: 'add-shape', 'meta-type': 'command', 'arg-type': '2', 'ret-type': '3' },
      { name: 'device_add', 'meta-type': 'command', 'arg-type': '5', 'ret-type': '3' },
      { name: 'SHAPE_DRAWN', 'meta-type': 'event', 'arg-type': '6' },
      { name: 'CANVAS_CLEARED', 'meta-type': 'event', 'arg-type': '3' },
      {
        name: '0',
        'meta-type': 'object',
        members: [
          { name: 'shape', type: '7' },
          { name: 'scale', type: 'number', default: null },
          { name: 'extra', type: 'any', default: null },
        ],
      },
      { name: '[1]', 'meta-type': 'array', 'element-type': '1' },
      { name: '1', 'meta-type': 'object', members: [{ name: 'str', type: 'str' }] },
      {
        name: '2',
        'meta-type': 'object',
        members: [
          { name: 'kind', type: '8' },
          { name: 'label', type: 'str', default: null },
        ],
        tag: 'kind',
        variants: [
          { case: 'circle', type: '9' },
          { case: 'dot', type: '3' },
          { case: 'point', type: '3' },
        ],
      },
      { name: '3', 'meta-type': 'object', members: [] },
      {
        name: '5',
        'meta-type': 'object',
        members: [
          { name: 'name', type: 'str' },
          { name: 'tag-list', type: '[str]', default: null },
        ],
      },
      { name: '6', 'meta-type': 'object', members: [{ name: 'kind', type: '8' }] },
      {
        name: '7',
        'meta-type': 'alternate',
        members: [{ type: '2' }, { type: 'str' }, { type: 'null' }],
      },
      { name: 'number', 'meta-type': 'builtin', 'json-type': 'number' },
      { name: 'any', 'meta-type': 'builtin', 'json-type': 'value' },
      { name: 'str', 'meta-type': 'builtin', 'json-type': 'string' },
      {
        name: '8',
        'meta-type': 'enum',
        members: [{ name: 'circle' }, { name: 'dot', features: ['deprecated'] }, { name: 'point' }],
        values: ['circle', 'dot', 'point'],
      },
      {
        name: '9',
        'meta-type': 'object',
        members: [
          { name: 'name', type: 'str' },
          { name: 'tag-list', type: '[str]', default: null },
          { name: 'radius', type: 'int' },
          { name: 'big', type: 'int', default: null, features: ['unstable'] },
        ],
      },
      { name: 'int', 'meta-type': 'builtin', 'json-type': 'int' },
      { name: '[int]', 'meta-type': 'array', 'element-type': 'int' },
      { name: '[str]', 'meta-type': 'array', 'element-type': 'str' },
      { name: 'null', 'meta-type': 'builtin', 'json-type': 'null' },
    ]);
  });

  test('keeps integer kinds, real names and gen:false commands beside the list', () => {
    expect(extras.memberIntKinds).toEqual({ '9': { radius: 'uint8', big: 'uint64' } });
    expect(extras.typeNames['2']).toBe('Shape');
    expect(extras.typeNames['3']).toBe('q_empty');
    expect(extras.typeNames['4']).toBeUndefined();
    expect(extras.openArgCommands).toEqual(['device_add']);
  });

  test('with the condition defined, the compiled-out parts appear under their numbers', () => {
    const withRect = generateSchemaInfo(shapesSchema(), { defined: new Set(['CONFIG_RECT']) });
    const names = withRect.entries.map((e) => e.name);
    expect(names).toContain('rect-only');
    expect(withRect.entries.find((e) => e.name === 'rect-only')).toEqual({
      name: 'rect-only',
      'meta-type': 'command',
      'arg-type': '4',
      'ret-type': '3',
      'allow-oob': true,
    });
    expect(withRect.entries.find((e) => e.name === '4')).toEqual({
      name: '4',
      'meta-type': 'object',
      members: [
        { name: 'w', type: 'int' },
        { name: 'h', type: '[int]' },
      ],
    });
    expect(withRect.extras.memberIntKinds['4']).toEqual({ w: 'size', h: 'int8' });
    const shape = withRect.entries.find((e) => e.name === '2');
    expect(shape).toMatchObject({
      variants: [{ case: 'circle' }, { case: 'rect', type: '4' }, {}, {}],
    });
  });
});
