// Argument validation (reference qmp-protocol.md §8, qapi-schema.md §11.2): QEMU's texts, in
// QEMU's check order, checked through the server with handlers registered for the commands.
import { describe, expect, test } from 'vitest';
import { harness } from '../test/helpers.js';
import { GHashKeySet, gStrHash } from './ghash.js';
import type { HandlerMap } from './types.js';

const seen: { command: string; args: unknown }[] = [];
const record =
  (command: string) =>
  (args: unknown): undefined => {
    seen.push({ command, args });
    return undefined;
  };

const JOB_COMMANDS = [
  'job-pause',
  'job-resume',
  'job-cancel',
  'job-complete',
  'job-finalize',
  'job-dismiss',
  'block-job-set-speed',
  'block-job-cancel',
  'block-job-pause',
  'block-job-resume',
  'block-job-complete',
  'block-job-finalize',
  'block-job-dismiss',
  'query-jobs',
  'query-block-jobs',
  'nbd-server-start',
  'block-set-write-threshold',
  'blockdev-add',
] as const;

const handlers: Record<string, unknown> = {};
for (const name of JOB_COMMANDS)
  handlers[name] = name.startsWith('query-') ? () => [] : record(name);

async function ask(command: string, args: string): Promise<unknown> {
  const client = await harness({ handlers: handlers as HandlerMap }).connect();
  await client.negotiate();
  await client.send(`{"execute":"${command}","arguments":${args},"id":"t"}`);
  await client.waitFor(2);
  return client.messages[1];
}

const bad = (desc: string) => ({ id: 't', error: { class: 'GenericError', desc } });

describe('job commands', () => {
  const cases: [string, string, string][] = [
    ['job-pause', '{}', "Parameter 'id' is missing"],
    ['job-pause', '{"bogus":1}', "Parameter 'id' is missing"],
    ['job-pause', '{"id":1}', "Invalid parameter type for 'id', expected: string"],
    ['job-pause', '{"id":null}', "Invalid parameter type for 'id', expected: string"],
    ['job-pause', '{"id":"x","bogus":1}', "Parameter 'bogus' is unexpected"],
    // Several unknown keys: the first in GLib hash-table order (reference §8).
    ['job-pause', '{"id":"x","zz":1,"aa":2,"mm":3}', "Parameter 'aa' is unexpected"],
    ['job-resume', '{}', "Parameter 'id' is missing"],
    ['job-cancel', '{"id":[]}', "Invalid parameter type for 'id', expected: string"],
    ['job-complete', '{"id":{}}', "Invalid parameter type for 'id', expected: string"],
    ['job-finalize', '{"id":true}', "Invalid parameter type for 'id', expected: string"],
    ['job-dismiss', '{"id":"j","x":1}', "Parameter 'x' is unexpected"],
    ['block-job-set-speed', '{"device":"x"}', "Parameter 'speed' is missing"],
    ['block-job-set-speed', '{"speed":1}', "Parameter 'device' is missing"],
    [
      'block-job-set-speed',
      '{"bogus":1,"speed":"s","device":"x"}',
      "Invalid parameter type for 'speed', expected: integer",
    ],
    [
      'block-job-set-speed',
      '{"device":"x","speed":1.5}',
      "Invalid parameter type for 'speed', expected: integer",
    ],
    [
      'block-job-set-speed',
      '{"device":"x","speed":1e3}',
      "Invalid parameter type for 'speed', expected: integer",
    ],
    [
      'block-job-set-speed',
      '{"device":"x","speed":1.0}',
      "Invalid parameter type for 'speed', expected: integer",
    ],
    [
      'block-job-set-speed',
      '{"device":"x","speed":9223372036854775808}',
      "Invalid parameter type for 'speed', expected: integer",
    ],
    [
      'block-job-set-speed',
      '{"device":"x","speed":null}',
      "Invalid parameter type for 'speed', expected: integer",
    ],
    [
      'block-job-cancel',
      '{"device":"x","force":"yes"}',
      "Invalid parameter type for 'force', expected: boolean",
    ],
    ['block-job-cancel', '{}', "Parameter 'device' is missing"],
    ['block-job-pause', '{"device":5}', "Invalid parameter type for 'device', expected: string"],
    ['block-job-resume', '{"device":"x","y":1}', "Parameter 'y' is unexpected"],
    ['block-job-complete', '{}', "Parameter 'device' is missing"],
    ['block-job-finalize', '{}', "Parameter 'id' is missing"],
    ['block-job-dismiss', '{"id":"x","force":true}', "Parameter 'force' is unexpected"],
    ['query-jobs', '{"x":1}', "Parameter 'x' is unexpected"],
    ['query-jobs', '{"x":1,"y":2}', "Parameter 'y' is unexpected"],
    ['query-block-jobs', '{"a":null}', "Parameter 'a' is unexpected"],
    // Integer kinds (the reference's examples).
    [
      'nbd-server-start',
      '{"addr":{"type":"unix","data":{"path":"/x"}},"max-connections":-1}',
      "Parameter 'max-connections' expects uint32_t",
    ],
    [
      'nbd-server-start',
      '{"addr":{"type":"unix","data":{"path":"/x"}},"max-connections":4294967296}',
      "Parameter 'max-connections' expects uint32_t",
    ],
    [
      'nbd-server-start',
      '{"addr":{"type":"unix","data":{"path":"/x"}},"max-connections":"x"}',
      "Parameter 'max-connections' expects uint64",
    ],
    [
      'nbd-server-start',
      '{"addr":{"type":"unix","data":{"path":"/x"}},"max-connections":1.5}',
      "Parameter 'max-connections' expects uint64",
    ],
    [
      'nbd-server-start',
      '{"addr":{"type":"inet","data":{"host":"h","port":"1","to":70000}}}',
      "Parameter 'to' expects uint16_t",
    ],
    ['nbd-server-start', '{"addr":{"data":{}}}', "Parameter 'addr.type' is missing"],
    [
      'nbd-server-start',
      '{"addr":{"type":"unix","data":{}}}',
      "Parameter 'addr.data.path' is missing",
    ],
    [
      'nbd-server-start',
      '{"addr":{"type":"unix","data":{"path":"/x","x":1}}}',
      "Parameter 'addr.data.x' is unexpected",
    ],
    [
      'nbd-server-start',
      '{"addr":{"type":"nope"}}',
      "Parameter 'type' does not accept value 'nope'",
    ],
    [
      'block-set-write-threshold',
      '{"node-name":"n","write-threshold":"x"}',
      "Parameter 'write-threshold' expects uint64",
    ],
    [
      'block-set-write-threshold',
      '{"node-name":"n","write-threshold":18446744073709551616}',
      "Parameter 'write-threshold' expects uint64",
    ],
    [
      'blockdev-add',
      '{"driver":"nope","node-name":"n"}',
      "Parameter 'driver' does not accept value 'nope'",
    ],
    [
      'blockdev-add',
      '{"driver":"raw","node-name":"n","file":5}',
      "Invalid parameter type for 'file', expected: BlockdevRef",
    ],
    [
      'blockdev-add',
      '{"driver":"raw","node-name":"n","file":{"driver":"blkdebug","image":"x","max-transfer":4294967296}}',
      "Parameter 'max-transfer' expects int32_t",
    ],
    [
      'blockdev-add',
      '{"driver":"raw","node-name":"n","file":{"driver":"null-co","bogus":1}}',
      "Parameter 'file.bogus' is unexpected",
    ],
    [
      'blockdev-add',
      '{"driver":"qcow2","node-name":"n","file":"f","cache":{"bogus":1}}',
      "Parameter 'cache.bogus' is unexpected",
    ],
  ];
  test.each(cases)('%s %s', async (command, args, desc) => {
    expect(await ask(command, args)).toEqual(bad(desc));
  });

  test('valid arguments reach the handler, converted', async () => {
    seen.length = 0;
    expect(await ask('block-job-set-speed', '{"device":"j","speed":100}')).toEqual({
      return: {},
      id: 't',
    });
    expect(
      await ask('block-set-write-threshold', '{"node-name":"n","write-threshold":-1}'),
    ).toEqual({
      return: {},
      id: 't',
    });
    expect(await ask('job-pause', '{"id":"a"}')).toEqual({ return: {}, id: 't' });
    expect(seen).toEqual([
      { command: 'block-job-set-speed', args: { device: 'j', speed: 100 } },
      // uint64 -1 is accepted and wraps, as in QEMU.
      {
        command: 'block-set-write-threshold',
        args: { 'node-name': 'n', 'write-threshold': 2 ** 64 },
      },
      { command: 'job-pause', args: { id: 'a' } },
    ]);
  });

  test('query-jobs takes no arguments and answers its handler', async () => {
    expect(await ask('query-jobs', '{}')).toEqual({ return: [], id: 't' });
  });
});

describe('GLib hash order', () => {
  test('g_str_hash is djb2 over signed bytes', () => {
    expect(gStrHash('')).toBe(5381);
    expect(gStrHash('x')).toBe(5381 * 33 + 120);
    // A byte >= 0x80 counts as negative (signed char).
    expect(gStrHash('\u00e9')).toBe(((5381 * 33 - 61) * 33 - 87) >>> 0);
  });

  test('the reference examples', () => {
    const a = new GHashKeySet();
    for (const k of ['x', 'y']) a.add(k);
    expect(a.first()).toBe('y');
    const b = new GHashKeySet();
    for (const k of ['id', 'zz', 'aa', 'mm']) b.add(k);
    b.remove('id');
    expect(b.first()).toBe('aa');
  });

  test('growing past 7 keys keeps every key', () => {
    const set = new GHashKeySet();
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    for (const k of keys) set.add(k);
    expect(set.ordered().sort()).toEqual([...keys].sort());
    for (const k of keys.slice(0, 38)) set.remove(k);
    expect(set.ordered().sort()).toEqual(['k38', 'k39']);
  });
});
