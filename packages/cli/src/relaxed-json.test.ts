import { describe, expect, test } from 'vitest';
import { JsonSyntaxError, MAX_JSON_DEPTH, parseRelaxedJson } from './relaxed-json.js';

describe('parseRelaxedJson', () => {
  test('reads JSON', () => {
    expect(parseRelaxedJson(' {"a": [1, -2.5e1, true, false, null, "x\\ny\\u00e9"]} ')).toEqual({
      a: [1, -25, true, false, null, 'x\nyé'],
    });
  });

  test("reads qmp-shell's Python literals", () => {
    expect(parseRelaxedJson("{'a': True, 'b': [False, None], 'c': 'it\\'s'}")).toEqual({
      a: true,
      b: [false, null],
      c: "it's",
    });
  });

  test('keeps big integers exact', () => {
    expect(parseRelaxedJson('[9007199254740991, 9007199254740993, -9223372036854775808]')).toEqual([
      9007199254740991,
      9007199254740993n,
      -9223372036854775808n,
    ]);
  });

  test('objects have no prototype; __proto__ is a plain key', () => {
    const value = parseRelaxedJson('{"__proto__": {"x": 1}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBeNull();
    expect(Object.keys(value)).toEqual(['__proto__']);
  });

  test('refuses bad input with an offset', () => {
    for (const bad of [
      '{',
      '[1,]',
      '{"a" 1}',
      '{"a":1,"a":2}',
      'tru',
      '01',
      '"x',
      '1 2',
      '{a:1}',
    ]) {
      expect(() => parseRelaxedJson(bad), bad).toThrow(JsonSyntaxError);
    }
  });

  test('bounds nesting', () => {
    const deep = `${'['.repeat(MAX_JSON_DEPTH + 2)}${']'.repeat(MAX_JSON_DEPTH + 2)}`;
    expect(() => parseRelaxedJson(deep)).toThrow(/nesting deeper/);
    const ok = `${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`;
    expect(() => parseRelaxedJson(ok)).not.toThrow();
  });
});
