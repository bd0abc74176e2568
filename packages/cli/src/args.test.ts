import { describe, expect, test } from 'vitest';
import { parseByteCount, parseCommandLine } from './args.js';
import { CliUsageError, parseTcpAddress } from './args-common.js';

const usage = (argv: string[]) => {
  try {
    parseCommandLine(argv);
  } catch (error) {
    if (error instanceof CliUsageError) return error.message;
    throw error;
  }
  throw new Error('no usage error');
};

describe('qmpkit command line', () => {
  test('help: no arguments, --help, help <command>, <command> --help without a server', () => {
    expect(parseCommandLine([])).toMatchObject({ command: 'help' });
    expect(parseCommandLine(['--help'])).toMatchObject({ command: 'help' });
    for (const argv of [
      ['exec', '--help'],
      ['shell', '-h'],
      ['jobs', '--help'],
      ['jobs', 'watch', '--help'],
      ['run', '--help'],
      ['run', 'mirror', '--help'],
      ['help', 'exec'],
    ]) {
      const result = parseCommandLine(argv);
      expect(result.command, argv.join(' ')).toBe('help');
      expect(result.command === 'help' && result.text).toMatch(/^Usage: qmpkit /);
    }
    expect(parseCommandLine(['--version'])).toEqual({ command: 'version' });
    expect(parseCommandLine(['shell', '-v', '--socket', 's'])).toMatchObject({ verbose: true });
    const mirror = parseCommandLine(['run', 'mirror', '--help']);
    expect(mirror.command === 'help' && mirror.text).toContain('--cancel-on-ready');
  });

  test('--socket and --tcp (default host 127.0.0.1)', () => {
    expect(parseCommandLine(['jobs', '--socket', '/run/q.sock'])).toEqual({
      command: 'jobs',
      target: { path: '/run/q.sock' },
      connectTimeoutMs: 10_000,
      json: false,
    });
    expect(parseCommandLine(['jobs', '--json', '--tcp', '4444', '--timeout', '500'])).toEqual({
      command: 'jobs',
      target: { host: '127.0.0.1', port: 4444 },
      connectTimeoutMs: 500,
      json: true,
    });
    expect(parseTcpAddress('example.org:5555')).toEqual({ host: 'example.org', port: 5555 });
    expect(parseTcpAddress(':5555')).toEqual({ host: '127.0.0.1', port: 5555 });
    expect(parseTcpAddress('[::1]:5555')).toEqual({ host: '::1', port: 5555 });
    expect(() => parseTcpAddress('host:0')).toThrow(CliUsageError);
    expect(() => parseTcpAddress('host:70000')).toThrow(CliUsageError);
    expect(() => parseTcpAddress('host:x')).toThrow(CliUsageError);
  });

  test('usage errors', () => {
    expect(usage(['jobs'])).toBe('say where the QMP server is: --socket PATH or --tcp HOST:PORT');
    expect(usage(['jobs', '--socket', 'a', '--tcp', '1'])).toBe(
      'give either --socket or --tcp, not both',
    );
    expect(usage(['frobnicate'])).toBe("unknown command 'frobnicate'");
    expect(usage(['exec', '--socket', 'a'])).toBe('exec needs a COMMAND');
    expect(usage(['jobs', '--bogus', '--socket', 'a'])).toMatch(/^Unknown option '--bogus'/);
    expect(usage(['run', 'mirror', '--socket', 'a', '--target', 't'])).toBe('--device is required');
    expect(usage(['run', 'mirror', '--socket', 'a', '--device', 'd'])).toBe('--target is required');
    expect(usage(['run', 'snapshot', '--socket', 'a'])).toMatch(/^unknown job type 'snapshot'/);
    expect(
      usage([
        'run',
        'mirror',
        '--socket',
        'a',
        '--device',
        'd',
        '--target',
        't',
        '--complete',
        '--cancel-on-ready',
      ]),
    ).toBe('give either --complete or --cancel-on-ready, not both');
    // Options belong to their job type: stream has no --target, backup no --complete.
    expect(usage(['run', 'stream', '--socket', 'a', '--device', 'd', '--target', 't'])).toMatch(
      /^Unknown option '--target'/,
    );
    expect(
      usage(['run', 'backup', '--socket', 'a', '--device', 'd', '--target', 't', '--complete']),
    ).toMatch(/^Unknown option '--complete'/);
    expect(usage(['jobs', 'watch', '--socket', 'a', '--interval', '0'])).toBe(
      '--interval 0: expected a positive whole number',
    );
  });

  test('exec keeps the words after the command name', () => {
    expect(
      parseCommandLine(['exec', 'job-pause', 'id=m1', '--socket', 's', '--compact']),
    ).toMatchObject({
      command: 'exec',
      name: 'job-pause',
      words: ['id=m1'],
      compact: true,
    });
  });

  test('shell: history file from --history, $QMPKIT_HISTORY, ~/.qmpkit_history, or none', () => {
    expect(parseCommandLine(['shell', '--socket', 's'], {}, '/home/u')).toMatchObject({
      history: '/home/u/.qmpkit_history',
      log: undefined,
    });
    expect(
      parseCommandLine(['shell', '--socket', 's'], { QMPKIT_HISTORY: '/h' }, '/home/u'),
    ).toMatchObject({
      history: '/h',
    });
    expect(
      parseCommandLine(['shell', '--socket', 's', '--history', '/x', '--log', '/l'], {}, '/home/u'),
    ).toMatchObject({
      history: '/x',
      log: '/l',
    });
    expect(
      parseCommandLine(['shell', '--socket', 's', '--no-history'], {}, '/home/u'),
    ).toMatchObject({
      history: undefined,
    });
  });

  test('jobs watch options', () => {
    expect(
      parseCommandLine([
        'jobs',
        'watch',
        '--tcp',
        '127.0.0.1:4444',
        '--json',
        '--until-idle',
        '--wait-for-job',
        '--interval',
        '250',
      ]),
    ).toEqual({
      command: 'watch',
      target: { host: '127.0.0.1', port: 4444 },
      connectTimeoutMs: 10_000,
      json: true,
      intervalMs: 250,
      untilIdle: true,
      waitForJob: true,
    });
  });

  test('run: the QMP command and arguments per job type; job-id defaults to the device', () => {
    expect(
      parseCommandLine([
        'run',
        'mirror',
        '--socket',
        's',
        '--device',
        'src',
        '--target',
        'dst',
        '--complete',
        '--speed',
        '10M',
      ]),
    ).toMatchObject({
      command: 'run',
      qmpCommand: 'blockdev-mirror',
      args: { 'job-id': 'src', device: 'src', target: 'dst', sync: 'full', speed: 10485760 },
      jobId: 'src',
      onReady: 'complete',
    });
    expect(
      parseCommandLine([
        'run',
        'mirror',
        '--socket',
        's',
        '--device',
        'a',
        '--target',
        'b',
        '--sync',
        'top',
        '--job-id',
        'm1',
        '--cancel-on-ready',
      ]),
    ).toMatchObject({ args: { 'job-id': 'm1', sync: 'top' }, onReady: 'soft-cancel' });
    expect(
      parseCommandLine([
        'run',
        'commit',
        '--socket',
        's',
        '--device',
        'top',
        '--top-node',
        'mid',
        '--base-node',
        'base',
      ]),
    ).toMatchObject({
      qmpCommand: 'block-commit',
      args: { 'job-id': 'top', device: 'top', 'top-node': 'mid', 'base-node': 'base' },
      onReady: undefined,
    });
    expect(
      parseCommandLine([
        'run',
        'stream',
        '--socket',
        's',
        '--device',
        'top',
        '--base-node',
        'base',
      ]),
    ).toMatchObject({
      qmpCommand: 'block-stream',
      args: { 'job-id': 'top', device: 'top', 'base-node': 'base' },
    });
    expect(
      parseCommandLine(['run', 'backup', '--socket', 's', '--device', 'a', '--target', 'b']),
    ).toMatchObject({
      qmpCommand: 'blockdev-backup',
      args: { 'job-id': 'a', device: 'a', target: 'b', sync: 'full' },
    });
  });

  test('sizes', () => {
    expect(parseByteCount('0', '--speed')).toBe(0);
    expect(parseByteCount('512k', '--speed')).toBe(524288);
    expect(parseByteCount('1G', '--speed')).toBe(1073741824);
    expect(() => parseByteCount('1.5M', '--speed')).toThrow(CliUsageError);
    expect(() => parseByteCount('-1', '--speed')).toThrow(CliUsageError);
  });
});
