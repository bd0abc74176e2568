import { describe, expect, test } from 'vitest';
import { KeyvalError, parseKeyval } from './keyval.js';

// Grammar and semantics from QEMU 7.2 util/keyval.c; every error text below was recorded from
// `qemu-storage-daemon --blockdev '<input>'` (7.2.22), which parses with keyval_parse(s, "driver").
const parse = (s: string) => parseKeyval(s, 'driver').value;
const error = (s: string) => {
  try {
    parseKeyval(s, 'driver');
  } catch (e) {
    if (e instanceof KeyvalError) return e.message;
    throw e;
  }
  throw new Error(`'${s}' parsed`);
};

describe('parseKeyval', () => {
  test('plain keys, the implied first key and a trailing comma', () => {
    expect(parse('null-co,node-name=n0,size=1048576,')).toEqual({
      driver: 'null-co',
      'node-name': 'n0',
      size: '1048576',
    });
    expect(parse('driver=file,filename=x')).toEqual({ driver: 'file', filename: 'x' });
    expect(parse('')).toEqual({});
  });

  test('dotted keys build nested objects and numeric fragments build arrays', () => {
    expect(
      parse('qcow2,node-name=q,file.driver=file,file.filename=a.qcow2,backing.driver=null-co'),
    ).toEqual({
      driver: 'qcow2',
      'node-name': 'q',
      file: { driver: 'file', filename: 'a.qcow2' },
      backing: { driver: 'null-co' },
    });
    expect(
      parse(
        'blkdebug,inject-error.1.event=write_aio,inject-error.0.event=read_aio,inject-error.0.errno=5',
      ),
    ).toEqual({
      driver: 'blkdebug',
      'inject-error': [{ event: 'read_aio', errno: '5' }, { event: 'write_aio' }],
    });
    expect(parse('null-co,x.00=a')).toEqual({ driver: 'null-co', x: ['a'] });
  });

  test(',, is a literal comma in values; the last repeated key wins', () => {
    expect(parse('file,filename=nope,,x.img')).toEqual({ driver: 'file', filename: 'nope,x.img' });
    expect(parse('null-co,node-name=n,node-name=m')).toEqual({
      driver: 'null-co',
      'node-name': 'm',
    });
    expect(parse('null-co,a=1,,2')).toEqual({ driver: 'null-co', a: '1,2' });
    expect(parse('null-co,a=')).toEqual({ driver: 'null-co', a: '' });
    expect(parse('null-co,a=x=y')).toEqual({ driver: 'null-co', a: 'x=y' });
  });

  test('QAPI names: downstream __RFQDN_ prefixes and _ inside names', () => {
    expect(parse('null-co,__com.redhat_x=1,a-b_c=2')).toEqual({
      driver: 'null-co',
      '__com.redhat_x': '1',
      'a-b_c': '2',
    });
  });

  test.each([
    ['null-co,a.b=1,a=2', "Parameters 'a.*' used inconsistently"],
    ['null-co,a=2,a.b=1', "Parameters 'a.*' used inconsistently"],
    ['null-co,x.1=a', "Parameter 'x.0' missing"],
    ['null-co,x.0=a,x.5=b', "Parameter 'x.1' missing"],
    ['null-co,x.0=a,x.b=c', "Parameters 'x.*' used inconsistently"],
    ['null-co,1a=x', "Invalid parameter '1a'"],
    ['null-co,a..b=1', "Invalid parameter 'a..b'"],
    ['null-co,x.a1=1,x', "Expected '=' after parameter 'x'"],
    ['null-co,node-name', "Expected '=' after parameter 'node-name'"],
    [',node-name=x', "Invalid parameter ''"],
    ['null-co,,node-name=x', "Invalid parameter ''"],
    ['null-co,a=1,,2,b', "Expected '=' after parameter 'b'"],
    ['driver=null-co,null-co', "Expected '=' after parameter 'null-co'"],
    [`null-co,${'a'.repeat(128)}=1`, `Parameter '${'a'.repeat(128)}' is too long`],
    [`null-co,x.${'a'.repeat(128)}=1`, `Parameter fragment '${'a'.repeat(128)}' is too long`],
  ])('%s → %s', (input, message) => {
    expect(error(input)).toBe(message);
  });

  test('a 127-character fragment is accepted', () => {
    expect(parse(`null-co,${'a'.repeat(127)}=1`)).toHaveProperty('a'.repeat(127), '1');
  });

  test('help requests are reported, not stored', () => {
    expect(parseKeyval('null-co,help', 'driver')).toEqual({
      value: { driver: 'null-co' },
      help: true,
    });
    expect(parseKeyval('?', 'driver')).toEqual({ value: {}, help: true });
  });

  test('without an implied key a bare word needs =', () => {
    expect(() => parseKeyval('null-co')).toThrow("Expected '=' after parameter 'null-co'");
  });

  test('__proto__ is stored as a plain key, never reaching Object.prototype', () => {
    const value = parse('null-co,x.a=1');
    expect(Object.getPrototypeOf(value)).toBe(null);
    expect(() => parse('null-co,__proto__=1')).toThrow("Invalid parameter '__proto__'");
  });
});
