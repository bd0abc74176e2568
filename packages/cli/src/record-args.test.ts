import { describe, expect, test } from 'vitest';
import { parseCommandLine } from './args.js';
import { CliUsageError } from './args-common.js';

describe('qmpkit record command line', () => {
  test('unix and TCP forms; TCP on loopback by default; port 0 to listen anywhere free', () => {
    expect(
      parseCommandLine(['record', '--socket', 'q.sock', '--listen', 'p.sock', '--out', 's.jsonl']),
    ).toEqual({
      command: 'record',
      upstream: { path: 'q.sock' },
      listen: { path: 'p.sock' },
      out: 's.jsonl',
      connectTimeoutMs: 10_000,
    });
    expect(
      parseCommandLine([
        'record',
        '--tcp',
        '4444',
        '--listen-tcp',
        '0',
        '--out',
        'o',
        '--timeout',
        '50',
      ]),
    ).toMatchObject({
      upstream: { host: '127.0.0.1', port: 4444 },
      listen: { host: '127.0.0.1', port: 0 },
      connectTimeoutMs: 50,
    });
    expect(
      parseCommandLine(['record', '--socket', 'q', '--listen-tcp', '[::1]:0', '--out', 'o']),
    ).toMatchObject({ listen: { host: '::1', port: 0 } });
  });

  test.each([
    [['record', '--listen', 'p', '--out', 'o'], 'which server to record'],
    [['record', '--socket', 'q', '--out', 'o'], 'where to listen'],
    [['record', '--socket', 'q', '--listen', 'p'], '--out FILE is required'],
    [['record', '--socket', 'q', '--tcp', '1', '--listen', 'p', '--out', 'o'], 'not both'],
    [['record', '--socket', 'q', '--listen', 'q', '--out', 'o'], 'must differ'],
    [['record', '--socket', 'q', '--listen', 'p', '--out', 'o', 'extra'], 'Unexpected argument'],
  ])('%j is refused: %s', (argv, message) => {
    expect(() => parseCommandLine(argv)).toThrow(CliUsageError);
    expect(() => parseCommandLine(argv)).toThrow(message);
  });

  test('help', () => {
    const help = parseCommandLine(['record', '--help']);
    expect(help).toMatchObject({ command: 'help' });
    expect((help as { text: string }).text).toContain('qmpkit-server --replay');
    expect(parseCommandLine(['help', 'record'])).toEqual(help);
    expect((parseCommandLine([]) as { text: string }).text).toContain('record --socket PATH');
  });
});
