import { describe, expect, test } from 'vitest';
import {
  buildArguments,
  InputError,
  pairsOfArgv,
  pairsOfWords,
  parseRawCommand,
  ShellParser,
  splitWords,
} from './keyvalue.js';

const parse = (line: string) => new ShellParser().parse(line);
const plain = (value: unknown) =>
  JSON.parse(JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)));

describe('qmp-shell key=value syntax', () => {
  test('command name and flat arguments, values typed as in qmp-shell', () => {
    const result = parse('block-job-set-speed device=m1 speed=1048576');
    expect(result).toMatchObject({ kind: 'command', name: 'block-job-set-speed', oob: false });
    expect(plain(result.kind === 'command' && result.arguments)).toEqual({
      device: 'm1',
      speed: 1048576,
    });
  });

  test('booleans in any case, null, negative and decimal numbers', () => {
    const r = parse('x a=true b=False c=TRUE d=null e=-1 f=1.5 g=0');
    expect(r.kind === 'command' && plain(r.arguments)).toEqual({
      a: true,
      b: false,
      c: true,
      d: null,
      e: -1,
      f: 1.5,
      g: 0,
    });
  });

  test('integers beyond 2^53 stay exact (bigint)', () => {
    const r = parse('x size=18446744073709551615');
    expect(r.kind === 'command' && r.arguments.size).toBe(18446744073709551615n);
  });

  test('dotted keys nest objects', () => {
    const r = parse(
      'blockdev-add driver=qcow2 node-name=top file.driver=file file.filename=/tmp/a.qcow2 file.aio=threads',
    );
    expect(r.kind === 'command' && plain(r.arguments)).toEqual({
      driver: 'qcow2',
      'node-name': 'top',
      file: { driver: 'file', filename: '/tmp/a.qcow2', aio: 'threads' },
    });
  });

  test('JSON values, also with spaces inside strings, and Python-style literals', () => {
    const r = parse(
      `blockdev-add options={"driver": "null-co", "node-name": "a b"} list=[1,2] py={'a':True,'b':None}`,
    );
    expect(r.kind === 'command' && plain(r.arguments)).toEqual({
      options: { driver: 'null-co', 'node-name': 'a b' },
      list: [1, 2],
      py: { a: true, b: null },
    });
  });

  test('quoted values are strings, quotes removed', () => {
    const r = parse(`x id="1" n='null' s="a b" t=pre"fix"`);
    expect(r.kind === 'command' && plain(r.arguments)).toEqual({
      id: '1',
      n: 'null',
      s: 'a b',
      t: 'prefix',
    });
  });

  test('errors: not key=value, a key set twice, a key both leaf and object', () => {
    expect(() => parse('x foo')).toThrow(new InputError("expected a key=value pair, got 'foo'"));
    expect(() => parse('x a=1 a=2')).toThrow('cannot set "a" multiple times');
    expect(() => parse('x a=1 a.b=2')).toThrow('cannot use "a" as both leaf and non-leaf key');
    expect(() => parse('x a.b=2 a=1')).toThrow('cannot use "a" as both leaf and non-leaf key');
    expect(() => parse('x .a=1')).toThrow("bad key '.a'");
    expect(() => parse('x a={"b":')).toThrow(InputError);
    expect(() => parse('x a="open')).toThrow('unterminated quote');
  });

  test('a __proto__ key is an ordinary member', () => {
    const r = parse('x __proto__.polluted=1');
    expect(r.kind === 'command' && Object.keys(r.arguments)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('raw JSON command objects', () => {
    expect(plain(parse('{"execute": "query-jobs"}'))).toEqual({
      kind: 'command',
      name: 'query-jobs',
      arguments: {},
      oob: false,
    });
    expect(plain(parseRawCommand(`{'exec-oob': 'query-yank', 'id': 5}`))).toMatchObject({
      name: 'query-yank',
      oob: true,
    });
    expect(() => parseRawCommand('{"arguments": {}}')).toThrow("a raw command needs 'execute'");
    expect(() => parseRawCommand('{"execute": "a", "foo": 1}')).toThrow("unexpected member 'foo'");
    expect(() => parseRawCommand('[1]')).toThrow('must be a JSON object');
  });

  test('empty lines send nothing', () => {
    expect(parse('   ')).toEqual({ kind: 'none' });
  });

  test('multi-line transaction( … ) builds one transaction command', () => {
    const parser = new ShellParser();
    expect(parser.parse('transaction(')).toEqual({ kind: 'none' });
    expect(parser.inTransaction).toBe(true);
    expect(parser.parse('blockdev-backup device=a target=b sync=full job-id=j1')).toEqual({
      kind: 'none',
    });
    expect(parser.parse('abort')).toEqual({ kind: 'none' });
    const result = parser.parse(')');
    expect(parser.inTransaction).toBe(false);
    expect(plain(result)).toEqual({
      kind: 'command',
      name: 'transaction',
      oob: false,
      arguments: {
        actions: [
          {
            type: 'blockdev-backup',
            data: { device: 'a', target: 'b', sync: 'full', 'job-id': 'j1' },
          },
          { type: 'abort', data: {} },
        ],
      },
    });
  });

  test('one-line transaction( action … )', () => {
    const r = new ShellParser().parse('transaction( abort )');
    expect(plain(r)).toMatchObject({
      name: 'transaction',
      arguments: { actions: [{ type: 'abort', data: {} }] },
    });
  });
});

describe('splitWords', () => {
  test('splits at whitespace outside quotes and brackets', () => {
    expect(splitWords(`a  b="c d" e={"f": "g h"}`).map((w) => w.raw)).toEqual([
      'a',
      'b="c d"',
      'e={"f": "g h"}',
    ]);
  });
});

describe('exec arguments (argv words)', () => {
  test('each argv word is whole; extra quotes make a string', () => {
    const args = buildArguments(pairsOfArgv(['name=a b', 'id="1"', 'n=2', 'o.p=true']));
    expect(plain(args)).toEqual({ name: 'a b', id: '1', n: 2, o: { p: true } });
  });

  test('shell words re-read the value for quoting', () => {
    expect(plain(buildArguments(pairsOfWords(splitWords('a="x y"'))))).toEqual({ a: 'x y' });
  });
});
