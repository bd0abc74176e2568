// QEMU's own front-end test suites (tests/qapi-schema) of 7.2 (vendored under test-data/) and
// 10.0 (fetched by .ci/fetch-qemu), each run with that release's front-end rules: the cases QEMU
// rejects must be rejected at the place QEMU names, with QEMU's message; the cases QEMU accepts
// must be accepted, and dumped in test-qapi.py's format they must equal QEMU's golden `.out`
// files byte for byte. The expectations are QEMU's files, never our output.

import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import type { QapiFrontEnd } from '../src/front-end.js';
import { dumpSchema } from '../src/test-dump.js';
import { type GoldenSuite, goldenSuite } from './golden.js';
import { qemu10Source } from './qemu-source.js';

const source10 = qemu10Source();

interface SuiteRun {
  readonly qemu: QapiFrontEnd;
  readonly suite: GoldenSuite | undefined;
  /** How many schemas the release's meson.build lists, and how many of them QEMU accepts. */
  readonly listed: number;
  readonly accepted: number;
}

const runs: SuiteRun[] = [
  {
    qemu: '7.2',
    suite: goldenSuite(
      fileURLToPath(new URL('../test-data/qemu-7.2/tests/qapi-schema/', import.meta.url)),
      '7.2',
    ),
    listed: 197,
    accepted: 8,
  },
  {
    qemu: '10.0',
    suite:
      source10 === undefined ? undefined : goldenSuite(`${source10}/tests/qapi-schema/`, '10.0'),
    listed: 206,
    accepted: 8,
  },
];

/** The cases QEMU's meson.build runs, plus the intentionally missing schema. */
function casesOf(suite: GoldenSuite): { negative: string[]; positive: string[] } {
  const cases = [...suite.read('meson.build').matchAll(/^\s+'([^']+)\.json',$/gm)].map(
    (m) => m[1] as string,
  );
  cases.push('missing-schema');
  return {
    negative: cases.filter((c) => suite.expectedError(c) !== ''),
    positive: cases.filter((c) => suite.expectedError(c) === ''),
  };
}

describe.each(runs)('QEMU $qemu tests/qapi-schema', ({ qemu, suite: maybe, listed, accepted }) => {
  const { negative, positive } = maybe ? casesOf(maybe) : { negative: [], positive: [] };
  // Every test below is skipped when the suite is missing.
  const suite = maybe as GoldenSuite;

  test.skipIf(!maybe)(`the suite is the one QEMU ${qemu} runs`, () => {
    // meson.build lists the schemas; missing-schema is added separately.
    expect(negative.length + positive.length).toBe(listed + 1);
    expect(positive.length).toBe(accepted);
  });

  describe('cases QEMU rejects are rejected where QEMU says, with its message', () => {
    test.skipIf(!maybe).each(negative)('%s', (name) => {
      suite.checkRejected(name);
    });
  });

  describe('cases QEMU accepts are accepted and dump exactly as test-qapi.py does', () => {
    test.skipIf(!maybe).each(positive)('%s', (name) => {
      suite.checkAccepted(name);
    });
  });

  test.skipIf(!maybe)(
    'qapi-schema-test.json and doc-good.json round-trip through the dumper',
    () => {
      // The two big positive cases, named explicitly: every construct and every doc construct.
      for (const name of ['qapi-schema-test', 'doc-good']) {
        const golden = suite.read(`${name}.out`);
        expect(golden.length).toBeGreaterThan(1000);
        expect(dumpSchema(suite.load(name), { qemu })).toBe(golden);
      }
    },
  );

  test.skipIf(!maybe)('a root file that does not exist is an error naming the file', () => {
    const e = suite.checkRejected('missing-schema');
    expect(e.message).toContain("can't read schema file 'missing-schema.json'");
    expect(e.rule).toBe('schema-unreadable');
  });
});

describe('the rules are the release the caller names, never guessed', () => {
  test.skipIf(!source10)("10.0's doc-good.json is rejected by 7.2's rules", () => {
    // QEMU 7.2's generator stops at the pragma 10.0 added.
    const suite = goldenSuite(`${source10}/tests/qapi-schema/`, '7.2');
    expect(() => suite.load('doc-good')).toThrow(/unknown pragma 'documentation-exceptions'/);
  });

  test("7.2's doc-good.json is rejected by 10.0's rules", () => {
    // 10.0 wants a '=' heading first in its comment block; 7.2 split the block there.
    const suite = goldenSuite(
      fileURLToPath(new URL('../test-data/qemu-7.2/tests/qapi-schema/', import.meta.url)),
      '10.0',
    );
    expect(() => suite.load('doc-good')).toThrow(
      /doc-good.json:11:1: '=' heading must come first in a comment block/,
    );
  });
});
