import { describe, expect, test } from 'vitest';
import { formatJson } from './json-format.js';
import { endedLine, jobLine, LiveView } from './view.js';
import type { WatchRecord } from './watch-model.js';

const MiB = 1024 * 1024;
const record: WatchRecord = {
  time: 1,
  id: 'm1',
  type: 'mirror',
  status: 'running',
  current: 32 * MiB,
  total: 64 * MiB,
  percent: 50,
  rate: 8 * MiB,
  eta: 4,
  speed: 0,
  error: null,
};

describe('live job lines', () => {
  test('a running job: bar, percent, amounts, rate, ETA, limit', () => {
    expect(jobLine(record, 10)).toBe(
      'm1  mirror  running  [#####.....]   50.0%  32.0 MiB / 64.0 MiB  8.0 MiB/s  ETA 0:04  limit unlimited',
    );
  });

  test('unknown numbers and errors', () => {
    expect(
      jobLine(
        { ...record, type: null, percent: null, rate: null, eta: null, speed: null, error: 'x' },
        4,
      ),
    ).toBe('m1  ?  running  [....]       -  32.0 MiB / 64.0 MiB  -  ETA --:--  error: x');
    const gone = { ...record, status: 'null', percent: 100 };
    expect(endedLine(gone)).toBe('m1  mirror  completed  100.0%  32.0 MiB');
    expect(endedLine(gone, true)).toBe('m1  mirror  cancelled  100.0%  32.0 MiB');
    // QEMU's texts: a failure (job-semantics §6.7) and a hard cancel seen in query-jobs (§6.3).
    expect(endedLine({ ...gone, error: 'Input/output error' }, true)).toBe(
      'm1  mirror  failed: Input/output error  100.0%  32.0 MiB',
    );
    expect(endedLine({ ...gone, error: 'Operation canceled' }, true)).toBe(
      'm1  mirror  cancelled  100.0%  32.0 MiB',
    );
  });

  test('the live block is redrawn in place, the cursor hidden then shown', () => {
    let written = '';
    const view = new LiveView({ write: (t: string) => (written += t), columns: 80, isTTY: true });
    view.draw([], ['a', 'b']);
    expect(written).toBe('\x1b[?25l\r\x1b[2Ka\n\x1b[2Kb\n\x1b[J');
    written = '';
    view.draw(['done'], ['b']);
    expect(written).toBe('\x1b[2A\r\x1b[2Kdone\n\x1b[2Kb\n\x1b[J');
    written = '';
    view.close();
    expect(written).toBe('\x1b[?25h');
  });
});

describe('NDJSON', () => {
  test('one line per record, every field present', () => {
    const line = formatJson(record, 0);
    expect(line).not.toContain('\n');
    expect(Object.keys(JSON.parse(line))).toEqual([
      'time',
      'id',
      'type',
      'status',
      'current',
      'total',
      'percent',
      'rate',
      'eta',
      'speed',
      'error',
    ]);
  });

  test('pretty JSON writes bigint digits and prototype-less objects', () => {
    const value = Object.create(null) as Record<string, unknown>;
    value.size = 18446744073709551615n;
    value.list = [1, { a: null }];
    value.empty = {};
    expect(formatJson(value)).toBe(
      '{\n  "size": 18446744073709551615,\n  "list": [\n    1,\n    {\n      "a": null\n    }\n  ],\n  "empty": {}\n}',
    );
    expect(formatJson(value, 0)).toBe(
      '{"size":18446744073709551615,"list":[1,{"a":null}],"empty":{}}',
    );
  });
});
