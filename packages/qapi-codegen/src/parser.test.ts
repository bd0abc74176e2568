// Lexer, grammar, doc-comment and include edge cases. Expected texts and positions are QEMU 7.2's
// (scripts/qapi/parser.py and the verified facts in docs/reference/qapi-schema.md §2, §3.2, §9).

import { describe, expect, test } from 'vitest';
import { QapiSchemaError } from './errors.js';
import {
  type ParsedSchemaFiles,
  parseSchemaFiles,
  posixDirname,
  posixJoin,
  posixNormalize,
  posixRelative,
} from './parser.js';
import { parseSchema } from './schema.js';
import type { QValue } from './source.js';

function files(map: Record<string, string>): (path: string) => string {
  return (path) => {
    const text = map[path];
    if (text === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    return text;
  };
}

function parse(text: string): ParsedSchemaFiles {
  return parseSchemaFiles('t.json', files({ 't.json': text }));
}

function parseError(text: string): QapiSchemaError {
  try {
    parse(text);
  } catch (err) {
    expect(err).toBeInstanceOf(QapiSchemaError);
    return err as QapiSchemaError;
  }
  throw new Error('expected a parse error');
}

/** Converts parsed Maps to plain objects for comparison. */
function plain(v: QValue): unknown {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [k, plain(x)]));
  if (Array.isArray(v)) return v.map(plain);
  return v;
}

describe('strings', () => {
  test('single-quoted, with \\\\ as the only escape', () => {
    const { exprs } = parse("{ 'enum': 'E', 'data': [ 'a\\\\b', '' ] }");
    expect(plain(exprs[0]?.expr as QValue)).toEqual({ enum: 'E', data: ['a\\b', ''] });
  });

  test.each([
    ["{ 'a': 'x\\n' }", 'unknown escape \\n', 8],
    ["{ 'a': 'x\\'' }", "unknown escape \\'", 8],
    ["{ 'a': 'x\\u0041' }", 'unknown escape \\u', 8],
  ])('%s: %s', (text, reason, col) => {
    const e = parseError(text);
    expect(e.reason).toBe(reason);
    expect(e.rule).toBe('unknown-escape');
    expect(e.info).toEqual({ file: 't.json', line: 1, col });
  });

  test('a string split across lines is unterminated', () => {
    const e = parseError("{ 'enum': 'E',\n  'data': [ 'one\n two' ] }");
    expect(e.reason).toBe(`missing terminating "'"`);
    expect(e.info).toEqual({ file: 't.json', line: 2, col: 13 });
  });

  test.each([
    ['a tab', '\t'],
    ['a control character', '\u001f'],
    ['DEL', '\u007f'],
    ['non-ASCII', 'é'],
  ])('%s inside a string is a funny character', (_what, ch) => {
    const e = parseError(`{ 'a': 'x${ch}y' }`);
    expect(e.reason).toBe('funny character in string');
    expect(e.rule).toBe('bad-string-char');
  });
});

describe('tokens', () => {
  test.each([
    ["{ 'a': 123 }", "stray '123'", 8],
    ["{ 'a': null }", "stray 'null'", 8],
    ["{ 'a': 'b' };", "stray ';'", 13],
    ['{ "a": "b" }', `stray '"'`, 3],
    ["{ 'a': trueX }", "stray 'X'", 12],
    ["{ a: 'b' }", "stray 'a'", 3],
  ])('%s → %s', (text, reason, col) => {
    const e = parseError(text);
    expect(e.reason).toBe(reason);
    expect(e.rule).toBe('stray-token');
    expect(e.info?.col).toBe(col);
  });

  test('booleans, nested arrays and objects', () => {
    const { exprs } = parse("{ 'x': [ true, false, [ 'a' ], { 'b': {} } ] }");
    expect(plain(exprs[0]?.expr as QValue)).toEqual({ x: [true, false, ['a'], { b: {} }] });
  });

  test("tabs count in columns the way QEMU's parser counts them", () => {
    // QEMU 7.2 computes col = (col + 7) % 8 + 1 for a tab (checked by running its parser:
    // tab1.json:1:8 and tab2.json:1:12 for these two lines).
    expect(parseError("\t{ 'a': 1 }").info?.col).toBe(8);
    expect(parseError("  \t  { 'a': 1 }").info?.col).toBe(12);
  });

  test.each([
    ["{ 'a': 'b', 'a': 'c' }", "duplicate key 'a'", 'duplicate-key'],
    ["{ 'a' 'b' }", "expected ':'", 'syntax'],
    ["{ 'a': 'b', }", 'expected string', 'syntax'],
    ["{ , 'a': 'b' }", "expected string or '}'", 'syntax'],
    ["{ 'a': [ 'b', ] }", "expected '{', '[', string, or boolean", 'syntax'],
    ["{ 'a': [ , 'b' ] }", "expected '{', '[', ']', string, or boolean", 'syntax'],
    ["{ 'a': [ 'b' 'c' ] }", "expected ',' or ']'", 'syntax'],
    ["{ 'a': 'b' 'c': 'd' }", "expected ',' or '}'", 'syntax'],
    ["[ 'a' ]", 'top-level expression must be an object', 'top-level-not-object'],
    ["'a'", 'top-level expression must be an object', 'top-level-not-object'],
  ])('%s → %s', (text, reason, rule) => {
    const e = parseError(text);
    expect(e.reason).toBe(reason);
    expect(e.rule).toBe(rule);
  });

  test('nesting is bounded', () => {
    const e = parseError(`{ 'a': ${'['.repeat(500)}${']'.repeat(500)} }`);
    expect(e.rule).toBe('too-deep');
  });
});

describe('comments and layout', () => {
  test('comments run to the end of the line, anywhere between tokens, with any characters', () => {
    const { exprs } = parse(
      "# héllo ✓\n{ 'enum': 'E', # a remark\n  # more\n  'data': [ 'a', # after an element\n 'b' ] }",
    );
    expect(plain(exprs[0]?.expr as QValue)).toEqual({ enum: 'E', data: ['a', 'b'] });
  });

  test('empty files, comment-only files and a missing final newline are fine', () => {
    expect(parse('').exprs).toEqual([]);
    expect(parse('# only a comment').exprs).toEqual([]);
    expect(parse("{ 'enum': 'E', 'data': [] }").exprs).toHaveLength(1);
  });

  test('several expressions may share a line; each keeps its own position', () => {
    const { exprs } = parse("{ 'enum': 'A', 'data': [] } { 'enum': 'B', 'data': [] }");
    expect(exprs.map((e) => [e.info.line, e.info.col])).toEqual([
      [1, 1],
      [1, 29],
    ]);
  });

  test("a '##' line inside an expression is a syntax error", () => {
    const e = parseError("{ 'struct': 'S',\n##\n  'data': {} }");
    expect(e.reason).toBe('expected string');
    expect(e.info?.line).toBe(2);
  });
});

describe('doc comments', () => {
  const defn = `##
# @frob:
#
# Frobnicate a thing.
#
# More text.
#
# @arg: the first
#       argument
#
# @other:
# described on the next line
#
# Features:
# @unstable: experimental
#
# Returns: nothing
#
# Since: 7.2
#
# Notes: lorem
#        ipsum
##
{ 'command': 'frob', 'data': { 'arg': 'int', 'other': 'str' }, 'features': [ 'unstable' ] }
`;

  test('a definition doc is split into body, members, features and tagged sections', () => {
    const { exprs, docs } = parse(defn);
    expect(docs).toHaveLength(1);
    const doc = docs[0];
    expect(exprs[0]?.doc).toBe(doc);
    expect(doc?.symbol).toBe('frob');
    expect(doc?.body.text).toBe('Frobnicate a thing.\n\nMore text.');
    expect([...(doc?.args ?? [])].map(([n, s]) => [n, s.text])).toEqual([
      ['arg', 'the first\nargument'],
      ['other', 'described on the next line'],
    ]);
    expect([...(doc?.features ?? [])].map(([n, s]) => [n, s.text])).toEqual([
      ['unstable', 'experimental'],
    ]);
    expect(doc?.sections.map((s) => [s.name, s.text])).toEqual([
      ['Returns', 'nothing'],
      ['Since', '7.2'],
      ['Notes', 'lorem\nipsum'],
    ]);
  });

  test('the model carries the doc, with an untagged section named ""', () => {
    const schema = parseSchema(
      't.json',
      files({
        't.json': `##
# @Thing:
#
# @a: member a
#
# Some prose after the members.
##
{ 'struct': 'Thing', 'data': { 'a': 'int', 'b': 'str' } }
`,
      }),
    );
    const doc = schema.types.get('Thing')?.doc;
    expect(doc?.members).toEqual({ a: 'member a', b: '' });
    expect(doc?.sections).toEqual([{ name: '', text: 'Some prose after the members.' }]);
  });

  test('free-form blocks are split at "=" headings that follow text', () => {
    const { docs } = parse('##\n# = Title\n#\n# Text\n#\n# == Sub\n#\n# More\n##\n');
    expect(docs.map((d) => [d.symbol, d.body.text])).toEqual([
      [undefined, '= Title\n\nText'],
      [undefined, '== Sub\n\nMore'],
    ]);
  });

  test.each([
    ['##x\n##\n', "junk after '##' at start of documentation comment", 1],
    ['##\n# text\n##x\n', "junk after '##' at end of documentation comment", 3],
    ['##\n# text\n', "documentation comment must end with '##'", 2],
    ['##\n#text\n##\n', 'missing space after #', 2],
    ['##\n# @foo\n##\n', "line should end with ':'", 2],
    ['##\n# @:\n##\n', "name required after '@'", 2],
    ['##\n# @foo:\n# = Heading\n##\n', "unexpected '=' markup in definition documentation", 3],
    ['##\n# Text\n# @foo: bar\n##\n', "'@foo:' not allowed in free-form documentation", 3],
    ['##\n# @foo:\n# @a: x\n# @a: y\n##\n', "'a' parameter name duplicated", 4],
    ['##\n# @foo:\n# Since: 1\n# Since: 2\n##\n', "duplicated 'Since' section", 4],
    ['##\n# @foo:\n# Since: 1\n# @a: x\n##\n', "'@a:' can't follow 'Since' section", 4],
    ['##\n# @foo:\n# Notes:\n# Since: 1\n##\n', "empty doc section 'Notes'", 4],
    [
      '##\n# @foo:\n# @a: first\n# second\n##\n',
      'unexpected de-indent (expected at least 4 spaces)',
      4,
    ],
  ])('%j → %s', (text, reason, line) => {
    const e = parseError(text);
    expect(e.reason).toBe(reason);
    expect(e.info?.line).toBe(line);
  });

  test('definition docs must be followed by their definition', () => {
    expect(parseError('##\n# @foo:\n##\n').reason).toBe(
      "documentation for 'foo' is not followed by the definition",
    );
    expect(parseError("##\n# @foo:\n##\n{ 'include': 'x.json' }").reason).toBe(
      "documentation for 'foo' is not followed by the definition",
    );
    expect(parseError("##\n# free\n##\n{ 'enum': 'E', 'data': [] }").reason).toBe(
      'definition documentation required',
    );
  });
});

describe('include and pragma', () => {
  test('includes resolve against the including file, each file is read once, in order', () => {
    const read: string[] = [];
    const map: Record<string, string> = {
      'root/main.json':
        "{ 'include': 'sub/a.json' }\n{ 'include': 'sub/a.json' }\n{ 'enum': 'Main', 'data': [] }",
      'root/sub/a.json': "{ 'include': '../common.json' }\n{ 'enum': 'Aa', 'data': [] }",
      'root/sub/../common.json': "{ 'enum': 'Common', 'data': [] }",
    };
    const schema = parseSchema('root/main.json', (p) => {
      read.push(p);
      return files(map)(p);
    });
    expect(read).toEqual(['root/main.json', 'root/sub/a.json', 'root/sub/../common.json']);
    expect(schema.modules.map((m) => m.name)).toEqual([
      './builtin',
      'main.json',
      'sub/a.json',
      'common.json',
    ]);
    expect(schema.modules[1]?.items?.filter((i) => i.kind === 'include')).toEqual([
      { kind: 'include', module: 'sub/a.json', info: { file: 'root/main.json', line: 1, col: 1 } },
      { kind: 'include', module: 'sub/a.json', info: { file: 'root/main.json', line: 2, col: 1 } },
    ]);
    expect(schema.types.get('Common')?.info?.file).toBe('root/sub/../common.json');
  });

  test('an error in an included file names that file and the include chain', () => {
    try {
      parseSchema('m.json', files({ 'm.json': "\n{ 'include': 'i.json' }", 'i.json': "{ 'a' }" }));
      expect.unreachable();
    } catch (err) {
      const e = err as QapiSchemaError;
      expect(e.info).toEqual({ file: 'i.json', line: 1, col: 7 });
      expect(e.includedFrom).toEqual([{ file: 'm.json', line: 2, col: 1 }]);
      expect(e.message).toBe("i.json:1:7: expected ':' [syntax]");
    }
  });

  test('include loops, unreadable files and malformed directives are errors', () => {
    const loop = () =>
      parseSchema(
        'a.json',
        files({ 'a.json': "{ 'include': 'b.json' }", 'b.json': "{ 'include': 'a.json' }" }),
      );
    expect(loop).toThrow('inclusion loop for a.json');
    expect(() => parseSchema('a.json', files({ 'a.json': "{ 'include': 'nope.json' }" }))).toThrow(
      "can't read include file 'nope.json': No such file or directory",
    );
    expect(() => parse("{ 'include': 'x.json', 'enum': 'E' }")).toThrow(
      "invalid 'include' directive",
    );
    expect(() => parse("{ 'include': [ 'x.json' ] }")).toThrow(
      "value of 'include' must be a string",
    );
  });

  test('pragmas are global, and checked', () => {
    const { pragma } = parse(
      "{ 'pragma': { 'doc-required': true, 'command-name-exceptions': [ 'a_b' ] } }",
    );
    expect(pragma).toEqual({
      docRequired: true,
      commandNameExceptions: ['a_b'],
      commandReturnsExceptions: [],
      memberNameExceptions: [],
      documentationExceptions: [],
    });
    expect(() => parse("{ 'pragma': { 'doc-required': 'yes' } }")).toThrow(
      "pragma 'doc-required' must be boolean",
    );
    expect(() => parse("{ 'pragma': { 'member-name-exceptions': [ true ] } }")).toThrow(
      'pragma member-name-exceptions must be a list of strings',
    );
    expect(() => parse("{ 'pragma': { 'whatever': [] } }")).toThrow("unknown pragma 'whatever'");
    expect(() => parse("{ 'pragma': [] }")).toThrow("value of 'pragma' must be an object");
  });
});

describe('POSIX path helpers', () => {
  test('dirname and join behave like Python os.path', () => {
    expect(posixDirname('a/b/c.json')).toBe('a/b');
    expect(posixDirname('c.json')).toBe('');
    expect(posixDirname('/c.json')).toBe('/');
    expect(posixJoin('', 'x.json')).toBe('x.json');
    expect(posixJoin('a', 'x.json')).toBe('a/x.json');
    expect(posixJoin('a', '/abs/x.json')).toBe('/abs/x.json');
  });

  test('normalize and relative', () => {
    expect(posixNormalize('a/./b/../c.json')).toBe('a/c.json');
    expect(posixNormalize('../x/../../y')).toBe('../../y');
    expect(posixNormalize('/a/../../b')).toBe('/b');
    expect(posixRelative('storage-daemon/qapi', 'storage-daemon/qapi/../../qapi/job.json')).toBe(
      '../../qapi/job.json',
    );
    expect(posixRelative('', 'x.json')).toBe('x.json');
    expect(posixRelative('.', 'sub/x.json')).toBe('sub/x.json');
  });
});
