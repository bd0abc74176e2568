import { describe, expect, test } from 'vitest';
import { splitQemuOpts } from '../options.js';
import {
  checkFault,
  describeFault,
  FAULT_KINDS,
  FaultSpecError,
  parseFaultFile,
  parseFaultOption,
  withFaultCommand,
} from './spec.js';

const parse = (text: string) => parseFaultOption(text, splitQemuOpts);

describe('--fault syntax', () => {
  test('a kind with typed parameters', () => {
    expect(parse('delay-reply,command=query-jobs,ms=200,jitter=50,probability=0.5')).toEqual({
      kind: 'delay-reply',
      command: 'query-jobs',
      ms: 200,
      jitter: 50,
      probability: 0.5,
    });
    expect(parse('drop,job=j0,status=ready,count=1')).toEqual({
      kind: 'drop',
      job: 'j0',
      status: 'ready',
      count: 1,
    });
    expect(parse('hold-greeting')).toEqual({ kind: 'hold-greeting' });
    // Built-ins take the reply faults (the server answers them: they must be named).
    expect(parse('delay-reply,command=qmp_capabilities,ms=5')).toMatchObject({ ms: 5 });
    expect(parse('drop,command=quit')).toEqual({ kind: 'drop', command: 'quit' });
    expect(parse('slow-progress,job=m0,rate=16M')).toEqual({
      kind: 'slow-progress',
      job: 'm0',
      rate: 16 * 1024 * 1024,
    });
    expect(parse('slow-progress,percent=10')).toEqual({ kind: 'slow-progress', percent: 10 });
    expect(parse('stall-progress,ms=500')).toEqual({ kind: 'stall-progress', ms: 500 });
  });

  test.each([
    ['nonsense', /unknown fault kind 'nonsense'/],
    ['delay-reply', /needs 'ms'/],
    ['delay-reply,ms=x', /whole number/],
    ['delay-reply,ms=1,ms=2', /given twice/],
    ['split,job=a', /'job' does not apply to a split fault/],
    ['split,pieces=1', /from 2 to 64/],
    ['drop', /either 'command' or 'job' and 'status'/],
    ['drop,job=a', /needs both/],
    ['drop,job=a,status=bogus', /job status/],
    ['drop,command=x,job=a,status=ready', /either/],
    ['coalesce', /needs 'ms'/],
    ['io-error,node=n', /needs 'node' and 'at'/],
    ['io-error,node=n,at=100', /from 0 to 99/],
    ['io-error,node=n,at=4,errno=EPERM', /ENOSPC or EIO/],
    ['io-error,node=n,at=4,iotype=flush', /read or write/],
    ['io-error,node=n,at=4,count=2', /once with count=1/],
    ['io-error,node=n,at=4,probability=0.5', /certain/],
    ['events-first,command=quit', /answered by the QMP server itself/],
    ['events-first,probability=2', /from 0 to 1/],
    ['events-first,frobnicate=1', /unknown fault parameter 'frobnicate'/],
    ['hold-greeting,ms=99999999999', /from 0 to 86400000/],
    ['slow-progress', /needs 'rate' \(bytes per second\) or 'percent'/],
    ['slow-progress,rate=1M,percent=5', /needs 'rate' \(bytes per second\) or 'percent'/],
    ['slow-progress,percent=100', /from 1 to 99/],
    ['slow-progress,rate=lots', /size in bytes/],
    ['slow-progress,rate=2P', /size in bytes/],
    ['stall-progress,rate=1M', /'rate' does not apply to a stall-progress fault/],
    ['stall-progress,command=query-jobs', /'command' does not apply/],
  ])('%s is refused', (text, message) => {
    expect(() => parse(text)).toThrow(message);
  });

  test('describeFault gives back the option', () => {
    const text = 'delay-reply,command=query-jobs,ms=200';
    expect(describeFault(parse(text))).toBe(text);
  });
});

describe('--faults file', () => {
  test('seed and faults', () => {
    expect(
      parseFaultFile(
        '{"seed": 42, "faults": [{"kind": "split", "pieces": 3}, {"kind": "hold-greeting", "ms": 10}]}',
      ),
    ).toEqual({
      seed: 42,
      faults: [
        { kind: 'split', pieces: 3 },
        { kind: 'hold-greeting', ms: 10 },
      ],
    });
  });

  test.each([
    ['[]', /expected an object/],
    ['{"faults": {}}', /must be an array/],
    ['{"faults": [], "extra": 1}', /unknown member 'extra'/],
    ['{"seed": -1, "faults": []}', /seed/],
    ['{"faults": [{"kind": "split"}, {"kind": "x"}]}', /faults\[1\]: unknown fault kind/],
    [
      '{"faults": [{"kind": "split", "__proto__": {"ms": 1}}]}',
      /unknown fault parameter '__proto__'/,
    ],
    ['{', /not JSON/],
  ])('%s is refused', (text, message) => {
    expect(() => parseFaultFile(text)).toThrow(message);
  });

  test('checkFault refuses non-objects', () => {
    expect(() => checkFault(null)).toThrow(FaultSpecError);
    expect(() => checkFault(['split'])).toThrow(FaultSpecError);
  });
});

test('x-qmpkit-fault is in the schema with every kind in its enum', () => {
  const schema = [{ name: '0', 'meta-type': 'object', members: [] }] as unknown as Parameters<
    typeof withFaultCommand
  >[0];
  const extras = {
    typeNames: {},
    memberIntKinds: {},
    alternateIntKinds: {},
    returnIntKinds: {},
    openArgCommands: [],
  };
  const { schema: out } = withFaultCommand(schema, extras);
  const command = out.find((e) => e.name === 'x-qmpkit-fault') as unknown as {
    'arg-type': string;
  };
  const args = out.find((e) => e.name === command['arg-type']) as unknown as {
    members: { name: string; type: string }[];
  };
  const kind = args.members.find((m) => m.name === 'kind')!;
  const kinds = out.find((e) => e.name === kind.type) as unknown as { values: string[] };
  expect(kinds.values).toEqual([
    'hold-greeting',
    'delay-reply',
    'events-first',
    'drop',
    'split',
    'coalesce',
    'dismiss-race',
    'io-error',
    'slow-progress',
    'stall-progress',
  ]);
  expect(kinds.values).toEqual([...FAULT_KINDS]);
});
