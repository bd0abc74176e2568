// QEMU 7.2's own front-end test suite (tests/qapi-schema, vendored under test-data/): the cases
// QEMU rejects must be rejected at the place QEMU names, with QEMU's message; the cases QEMU
// accepts must be accepted, and dumped in test-qapi.py's format they must equal QEMU's golden
// `.out` files byte for byte. The expectations are QEMU's files, never our output.

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { QapiSchemaError } from '../src/errors.js';
import type { Schema } from '../src/model.js';
import { parseSchema } from '../src/schema.js';
import { dumpSchema } from '../src/test-dump.js';

const suiteDir = fileURLToPath(
  new URL('../test-data/qemu-7.2/tests/qapi-schema/', import.meta.url),
);

function read(rel: string): string {
  return readFileSync(`${suiteDir}${rel}`, 'utf8');
}

function readOptional(rel: string): string {
  return existsSync(`${suiteDir}${rel}`) ? read(rel) : '';
}

/** The cases QEMU's meson.build runs, plus the intentionally missing schema. */
const cases = [...read('meson.build').matchAll(/^\s+'([^']+)\.json',$/gm)].map(
  (m) => m[1] as string,
);
cases.push('missing-schema');

/** Like test-qapi.py: the root is named relative to the suite directory. */
function load(name: string): Schema {
  return parseSchema(`${name}.json`, (path) => read(path));
}

function attempt(name: string): { schema?: Schema; error?: unknown } {
  try {
    return { schema: load(name) };
  } catch (error) {
    return { error };
  }
}

/** The location and message of QEMU's error: the first `file:line[:col]: msg` line of the .err. */
function qemuLocation(
  err: string,
): { file: string; line: number; col?: number; msg: string } | undefined {
  for (const text of err.split('\n')) {
    if (text.startsWith('In file included from ')) continue;
    const m = /^(.+?):(\d+)(?::(\d+))?: (.*)$/.exec(text);
    if (m) {
      return {
        file: m[1] as string,
        line: Number(m[2]),
        ...(m[3] === undefined ? {} : { col: Number(m[3]) }),
        msg: m[4] as string,
      };
    }
  }
  return undefined;
}

const negative = cases.filter((c) => readOptional(`${c}.err`) !== '');
const positive = cases.filter((c) => readOptional(`${c}.err`) === '');

test('the vendored suite is the one QEMU 7.2 runs', () => {
  // 7.2's meson.build lists 197 schemas; missing-schema is added separately.
  expect(cases.length).toBe(198);
  expect(negative.length).toBe(190);
  expect(positive.length).toBe(8);
});

describe('cases QEMU rejects are rejected where QEMU says, with its message', () => {
  test.each(negative)('%s', (name) => {
    const { error } = attempt(name);
    expect(error).toBeInstanceOf(QapiSchemaError);
    const e = error as QapiSchemaError;
    const err = read(`${name}.err`);
    const where = qemuLocation(err);
    if (where === undefined) {
      // Only the missing root has no position; QEMU prints just the message.
      expect(name).toBe('missing-schema');
      expect(e.info).toBeUndefined();
      expect(err.trim()).toBe(e.reason);
      return;
    }
    expect(e.info?.file).toBe(where.file);
    expect(e.info?.line).toBe(where.line);
    if (where.col !== undefined) expect(e.info?.col).toBe(where.col);
    // Multi-line QEMU messages (valid keys, previous definition) continue on later lines.
    expect(e.reason.split('\n')[0]).toBe(where.msg);
    expect(e.message.startsWith(`${where.file}:${where.line}:`)).toBe(true);
    expect(e.message).toContain(`[${e.rule}]`);
  });
});

describe('cases QEMU accepts are accepted and dump exactly as test-qapi.py does', () => {
  test.each(positive)('%s', (name) => {
    const { schema, error } = attempt(name);
    expect(error).toBeUndefined();
    expect(dumpSchema(schema as Schema)).toBe(read(`${name}.out`));
  });
});

test('qapi-schema-test.json and doc-good.json round-trip through the dumper', () => {
  // The two big positive cases, named explicitly: every construct and every doc construct.
  for (const name of ['qapi-schema-test', 'doc-good']) {
    const golden = read(`${name}.out`);
    expect(golden.length).toBeGreaterThan(1000);
    expect(dumpSchema(load(name))).toBe(golden);
  }
});

test('a root file that does not exist is an error naming the file', () => {
  const { error } = attempt('missing-schema');
  expect(QapiSchemaError.isInstance(error)).toBe(true);
  expect((error as QapiSchemaError).message).toContain(
    "can't read schema file 'missing-schema.json'",
  );
  expect((error as QapiSchemaError).rule).toBe('schema-unreadable');
});
