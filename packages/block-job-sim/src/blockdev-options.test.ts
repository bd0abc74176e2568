import { describe, expect, test } from 'vitest';
import {
  BlockdevArgumentError,
  parseBlockdevArgument as parseWithSchema,
} from './blockdev-options.js';
import { qemuSchema } from './qemu-schema.test-helper.js';
import { BlockSchema } from './schema.js';

const schema = new BlockSchema(qemuSchema);
const parseBlockdevArgument = (argument: string) => parseWithSchema(argument, schema);

// Every error text here was recorded from `qemu-storage-daemon --blockdev '<argument>'`
// (7.2.22): the message after the `--blockdev …:` prefix.
const refusal = (argument: string) => {
  try {
    parseBlockdevArgument(argument);
  } catch (error) {
    if (error instanceof BlockdevArgumentError) return error.message;
    throw error;
  }
  throw new Error(`${argument} was accepted`);
};

describe('parseBlockdevArgument', () => {
  test('key=value form: strings converted by schema type, members in schema order', () => {
    const options = parseBlockdevArgument(
      'blkdebug,node-name=d,image.driver=null-co,image.size=1048576,inject-error.0.event=read_aio,inject-error.0.errno=5,inject-error.0.once=on,inject-error.0.sector=0,read-only=off',
    );
    expect(options).toEqual({
      driver: 'blkdebug',
      'node-name': 'd',
      'read-only': false,
      image: { driver: 'null-co', size: 1048576 },
      'inject-error': [{ event: 'read_aio', errno: 5, sector: 0, once: true }],
    });
    expect(Object.keys(options)).toEqual([
      'driver',
      'node-name',
      'read-only',
      'image',
      'inject-error',
    ]);
  });

  test('the JSON form and the key=value form give the same options object', () => {
    expect(
      parseBlockdevArgument(
        'qcow2,node-name=top,file.driver=file,file.filename=top.qcow2,backing=base,cache.direct=on',
      ),
    ).toEqual(
      parseBlockdevArgument(
        '{"driver":"qcow2","node-name":"top","file":{"driver":"file","filename":"top.qcow2"},"backing":"base","cache":{"direct":true}}',
      ),
    );
  });

  test('integers: C strtoll with base 0 (hex, octal, sign, leading blanks)', () => {
    const size = (text: string) =>
      (parseBlockdevArgument(`null-co,node-name=n,size=${text}`) as { size?: number }).size;
    expect(size('0x10')).toBe(16);
    expect(size('010')).toBe(8);
    expect(size(' 5')).toBe(5);
    expect(size('+5')).toBe(5);
    expect(size('-5')).toBe(-5);
  });

  test('uint64 members take negative numbers, wrapped', () => {
    expect(parseBlockdevArgument('null-co,node-name=n,latency-ns=-1')).toMatchObject({
      'latency-ns': 2 ** 64 - 1,
    });
  });

  test('booleans take on/off, yes/no, true/false, y/n', () => {
    for (const [text, value] of [
      ['on', true],
      ['yes', true],
      ['true', true],
      ['y', true],
      ['off', false],
      ['no', false],
      ['false', false],
      ['n', false],
    ] as const) {
      expect(parseBlockdevArgument(`null-co,node-name=n,read-zeroes=${text}`)).toMatchObject({
        'read-zeroes': value,
      });
    }
  });

  test.each([
    ['null-co,node-name=n,size=abc', "Parameter 'size' expects integer"],
    ['null-co,node-name=n,size=1M', "Parameter 'size' expects integer"],
    ['null-co,node-name=n,size=5 ', "Parameter 'size' expects integer"],
    ['null-co,node-name=n,size=', "Parameter 'size' expects integer"],
    ['null-co,node-name=n,read-zeroes=maybe', "Parameter 'read-zeroes' expects 'on' or 'off'"],
    ['null-co,node-name=n,bogus=1', "Parameter 'bogus' is unexpected"],
    ['nope,node-name=n', "Parameter 'driver' does not accept value 'nope'"],
    [
      'blkdebug,node-name=d,image.driver=null-co,inject-error.0.event=read_aio,inject-error.0.errno=abc',
      "Parameter 'inject-error.0.errno' expects integer",
    ],
    [
      'blkdebug,node-name=d,image.driver=null-co,max-transfer=4294967296',
      "Parameter 'max-transfer' expects int32_t",
    ],
    [
      'blkdebug,node-name=d,image.driver=null-co,inject-error.0.event=nope',
      "Parameter 'event' does not accept value 'nope'",
    ],
    [
      'blkdebug,node-name=d,image.driver=null-co,inject-error.0.errno=5',
      "Parameter 'inject-error.0.event' is missing",
    ],
    [
      'blkdebug,node-name=d,image.driver=null-co,inject-error=x',
      "Invalid parameter type for 'inject-error', expected: array",
    ],
    ['qcow2,node-name=q,file.filename=x', "Parameter 'file.driver' is missing"],
    ['qcow2,node-name=q', "Parameter 'file' is missing"],
    ['file,node-name=f,filename.x=1', "Parameters 'filename.*' are unexpected"],
    [
      'file,node-name=f,filename=raw.img,cache.direct=maybe',
      "Parameter 'cache.direct' expects 'on' or 'off'",
    ],
    ['file,node-name=f,filename=raw.img,cache.bogus=1', "Parameter 'cache.bogus' is unexpected"],
    [
      'file,node-name=f,filename=raw.img,cache=1',
      "Invalid parameter type for 'cache', expected: object",
    ],
    [
      'file,node-name=f,filename=raw.img,locking=x',
      "Parameter 'locking' does not accept value 'x'",
    ],
    [
      'file,node-name=f,filename=raw.img,aio-max-batch=1.5',
      "Parameter 'aio-max-batch' expects integer",
    ],
    ['null-co,help', 'Help is not available for this option'],
    [
      'nbd,node-name=x,server.type=unix,server.path=/x,reconnect-delay=abc',
      "Parameter 'reconnect-delay' expects integer",
    ],
    ['nbd,node-name=x,server.type=bogus', "Parameter 'type' does not accept value 'bogus'"],
    ['nbd,node-name=x,server.type=inet,server.host=h', "Parameter 'server.port' is missing"],
    ['throttle,node-name=t,file=x,throttle-group=g,extra=1', "Parameter 'extra' is unexpected"],
    ['vmdk,node-name=v', "Parameter 'file' is missing"],
    [
      'qcow2,node-name=q,file=f,overlap-check.template=bogus',
      "Parameter 'template' does not accept value 'bogus'",
    ],
    [
      'null-co,node-name=n,latency-ns=18446744073709551616',
      "Parameter 'latency-ns' expects integer",
    ],
    ['file,node-name=f,filename=x,drop-cache=of', "Parameter 'drop-cache' expects 'on' or 'off'"],
    ['null-co,a.b=1,a=2', "Parameters 'a.*' used inconsistently"],
    [
      '{"driver":"blkdebug","node-name":"d","image":{"driver":"null-co"},"inject-error":[{"event":"read_aio","errno":"5"}]}',
      "Invalid parameter type for 'inject-error[0].errno', expected: integer",
    ],
    [
      '{"driver":"null-co","node-name":"n","size":"1M"}',
      "Invalid parameter type for 'size', expected: integer",
    ],
    [
      '{"driver":"null-co","node-name":"n","read-zeroes":"on"}',
      "Invalid parameter type for 'read-zeroes', expected: boolean",
    ],
    [
      '{"driver":"null-co","node-name":"n","latency-ns":1.5}',
      "Parameter 'latency-ns' expects uint64",
    ],
    [
      '{"driver":"file","node-name":"f","filename":"raw.img","cache":1}',
      "Invalid parameter type for 'cache', expected: object",
    ],
    [
      '{"driver":"raw","node-name":"r","file":1}',
      "Invalid parameter type for 'file', expected: BlockdevRef",
    ],
    ['{"driver":"null-co","node-name":"n","bogus":1}', "Parameter 'bogus' is unexpected"],
    [
      '{"driver":"blkdebug","node-name":"d","image":{"driver":"null-co"},"inject-error":[{"event":"nope"}]}',
      "Parameter 'event' does not accept value 'nope'",
    ],
    [
      '{"driver":"blkdebug","node-name":"d","image":{"driver":"null-co"},"inject-error":[{"errno":1}]}',
      "Parameter 'inject-error[0].event' is missing",
    ],
  ])('%s → %s', (argument, message) => {
    expect(refusal(argument)).toBe(message);
  });

  test(',, escapes a comma inside a file name', () => {
    expect(
      parseBlockdevArgument('qcow2,node-name=q,file.driver=file,file.filename=nope,,x.img'),
    ).toEqual({
      driver: 'qcow2',
      'node-name': 'q',
      file: { driver: 'file', filename: 'nope,x.img' },
    });
  });

  test('every driver of the schema converts, not only the simulated ones', () => {
    expect(parseBlockdevArgument('vmdk,node-name=v,file=f0')).toEqual({
      driver: 'vmdk',
      'node-name': 'v',
      file: 'f0',
    });
    expect(
      parseBlockdevArgument(
        'nbd,node-name=x,server.type=inet,server.host=h,server.port=10809,reconnect-delay=5',
      ),
    ).toEqual({
      driver: 'nbd',
      'node-name': 'x',
      server: { type: 'inet', host: 'h', port: '10809' },
      'reconnect-delay': 5,
    });
    // An alternate takes the branch that fits: here the enum of Qcow2OverlapChecks.
    expect(parseBlockdevArgument('qcow2,node-name=q,file=f,overlap-check=none')).toMatchObject({
      'overlap-check': 'none',
    });
  });
});
