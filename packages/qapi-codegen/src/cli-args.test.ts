import { describe, expect, test } from 'vitest';
import { CodegenUsageError, parseCliArgs } from './cli-args.js';

describe('parseCliArgs', () => {
  test('reads an input, --out, repeated --define and --defines-file, --prefix', () => {
    expect(
      parseCliArgs([
        'schema.json',
        '--out',
        'gen',
        '--define',
        'CONFIG_A',
        '--define=CONFIG_B',
        '--defines-file',
        'd.txt',
        '--prefix',
        'qsd-',
      ]),
    ).toEqual({
      help: false,
      input: 'schema.json',
      outDir: 'gen',
      defines: ['CONFIG_A', 'CONFIG_B'],
      definesFiles: ['d.txt'],
      prefix: 'qsd-',
    });
  });

  test('accepts options before the input and the short forms', () => {
    expect(parseCliArgs(['-o', 'x', '-D', 'TARGET_I386', 'in.json'])).toMatchObject({
      input: 'in.json',
      outDir: 'x',
      defines: ['TARGET_I386'],
      prefix: '',
    });
  });

  test('reads --names-from', () => {
    expect(
      parseCliArgs(['qsd.json', '--out', 'x', '--names-from', 'qapi-schema.json']),
    ).toMatchObject({
      input: 'qsd.json',
      namesFrom: 'qapi-schema.json',
    });
    expect(parseCliArgs(['qsd.json', '--out', 'x'])).not.toHaveProperty('namesFrom');
  });

  test('reads --qemu, the release whose front-end rules apply', () => {
    expect(parseCliArgs(['qsd.json', '--out', 'x', '--qemu', '10.0'])).toMatchObject({
      qemu: '10.0',
    });
    expect(parseCliArgs(['qsd.json', '--out', 'x', '--qemu=7.2'])).toMatchObject({ qemu: '7.2' });
    expect(parseCliArgs(['qsd.json', '--out', 'x'])).not.toHaveProperty('qemu');
  });

  test('takes anything after -- as the input', () => {
    expect(parseCliArgs(['--out', 'x', '--', '-weird.json'])).toMatchObject({
      input: '-weird.json',
    });
  });

  test.each([['--help'], ['-h'], ['in.json', '--out', 'x', '--help']])(
    '%s asks for help',
    (...args) => {
      expect(parseCliArgs(args)).toEqual({ help: true });
    },
  );

  test.each([
    [[], 'missing input file'],
    [['in.json'], 'missing --out DIR'],
    [['in.json', '--out'], "option '--out' needs a value"],
    [['in.json', '--out', '--define', 'X'], "option '--out' needs a value"],
    [['in.json', '--out='], "option '--out' needs a value"],
    [['a.json', 'b.json', '--out', 'x'], "unexpected argument 'b.json'"],
    [['in.json', '--out', 'x', '--frobnicate'], "unknown option '--frobnicate'"],
    [['in.json', '--out', 'x', '--define', 'defined(X)'], "'defined(X)' is not a condition symbol"],
    [['in.json', '--out', 'x', '--prefix', 'a/b'], 'must not contain a path separator'],
    [['in.json', '--out', 'x', '--qemu', '8.0'], "--qemu must be one of 7.2, 10.0, not '8.0'"],
  ])('%j is refused: %s', (args, message) => {
    expect(() => parseCliArgs(args)).toThrow(CodegenUsageError);
    expect(() => parseCliArgs(args)).toThrow(message);
  });
});
