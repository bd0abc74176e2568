import { describe, expect, test } from 'vitest';
import { fleetMonitors } from './fleet/fleet-file.js';
import { parseCommandLine, ServerUsageError, splitQemuOpts } from './options.js';

describe('parseCommandLine', () => {
  test('chardev + monitor in both forms, shortcuts, --opt=value', () => {
    expect(
      parseCommandLine([
        '--chardev',
        'socket,path=/a,,b.sock,server=on,wait=off,id=m0',
        '--monitor=chardev=m0,mode=control,pretty=off',
        '--chardev=socket,host=::1,port=4444,server=on,wait=off,id=m1',
        '--monitor',
        'm1',
        '--socket',
        '/c.sock',
        '--tcp',
        '[::1]:5',
      ]),
    ).toMatchObject({
      action: 'serve',
      warnings: [],
      monitors: [
        {
          endpoint: { kind: 'unix', path: '/a,b.sock' },
          origin: '--monitor chardev=m0,mode=control,pretty=off',
        },
        { endpoint: { kind: 'tcp', host: '::1', port: 4444 }, origin: '--monitor m1' },
        { endpoint: { kind: 'unix', path: '/c.sock' }, origin: '--socket /c.sock' },
        { endpoint: { kind: 'tcp', host: '::1', port: 5 }, origin: '--tcp [::1]:5' },
      ],
    });
  });

  test('--qemu-version: 7.2 or 10.0, default 10.0 (the newest verified)', () => {
    const socket = ['--socket', '/s'];
    expect(parseCommandLine(socket)).toMatchObject({ qemuVersion: '10.0' });
    expect(parseCommandLine(['--qemu-version', '10.0', ...socket])).toMatchObject({
      qemuVersion: '10.0',
    });
    expect(parseCommandLine(['--qemu-version=7.2', ...socket])).toMatchObject({
      qemuVersion: '7.2',
    });
    expect(() => parseCommandLine(['--qemu-version', '10', ...socket])).toThrow(
      'qmpkit-server: --qemu-version 10: expected 7.2 or 10.0',
    );
  });

  test("QEMU's short booleans: server, nowait", () => {
    expect(
      parseCommandLine(['--chardev', 'socket,path=/a,server,nowait,id=m', '--monitor', 'm']),
    ).toMatchObject({
      monitors: [{ endpoint: { kind: 'unix', path: '/a' } }],
    });
  });

  test('help and version win wherever they are', () => {
    expect(parseCommandLine(['--socket', 'x', '-h'])).toEqual({ action: 'help' });
    expect(parseCommandLine(['--version'])).toEqual({ action: 'version' });
  });

  test.each([
    [[], 'no monitor given'],
    [['--chardev', 'socket,path=/a,server=off,wait=off,id=m'], 'only server=on'],
    [['--chardev', 'socket,path=/a,server=on,id=m'], 'wait=on is not supported'],
    [['--chardev', 'file,path=/a,id=m'], "chardev backend 'file' is not supported"],
    [['--chardev', 'socket,host=h,port=99999,server=on,wait=off,id=m'], "invalid port '99999'"],
    [
      ['--chardev', 'socket,path=/a,server=on,wait=off,id=m', '--monitor', 'chardev=m,pretty=on'],
      'pretty=on',
    ],
    [
      ['--chardev', 'socket,path=/a,server=on,wait=off,id=m', '--monitor', 'm', '--monitor', 'm'],
      'already in use',
    ],
    [['--monitor'], "option '--monitor' requires an argument"],
  ])('%j is refused', (args, message) => {
    expect(() => parseCommandLine(args)).toThrow(ServerUsageError);
    expect(() => parseCommandLine(args)).toThrow(message);
  });

  test('an unused chardev is a warning', () => {
    const parsed = parseCommandLine([
      '--chardev',
      'socket,path=/a,server=on,wait=off,id=m',
      '--socket',
      '/b',
    ]);
    expect(parsed).toMatchObject({
      warnings: ['qmpkit-server: chardev "m" has no --monitor and is not opened'],
    });
  });
});

describe('QEMU option syntax', () => {
  test('splitQemuOpts', () => {
    expect(splitQemuOpts('socket,path=a,,b,x')).toEqual([
      ['socket', undefined],
      ['path', 'a,b'],
      ['x', undefined],
    ]);
  });

  test('--blockdev values are kept in order, for the block layer to open', () => {
    const parsed = parseCommandLine([
      '--blockdev',
      'null-co,node-name=a',
      '--socket',
      'q.sock',
      '--blockdev={"driver":"null-co","node-name":"b"}',
    ]);
    expect(parsed.action === 'serve' && parsed.blockdevs).toEqual([
      'null-co,node-name=a',
      '{"driver":"null-co","node-name":"b"}',
    ]);
  });
});

describe('simulator options', () => {
  const serve = (args: string[]) => {
    const parsed = parseCommandLine(args);
    if (parsed.action !== 'serve') throw new Error(`expected serve, got ${parsed.action}`);
    return parsed;
  };

  test('defaults: real clock, unlimited throughput, no pidfile', () => {
    const parsed = serve(['--socket', 'q.sock']);
    expect(parsed.clock).toBe('real');
    expect(parsed.throughput).toBe(Number.POSITIVE_INFINITY);
    expect(parsed.pidfile).toBeUndefined();
    expect(parsed.blockdevs).toEqual([]);
    expect(parsed.serveAllClients).toBe(false);
  });

  test('--clock, --throughput with binary suffixes, --pidfile', () => {
    const parsed = serve([
      '--clock',
      'virtual',
      '--throughput',
      '64M',
      '--pidfile=p',
      '--tcp',
      '127.0.0.1:0',
    ]);
    expect(parsed.clock).toBe('virtual');
    expect(parsed.throughput).toBe(64 * 1024 * 1024);
    expect(parsed.pidfile).toBe('p');
  });

  test('--bandwidth: a byte count per second; none by default; not with --replay', () => {
    expect(serve(['--socket', 'q']).bandwidth).toBeUndefined();
    expect(serve(['--socket', 'q', '--bandwidth', '1G']).bandwidth).toBe(1024 ** 3);
    expect(() => serve(['--socket', 'q', '--bandwidth', 'fast'])).toThrow(
      'qmpkit-server: --bandwidth fast: expected a positive number of bytes',
    );
    expect(() => serve(['--socket', 'q', '--replay', 'r.jsonl', '--bandwidth', '1G'])).toThrow(
      '--bandwidth does not apply',
    );
  });

  test('bad values are usage errors naming the option', () => {
    expect(() => serve(['--clock', 'fast', '--socket', 'q'])).toThrow(
      "qmpkit-server: --clock fast: expected 'real' or 'virtual'",
    );
    expect(() => serve(['--throughput', '0', '--socket', 'q'])).toThrow(
      'qmpkit-server: --throughput 0: expected a positive number of bytes',
    );
    expect(() => serve(['--demo=1'])).toThrow('qmpkit-server: --demo 1: takes no value');
  });

  test('--demo: three 4 GiB disks, jobs at 256 MiB/s, ./qmpkit.sock unless a monitor is given', () => {
    const demo = serve(['--demo']);
    expect(demo.monitors.map((m) => m.endpoint)).toEqual([{ kind: 'unix', path: 'qmpkit.sock' }]);
    expect(demo.blockdevs).toEqual([
      'null-co,node-name=disk0,size=4294967296,read-zeroes=on',
      'null-co,node-name=disk1,size=4294967296,read-zeroes=on',
      'null-co,node-name=disk2,size=4294967296,read-zeroes=on',
    ]);
    expect(demo.throughput).toBe(256 * 1024 * 1024);
    expect(demo.serveAllClients).toBe(true);
    const tcp = serve(['--demo', '--tcp', '127.0.0.1:4444']);
    expect(tcp.monitors.map((m) => m.endpoint)).toEqual([
      { kind: 'tcp', host: '127.0.0.1', port: 4444 },
    ]);
  });
});

describe('--replay', () => {
  test('strict by default; --replay-mode tolerant', () => {
    expect(parseCommandLine(['--replay', 's.jsonl', '--socket', 'q.sock'])).toMatchObject({
      action: 'serve',
      replay: { file: 's.jsonl', mode: 'strict' },
    });
    expect(
      parseCommandLine(['--replay=s.jsonl', '--replay-mode', 'tolerant', '--tcp', '127.0.0.1:0']),
    ).toMatchObject({ replay: { file: 's.jsonl', mode: 'tolerant' } });
    expect(parseCommandLine(['--socket', 'q.sock'])).toMatchObject({ replay: undefined });
  });

  test.each([
    [['--replay-mode', 'tolerant', '--socket', 'q'], '--replay-mode needs --replay FILE'],
    [
      ['--replay', 's', '--replay-mode', 'loose', '--socket', 'q'],
      "expected 'strict' or 'tolerant'",
    ],
    [['--replay', 's', '--demo'], '--demo and --blockdev do not apply'],
    [['--replay', 's'], 'no monitor given'],
  ])('%j: %s', (args, message) => {
    expect(() => parseCommandLine(args)).toThrow(ServerUsageError);
    expect(() => parseCommandLine(args)).toThrow(message);
  });
});

describe('--lint', () => {
  test('off by default; each lint option turns it on', () => {
    expect(parseCommandLine(['--socket', 'q'])).toMatchObject({ lint: undefined });
    expect(parseCommandLine(['--socket', 'q', '--lint'])).toMatchObject({
      lint: { reportFile: undefined, fail: false, minPollIntervalMs: 100 },
    });
    expect(
      parseCommandLine([
        '--socket',
        'q',
        '--lint-report',
        'r.json',
        '--lint-fail',
        '--lint-poll-interval',
        '5',
      ]),
    ).toMatchObject({ lint: { reportFile: 'r.json', fail: true, minPollIntervalMs: 5 } });
  });

  test.each([
    [['--socket', 'q', '--lint-poll-interval', 'fast'], 'expected a number of milliseconds'],
    [['--socket', 'q', '--lint=yes'], 'takes no value'],
    [['--socket', 'q', '--replay', 's', '--lint'], 'not a replay'],
  ])('%j: %s', (args, message) => {
    expect(() => parseCommandLine(args)).toThrow(message);
  });
});

describe('--fault, --faults, --fault-seed', () => {
  test('off by default; each option turns the plan on, faults in order', () => {
    expect(parseCommandLine(['--socket', 'q'])).toMatchObject({ faults: undefined });
    expect(
      parseCommandLine([
        '--socket',
        'q',
        '--fault',
        'split,pieces=3',
        '--faults',
        'plan.json',
        '--fault=drop,job=j,status=ready',
        '--fault-seed',
        '9',
      ]),
    ).toMatchObject({
      faults: {
        seed: 9,
        files: ['plan.json'],
        faults: [
          { kind: 'split', pieces: 3 },
          { kind: 'drop', job: 'j', status: 'ready' },
        ],
      },
    });
    expect(parseCommandLine(['--socket', 'q', '--fault-seed', '0'])).toMatchObject({
      faults: { seed: 0, files: [], faults: [] },
    });
  });

  test.each([
    [['--socket', 'q', '--fault', 'bogus'], "--fault bogus: unknown fault kind 'bogus'"],
    [['--socket', 'q', '--fault-seed', '-1'], '--fault-seed -1: the seed must be'],
    [['--socket', 'q', '--fault-seed', '4294967296'], 'the seed must be'],
    [['--socket', 'q', '--faults', ''], 'empty path'],
    [['--socket', 'q', '--replay', 's', '--fault', 'split'], 'not a replay'],
  ])('%j: %s', (args, message) => {
    expect(() => parseCommandLine(args)).toThrow(message);
  });
});

describe('--fleet', () => {
  test('a count; socket paths carry %d; fleetMonitors gives each VM its own', () => {
    const parsed = parseCommandLine([
      '--fleet',
      '3',
      '--socket',
      'vm%d.sock',
      '--tcp',
      '127.0.0.1:7000',
    ]);
    expect(parsed).toMatchObject({ fleet: 3 });
    if (parsed.action !== 'serve') throw new Error('serve expected');
    expect(fleetMonitors(parsed.monitors, 2).map((m) => m.endpoint)).toEqual([
      { kind: 'unix', path: 'vm2.sock' },
      { kind: 'tcp', host: '127.0.0.1', port: 7002 },
    ]);
    const anyPort = parseCommandLine(['--fleet', '2', '--tcp', '127.0.0.1:0']);
    if (anyPort.action !== 'serve') throw new Error('serve expected');
    expect(fleetMonitors(anyPort.monitors, 1)[0]!.endpoint).toMatchObject({ port: 0 });
    expect(parseCommandLine(['--socket', 'q'])).toMatchObject({ fleet: undefined });
    // One VM needs no %d.
    expect(parseCommandLine(['--fleet', '1', '--socket', 'q'])).toMatchObject({ fleet: 1 });
    // The linter and faults watch each VM of a fleet.
    expect(
      parseCommandLine(['--fleet', '2', '--socket', 'q%d', '--lint', '--fault', 'split']),
    ).toMatchObject({ fleet: 2, lint: { fail: false }, faults: { faults: [{ kind: 'split' }] } });
    // A fleet file's VMs are counted once it is read: no %d needed yet.
    expect(parseCommandLine(['--fleet-file', 'f', '--socket', 'q'])).toMatchObject({
      fleet: undefined,
      fleetFile: 'f',
    });
  });

  test.each([
    [['--fleet', '2', '--socket', 'q.sock'], "the socket path needs '%d'"],
    [['--fleet', '0', '--socket', 'q%d'], 'from 1 to 10000'],
    [['--fleet', '10001', '--socket', 'q%d'], 'from 1 to 10000'],
    [['--fleet', 'x', '--socket', 'q%d'], 'from 1 to 10000'],
    [['--fleet', '2', '--demo', '--socket', 'q%d'], 'do not apply'],
    [['--fleet', '2', '--tcp', '127.0.0.1:65535'], 'beyond 65535'],
    [['--fleet', '2', '--fleet-file', 'f', '--socket', 'q%d'], 'one or the other'],
    [['--fleet-file', '', '--socket', 'q%d'], 'empty path'],
    [['--fleet-file', 'f', '--socket', 'q%n', '--replay', 'r'], 'do not apply'],
  ])('%j: %s', (args, message) => {
    expect(() => parseCommandLine(args)).toThrow(message);
  });
});
