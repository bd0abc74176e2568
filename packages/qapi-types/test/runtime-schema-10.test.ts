// The committed QEMU 10.0 runtime schema against the oracle: the reply recorded from Debian's
// qemu-storage-daemon 10.0.2 (conformance compares with the running binary as well).
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import * as root from '../src/index.js';
import * as qemu72 from '../src/qemu-7.2.js';
import * as qemu10 from '../src/qemu-10.0.js';
import { JobVerb, qemuVersion, qmpSchema, qmpSchemaExtras } from '../src/qemu-10.0.js';

const reply = JSON.parse(
  readFileSync(
    new URL(
      '../../../qemu-data/qapi-corpus/introspect/qemu-storage-daemon-10.0.json',
      import.meta.url,
    ),
    'utf8',
  ),
) as { name: string }[];

test('qmpSchema of /10.0 is the real 10.0.2 reply (entries, numbers and order; key order aside)', () => {
  expect(qemuVersion).toBe('10.0');
  expect(qmpSchema).toEqual(reply);
});

test("10.0's extras name its masked types", () => {
  const named = new Set(Object.values(qmpSchemaExtras.typeNames));
  expect(named.has('BlockJobInfoMirror')).toBe(true);
  expect(named.has('BlockJobChangeOptions')).toBe(true);
});

test("10.0's job verbs add 'change' (block-job-change, QEMU 8.2) to 7.2's", () => {
  expect(JobVerb).toEqual([...qemu72.JobVerb, 'change']);
});

test('the root is the newest entry, 10.0, plus the version list', () => {
  expect(root.qemuVersion).toBe('10.0');
  expect(root.qmpSchema).toBe(qemu10.qmpSchema);
  expect(root.JobVerb).toBe(qemu10.JobVerb);
  expect(root.qemuVersions).toEqual(['7.2', '10.0']);
});
