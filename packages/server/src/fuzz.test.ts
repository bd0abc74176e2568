// Fuzzing: random bytes and near-valid JSON never crash the server; every input is answered or
// waited on as QEMU would, and after a control-byte reset a valid command is answered.
import { until } from '@qmpkit/test-support';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { harness } from '../test/helpers.js';

const FRAGMENTS = [
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '"execute"',
  '"exec-oob"',
  '"arguments"',
  '"id"',
  '"query-version"',
  '"query-commands"',
  '"qmp_capabilities"',
  '"job-pause"',
  "'single'",
  '1',
  '-0',
  '1.5e3',
  'true',
  'null',
  'nul',
  '"\\u00e9"',
  '"\\ud83d"',
  '"\\q"',
  ' ',
  '\n',
  '\t',
  '@',
  '\u00ff',
];

/** Objects that look like commands, then mutated: truncated, with bytes inserted or dropped. */
const nearValid = fc
  .record({
    key: fc.constantFrom('execute', 'exec-oob', 'Execute', 'arguments', 'id', 'x'),
    name: fc.constantFrom('query-version', 'query-commands', 'job-pause', 'nope', ''),
    args: fc.option(fc.jsonValue({ maxDepth: 3 }), { nil: undefined }),
    id: fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
  })
  .map(({ key, name, args, id }) => {
    const message: Record<string, unknown> = { [key]: name };
    if (args !== undefined) message.arguments = args;
    if (id !== undefined) message.id = id;
    return JSON.stringify(message);
  })
  .chain((text) =>
    fc.tuple(
      fc.constant(text),
      fc.nat({ max: text.length }),
      fc.constantFrom('cut', 'insert', 'drop', 'keep'),
      fc.constantFrom(...FRAGMENTS),
    ),
  )
  .map(([text, at, how, fragment]) => {
    if (how === 'cut') return text.slice(0, at);
    if (how === 'insert') return text.slice(0, at) + fragment + text.slice(at);
    if (how === 'drop') return text.slice(0, at) + text.slice(at + 1);
    return text;
  });

const input = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 40 }).map((parts) => parts.join('')),
  fc.array(nearValid, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('')),
);

describe('fuzz', () => {
  test('random input: no crash, and the session stays usable after a reset', async () => {
    const h = harness();
    await fc.assert(
      fc.asyncProperty(input, async (data) => {
        const client = await h.connect();
        await client.negotiate();
        await client.send(data);
        // The spec's reset: one control byte ends whatever is half-read.
        await client.send('\x1b\n{"execute":"query-version","id":"probe"}');
        await client.waitFor(2);
        await until(
          () => client.messages.some((m) => (m as { id?: unknown }).id === 'probe'),
          `the probe reply after ${JSON.stringify(data)}`,
        );
        // Everything before the probe reply is a reply or error object, one per input item.
        for (const m of client.messages.slice(1)) {
          expect(typeof m === 'object' && m !== null && ('return' in m || 'error' in m)).toBe(true);
        }
        await client.transport.close();
      }),
      { numRuns: 150 },
    );
    expect(h.logs.filter(([level]) => level === 'error')).toEqual([]);
  });
});
