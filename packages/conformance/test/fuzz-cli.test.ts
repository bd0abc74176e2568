// fuzz:diff's command line (src/fuzz/cli-options.ts): its options, the errors for bad input, and
// a --help that names every option.

import { describe, expect, test } from 'vitest';
import { parseArgs, UsageError, usage } from '../src/fuzz/cli-options.js';

describe('fuzz:diff command line', () => {
  test('defaults: seeds 1–100 of the jobs family on QEMU 7.2, shrunk', () => {
    const options = parseArgs([]);
    expect(options.seeds).toHaveLength(100);
    expect(options).toMatchObject({ family: 'jobs', qemu: '7.2', shrink: true, help: false });
  });

  test('every option', () => {
    const options = parseArgs([
      '--',
      '--family',
      'io',
      '--seeds',
      '3,7-8',
      '--seed',
      '20',
      '--shape',
      'exports',
      '--qemu',
      '10.0',
      '--qmpkit',
      'process',
      '--concurrency',
      '1',
      '--no-shrink',
      '--print',
    ]);
    expect(options).toMatchObject({
      seeds: [3, 7, 8, 20],
      family: 'io',
      shape: 'exports',
      qemu: '10.0',
      qmpkit: 'process',
      concurrency: 1,
      shrink: false,
      print: true,
    });
    expect(parseArgs(['-h']).help).toBe(true);
  });

  test.each([
    [['--bogus'], 'unknown option --bogus'],
    [['--family', 'disks'], '--family disks: expected jobs or io'],
    [['--qemu', '8.0'], '--qemu 8.0: expected 7.2 or 10.0'],
    [['--qmpkit', 'remote'], '--qmpkit remote: expected in-process or process'],
    [['--concurrency', '0'], '--concurrency 0: expected a whole number from 1 to 64'],
    [['--concurrency', 'two'], '--concurrency two: expected a whole number from 1 to 64'],
    [['--seeds', '9-3'], "--seeds: bad seed range '9-3'"],
    [['--seeds'], '--seeds needs a value'],
    [['--seeds', '--no-shrink'], '--seeds needs a value'],
    [['--shape', 'exports'], "--shape: no shape 'exports' in family jobs"],
  ])('%j is refused: %s', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });

  test('--help names every option, the families, examples and the exit statuses', () => {
    const text = usage();
    for (const option of [
      '--seeds',
      '--seed',
      '--family',
      '--shape',
      '--qemu',
      '--qmpkit',
      '--concurrency',
      '--no-shrink',
      '--print',
      '--help',
    ]) {
      expect(text).toContain(option);
    }
    expect(text).toMatch(/^ {21}jobs /m);
    expect(text).toMatch(/^ {21}io /m);
    expect(text).toContain('Examples:');
    expect(text).toMatch(/Exit status: 0 .*; 1 .*; 2 /s);
  });
});
