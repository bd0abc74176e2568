// QEMU's QDict order and JSON printer (moved here from block-job-sim's own copy, which the
// block layer's json:{…} filenames now take from this module).
import { describe, expect, test } from 'vitest';
import { encodeJson } from './encode.js';
import { qemuKeyBucket as qdictBucket, qemuMemberOrder as qdictOrder } from './qemu-format.js';

const qemuJson = (value: unknown) => encodeJson(value, { style: 'qemu', memberOrder: 'qemu' });

describe('QDict order', () => {
  // Buckets from reference/qmp-protocol.md §1.5 (verified on QEMU 7.2).
  test.each([
    ['timestamp', 26],
    ['seconds', 5],
    ['microseconds', 374],
    ['event', 361],
    ['data', 505],
    ['QMP', 99],
    ['return', 401],
    ['id', 486],
    ['error', 489],
    ['class', 211],
    ['desc', 377],
  ])('bucket of %s is %i', (key, bucket) => {
    expect(qdictBucket(key)).toBe(bucket);
  });

  test('same bucket: the most recently inserted first (minor/micro share 225)', () => {
    expect(qdictOrder(['major', 'minor', 'micro'])).toEqual(['micro', 'minor', 'major']);
  });

  // json: filenames recorded from qemu-storage-daemon 7.2.22 query-named-block-nodes.
  test('prints option dictionaries as QEMU does in json: filenames', () => {
    expect(qemuJson({ driver: 'null-co', 'read-zeroes': true, size: 1048576 })).toBe(
      '{"read-zeroes": true, "driver": "null-co", "size": 1048576}',
    );
    expect(
      qemuJson({ driver: 'qcow2', backing: null, file: { driver: 'file', filename: 'top.qcow2' } }),
    ).toBe(
      '{"backing": null, "driver": "qcow2", "file": {"driver": "file", "filename": "top.qcow2"}}',
    );
  });

  test('escapes strings as QEMU does', () => {
    expect(qemuJson('a"\\\n\u0001é😀/')).toBe('"a\\"\\\\\\n\\u0001\\u00E9\\uD83D\\uDE00/"');
    expect(qemuJson([1, -5, false])).toBe('[1, -5, false]');
  });
});
