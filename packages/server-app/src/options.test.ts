import { describe, expect, test } from 'vitest';
import { checkBlockdevSyntax, parseCommandLine, splitQemuOpts, UsageError } from './options.js';

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
    ).toEqual({
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
    expect(() => parseCommandLine(args)).toThrow(UsageError);
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

  test('blockdev syntax', () => {
    expect(() => checkBlockdevSyntax('null-co,node-name=a')).not.toThrow();
    expect(() =>
      checkBlockdevSyntax('driver=qcow2,file.driver=file,file.filename=x'),
    ).not.toThrow();
    expect(() => checkBlockdevSyntax('{"driver":"null-co"}')).not.toThrow();
    expect(() => checkBlockdevSyntax('driver=x,y')).toThrow("Expected '=' after parameter 'y'");
    expect(() => checkBlockdevSyntax('driver=x,file..a=1')).toThrow("Invalid parameter 'file..a'");
    expect(() => checkBlockdevSyntax('{"a":1} x')).toThrow('invalid JSON');
  });
});
