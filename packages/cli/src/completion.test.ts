// Completion from QEMU 7.2's qemu-storage-daemon schema (the runtime schema of
// @qmpkit/qapi-types is that `query-qmp-schema` answer); the names expected below are QEMU's.
import { qmpSchema } from '@qmpkit/qapi-types/7.2';
import { describe, expect, test } from 'vitest';
import { completeLine, SchemaIndex } from './completion.js';

const index = new SchemaIndex(qmpSchema);
const complete = (line: string, inTransaction = false) => completeLine(index, line, inTransaction);

describe('shell completion from query-qmp-schema', () => {
  test('command names', () => {
    const [hits, word] = complete('job-');
    expect(word).toBe('job-');
    expect(hits).toEqual([
      'job-cancel',
      'job-complete',
      'job-dismiss',
      'job-finalize',
      'job-pause',
      'job-resume',
    ]);
    expect(complete('transac')[0]).toEqual(['transaction', 'transaction(']);
  });

  test('argument names of a command, without those already given', () => {
    expect(complete('block-job-set-speed ')[0]).toEqual(['device=', 'speed=']);
    expect(complete('block-job-set-speed device=m1 sp')).toEqual([['speed='], 'sp']);
  });

  test('enum values and booleans after key=', () => {
    expect(complete('blockdev-mirror sync=')).toEqual([
      ['sync=top', 'sync=full', 'sync=none', 'sync=incremental', 'sync=bitmap'],
      'sync=',
    ]);
    expect(complete('blockdev-mirror auto-dismiss=')[0]).toEqual([
      'auto-dismiss=true',
      'auto-dismiss=false',
    ]);
  });

  test('nested keys with dots, through union variants', () => {
    // BlockdevOptions is a union on `driver`; `cache` is an object member (BlockdevCacheOptions),
    // qcow2's cache-size and cache-clean-interval are integers.
    expect(complete('blockdev-add cac')[0]).toEqual([
      'cache-clean-interval=',
      'cache-size=',
      'cache.',
    ]);
    expect(complete('blockdev-add cache.')[0]).toEqual(['cache.direct=', 'cache.no-flush=']);
    // A member of the null-co variant.
    expect(complete('blockdev-add latency')[0]).toEqual(['latency-ns=']);
    // `file` is BlockdevRef, an alternate (a node name or options): completed with '='.
    expect(complete('blockdev-add fil')[0]).toContain('file=');
    expect(complete('blockdev-add file.filen')[0]).toEqual(['file.filename=']);
  });

  test('transaction actions and their data', () => {
    expect(complete('', true)[0]).toContain('blockdev-backup');
    expect(complete('block-dirty-bitmap-a', true)[0]).toEqual(['block-dirty-bitmap-add']);
    expect(complete('blockdev-backup syn', true)[0]).toEqual(['sync=']);
    expect(complete('transaction( blockdev-backup syn')[0]).toEqual(['sync=']);
  });

  test('unknown commands and garbage schemas complete nothing', () => {
    expect(complete('no-such-command ')[0]).toEqual([]);
    const broken = new SchemaIndex([null, 1, { name: 5 }, { name: 'x', 'meta-type': 'command' }]);
    expect(broken.commands).toEqual(['x']);
    expect(completeLine(broken, 'x ', false)[0]).toEqual([]);
  });
});
