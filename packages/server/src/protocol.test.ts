// The wire rules of reference qmp-protocol.md §2–§5 and §7, over the in-memory linked pair.
// Expected texts are QEMU 7.2's, copied from the reference (verified on the real binaries).

import { splitEvery } from '@qmpkit/protocol/testing';
import { until } from '@qmpkit/test-support';
import { describe, expect, test } from 'vitest';
import { harness } from '../test/helpers.js';
import { QMP_SERVER_CODEC } from './codec.js';

const err = (desc: string, klass = 'GenericError') => ({ error: { class: klass, desc } });
const errId = (id: unknown, desc: string, klass = 'GenericError') => ({
  id,
  error: { class: klass, desc },
});

describe('greeting', () => {
  test('QEMU 7.2 with package qmpkit and oob by default', async () => {
    const client = await harness().connect();
    await client.waitFor(1);
    expect(client.messages[0]).toEqual({
      QMP: {
        version: { qemu: { major: 7, minor: 2, micro: 0 }, package: 'qmpkit' },
        capabilities: ['oob'],
      },
    });
  });

  test('version and capabilities are configurable', async () => {
    const client = await harness({
      version: { qemu: { micro: 22 }, package: 'x 1.0' },
      capabilities: [],
    }).connect();
    await client.waitFor(1);
    expect(client.messages[0]).toEqual({
      QMP: {
        version: { qemu: { major: 7, minor: 2, micro: 22 }, package: 'x 1.0' },
        capabilities: [],
      },
    });
  });
});

describe('negotiation (§3)', () => {
  const cases: [string, unknown][] = [
    ['{"execute":"qmp_capabilities","id":1}', { return: {}, id: 1 }],
    ['{"execute":"qmp_capabilities","arguments":{"enable":["oob"]},"id":1}', { return: {}, id: 1 }],
    ['{"execute":"qmp_capabilities","arguments":{"enable":[]},"id":1}', { return: {}, id: 1 }],
    [
      '{"execute":"qmp_capabilities","arguments":{"enable":["oob","oob"]},"id":1}',
      { return: {}, id: 1 },
    ],
    [
      '{"execute":"qmp_capabilities","arguments":{"enable":["foo"]},"id":1}',
      errId(1, "Parameter 'null' does not accept value 'foo'"),
    ],
    [
      '{"execute":"qmp_capabilities","arguments":{"enable":[1]},"id":1}',
      errId(1, "Invalid parameter type for 'enable[0]', expected: string"),
    ],
    [
      '{"execute":"qmp_capabilities","arguments":{"enable":"oob"},"id":1}',
      errId(1, "Invalid parameter type for 'enable', expected: array"),
    ],
    [
      '{"execute":"qmp_capabilities","arguments":{"enable":null},"id":1}',
      errId(1, "Invalid parameter type for 'enable', expected: array"),
    ],
    [
      '{"execute":"qmp_capabilities","arguments":{"foo":1},"id":1}',
      errId(1, "Parameter 'foo' is unexpected"),
    ],
    [
      '{"execute":"query-version","id":1}',
      errId(1, "Expecting capabilities negotiation with 'qmp_capabilities'", 'CommandNotFound'),
    ],
    [
      '{"execute":"no-such-command","id":1}',
      errId(1, "Expecting capabilities negotiation with 'qmp_capabilities'", 'CommandNotFound'),
    ],
    [
      '{"exec-oob":"qmp_capabilities","id":1}',
      errId(1, "QMP input member 'exec-oob' is unexpected"),
    ],
    ['{}', err("QMP input lacks member 'execute'")],
    ['[]', err('QMP input must be a JSON object')],
  ];
  test.each(cases)('%s', async (input, expected) => {
    const client = await harness().connect();
    await client.waitFor(1);
    await client.send(input);
    await client.waitFor(2);
    expect(client.messages[1]).toEqual(expected);
  });

  test('a failed negotiation leaves negotiation mode; a second one is refused', async () => {
    const client = await harness().connect();
    await client.waitFor(1);
    await client.send('{"execute":"qmp_capabilities","arguments":{"enable":["foo"]},"id":1}');
    await client.send('{"execute":"query-version","id":2}');
    await client.send('{"execute":"qmp_capabilities","id":3}');
    await client.send('{"execute":"qmp_capabilities","arguments":{"enable":["oob"]},"id":4}');
    await client.waitFor(5);
    expect(client.replies.slice(1)).toEqual([
      errId(2, "Expecting capabilities negotiation with 'qmp_capabilities'", 'CommandNotFound'),
      { return: {}, id: 3 },
      errId(4, 'Capabilities negotiation is already complete, command ignored', 'CommandNotFound'),
    ]);
  });

  test('a capability the greeting did not offer is refused', async () => {
    const client = await harness({ capabilities: [] }).connect();
    await client.waitFor(1);
    await client.send('{"execute":"qmp_capabilities","arguments":{"enable":["oob"]},"id":1}');
    await client.waitFor(2);
    expect(client.messages[1]).toEqual(errId(1, 'Capability oob not available'));
  });

  test('each connection starts in negotiation mode', async () => {
    const h = harness();
    const a = await h.connect();
    await a.negotiate();
    const b = await h.connect();
    await b.waitFor(1);
    await b.send('{"execute":"query-version","id":1}');
    await b.waitFor(2);
    expect(b.messages[1]).toMatchObject({ error: { class: 'CommandNotFound' } });
  });
});

describe('the command object (§4)', () => {
  const cases: [string, unknown][] = [
    ['1 ', err('QMP input must be a JSON object')],
    ['"str"', err('QMP input must be a JSON object')],
    ['null ', err('QMP input must be a JSON object')],
    ['[{"execute":"query-version"}]', err('QMP input must be a JSON object')],
    [
      '{"execute":"query-version","foo":1,"id":1}',
      errId(1, "QMP input member 'foo' is unexpected"),
    ],
    ['{"Execute":"query-version","id":1}', errId(1, "QMP input member 'Execute' is unexpected")],
    ['{"control":1,"id":1}', errId(1, "QMP input member 'control' is unexpected")],
    ['{"execute":1,"id":1}', errId(1, "QMP input member 'execute' must be a string")],
    [
      '{"execute":"query-version","arguments":null,"id":1}',
      errId(1, "QMP input member 'arguments' must be an object"),
    ],
    [
      '{"execute":"query-version","arguments":[],"id":1}',
      errId(1, "QMP input member 'arguments' must be an object"),
    ],
    ['{"id":5}', errId(5, "QMP input lacks member 'execute'")],
    ['{"arguments":{}}', err("QMP input lacks member 'execute'")],
    [
      '{"execute":"QUERY-VERSION","id":1}',
      errId(1, 'The command QUERY-VERSION has not been found', 'CommandNotFound'),
    ],
    [
      '{"execute":"query_version","id":1}',
      errId(1, 'The command query_version has not been found', 'CommandNotFound'),
    ],
    ['{"execute":"","id":1}', errId(1, 'The command  has not been found', 'CommandNotFound')],
    ['{"exec-oob":"query-version","id":1}', errId(1, "QMP input member 'exec-oob' is unexpected")],
    // A command of the schema that has no handler is not found either.
    [
      '{"execute":"job-pause","id":1}',
      errId(1, 'The command job-pause has not been found', 'CommandNotFound'),
    ],
  ];
  test.each(cases)('%s', async (input, expected) => {
    const client = await harness().connect();
    await client.negotiate();
    await client.send(`${input}\n`);
    await client.waitFor(2);
    expect(client.messages[1]).toEqual(expected);
  });

  test('with OOB on: clashes and OOB support', async () => {
    const client = await harness().connect();
    await client.negotiate(true);
    await client.send('{"execute":"query-version","exec-oob":"query-version","id":1}');
    await client.send('{"exec-oob":"query-version","execute":"query-version","id":2}');
    await client.send('{"exec-oob":"qmp_capabilities","id":3}');
    await client.send('{"exec-oob":"query-version","id":4}');
    await client.send('{"exec-oob":5,"id":6}');
    await client.waitFor(6);
    expect(client.replies).toEqual([
      errId(1, "QMP input member 'execute' clashes with 'exec-oob'"),
      errId(2, "QMP input member 'execute' clashes with 'exec-oob'"),
      errId(3, 'The command qmp_capabilities does not support OOB'),
      errId(4, 'The command query-version does not support OOB'),
      errId(6, "QMP input member 'exec-oob' must be a string"),
    ]);
  });

  test('ids of every JSON type are echoed after a JSON round trip', async () => {
    const client = await harness().connect();
    await client.negotiate();
    const ids = [
      '1',
      '-5',
      '"s"',
      'null',
      'true',
      'false',
      '[1,"a",null]',
      '{"b":1,"a":[null]}',
      '1.0',
      '1e3',
      "'single'",
      '"\\u00e9"',
      '18446744073709551615',
    ];
    for (const id of ids)
      await client.send(`{"execute":"query-commands","arguments":{"x":1},"id":${id}}`);
    await client.waitFor(1 + ids.length);
    expect(client.replies.map((r) => (r as { id: unknown }).id)).toEqual([
      1,
      -5,
      's',
      null,
      true,
      false,
      [1, 'a', null],
      { a: [null], b: 1 },
      1,
      1000,
      'single',
      'é',
      18446744073709551615n,
    ]);
  });

  test('several messages in one write, and a message split into single bytes', async () => {
    const client = await harness().connect({ pair: { split: splitEvery(1) } });
    await client.negotiate();
    await client.send(
      '{"execute":"query-version","id":1}{"execute":"nope","id":2}\n {"execute":"query-version","id":3}',
    );
    await client.waitFor(4);
    expect(client.replies.map((r) => (r as { id: unknown }).id)).toEqual([1, 2, 3]);
    expect(client.replies[1]).toEqual(
      errId(2, 'The command nope has not been found', 'CommandNotFound'),
    );
  });
});

describe('parse errors and recovery (§7)', () => {
  const P = (d: string) => err(`JSON parse error, ${d}`);
  const cases: [string, unknown[]][] = [
    ['{"execute": }', [P('expecting value')]],
    ['}', [P('expecting value')]],
    ['{"a"}', [P('missing : in object pair')]],
    ['{1:2}', [P('key is not a string in object')]],
    ['[1 2]', [P('expected separator in list')]],
    ['{"execute":"query-version","id":foo}', [P("invalid keyword 'foo'")]],
    ['@}', [P("stray '@'"), P('expecting value')]],
    ['{"execute":"query-version","id":1,"id":2}', [P('duplicate key')]],
    ['@ "str" 1 {"execute":"query-version","id":7}', [P("stray '@'"), 'reply 7']],
    ['{"execute":"query-version","id":8} garbage\n', ['reply 8', P("invalid keyword 'garbage'")]],
    [
      '{"execute":"query-version","id": {\x1b{"execute":"query-version","id":9}',
      [P("stray '\u001b'"), 'reply 9'],
    ],
    ['\xef\xbb\xbf{"execute":"query-version","id":10}', [P("stray '\ufffd'"), 'reply 10']],
  ];
  test.each(cases)('%j', async (input, expected) => {
    const client = await harness().connect();
    await client.negotiate();
    const bytes = Uint8Array.from(input, (c) => c.charCodeAt(0));
    await client.send(bytes);
    // Everything the input caused comes before the reply to a command sent after it.
    await client.send('{"execute":"query-version","id":"end"}');
    await client.waitFor(2 + expected.length);
    const got = client.messages.slice(0, -1);
    expect(client.messages.at(-1)).toMatchObject({ id: 'end' });
    expect(
      got
        .slice(1)
        .map((m) =>
          typeof m === 'object' && m !== null && 'return' in m
            ? `reply ${(m as { id: unknown }).id}`
            : m,
        ),
    ).toEqual(expected);
  });

  test.each([
    [{ maxMessageBytes: 64 }, `[${'"abcdefgh",'.repeat(10)}1]`, 'JSON token size limit exceeded'],
    [{ maxTokens: 10 }, '[1,2,3,4,5,6,7,8,9,10,11]', 'JSON token count limit exceeded'],
  ])('limit %j is answered like QEMU and the session goes on', async (limits, input, desc) => {
    const client = await harness().connect({
      serverCodec: { ...QMP_SERVER_CODEC, decode: { ...QMP_SERVER_CODEC.decode, ...limits } },
    });
    await client.negotiate();
    await client.send(input);
    await client.send('\x1b{"execute":"query-version","id":1}');
    await until(() => client.messages.some((m) => (m as { id?: unknown }).id === 1));
    const got = client.messages;
    expect(got[1]).toEqual(err(desc));
    expect(got.at(-1)).toMatchObject({ id: 1, return: {} });
  });

  test('nesting beyond 1024 is refused at once, and the connection stays usable', async () => {
    const client = await harness().connect();
    await client.negotiate();
    await client.send('['.repeat(1025));
    await client.waitFor(2);
    expect(client.messages[1]).toEqual(err('JSON nesting depth limit exceeded'));
    await client.send('\x1b{"execute":"query-version","id":1}');
    await client.waitFor(4);
    expect(client.messages[3]).toMatchObject({ id: 1 });
  });
});
