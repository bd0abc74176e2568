// QEMU 7.2's own front-end test suite (tests/qapi-schema, vendored under test-data/): the cases
// QEMU rejects must be rejected at the place QEMU names, with QEMU's message; the cases QEMU
// accepts must be accepted, and dumped in test-qapi.py's format they must equal QEMU's golden
// `.out` files byte for byte. The expectations are QEMU's files, never our output.

import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { dumpSchema } from '../src/test-dump.js';
import { goldenSuite } from './golden.js';

const suite = goldenSuite(
  fileURLToPath(new URL('../test-data/qemu-7.2/tests/qapi-schema/', import.meta.url)),
);

/** The cases QEMU's meson.build runs, plus the intentionally missing schema. */
const cases = [...suite.read('meson.build').matchAll(/^\s+'([^']+)\.json',$/gm)].map(
  (m) => m[1] as string,
);
cases.push('missing-schema');

const negative = cases.filter((c) => suite.expectedError(c) !== '');
const positive = cases.filter((c) => suite.expectedError(c) === '');

test('the vendored suite is the one QEMU 7.2 runs', () => {
  // 7.2's meson.build lists 197 schemas; missing-schema is added separately.
  expect(cases.length).toBe(198);
  expect(negative.length).toBe(190);
  expect(positive.length).toBe(8);
});

describe('cases QEMU rejects are rejected where QEMU says, with its message', () => {
  test.each(negative)('%s', (name) => {
    suite.checkRejected(name);
  });
});

describe('cases QEMU accepts are accepted and dump exactly as test-qapi.py does', () => {
  test.each(positive)('%s', (name) => {
    suite.checkAccepted(name);
  });
});

test('qapi-schema-test.json and doc-good.json round-trip through the dumper', () => {
  // The two big positive cases, named explicitly: every construct and every doc construct.
  for (const name of ['qapi-schema-test', 'doc-good']) {
    const golden = suite.read(`${name}.out`);
    expect(golden.length).toBeGreaterThan(1000);
    expect(dumpSchema(suite.load(name))).toBe(golden);
  }
});

test('a root file that does not exist is an error naming the file', () => {
  const e = suite.checkRejected('missing-schema');
  expect(e.message).toContain("can't read schema file 'missing-schema.json'");
  expect(e.rule).toBe('schema-unreadable');
});
