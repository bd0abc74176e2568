// Holds the front end to golden files produced by QEMU's test-qapi.py (7.2's or 10.0's, checked
// by that release's rules): an `.err` (what QEMU printed on stderr) and an `.out` (its dump of the
// checked schema).

import { existsSync, readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { QapiSchemaError } from '../src/errors.js';
import type { QapiFrontEnd } from '../src/front-end.js';
import type { Schema } from '../src/model.js';
import { parseSchema } from '../src/schema.js';
import { dumpSchema } from '../src/test-dump.js';

export interface GoldenSuite {
  readonly dir: string;
  read(rel: string): string;
  /** The root is named relative to the suite directory, as test-qapi.py names it. */
  load(name: string): Schema;
  expectedError(name: string): string;
  checkRejected(name: string): QapiSchemaError;
  checkAccepted(name: string): void;
}

/** The location and message of QEMU's error: the first `file:line[:col]: msg` line. */
export function qemuLocation(
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

export function goldenSuite(dir: string, qemu: QapiFrontEnd = '7.2'): GoldenSuite {
  const read = (rel: string): string => readFileSync(`${dir}${rel}`, 'utf8');
  const load = (name: string): Schema => parseSchema(`${name}.json`, read, { qemu });
  return {
    dir,
    read,
    load,
    expectedError: (name) => (existsSync(`${dir}${name}.err`) ? read(`${name}.err`) : ''),
    checkRejected(name) {
      let error: unknown;
      try {
        load(name);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(QapiSchemaError);
      const e = error as QapiSchemaError;
      const err = read(`${name}.err`);
      const where = qemuLocation(err);
      if (where === undefined) {
        // QEMU prints no position only when the root file cannot be read.
        expect(e.info).toBeUndefined();
        expect(e.reason).toBe(err.trim());
        return e;
      }
      expect(e.info?.file).toBe(where.file);
      expect(e.info?.line).toBe(where.line);
      if (where.col !== undefined) expect(e.info?.col).toBe(where.col);
      // Multi-line QEMU messages (valid keys, previous definition) continue on later lines.
      expect(e.reason.split('\n')[0]).toBe(where.msg);
      expect(e.message.startsWith(`${where.file}:${where.line}:`)).toBe(true);
      expect(e.message).toContain(`[${e.rule}]`);
      return e;
    },
    checkAccepted(name) {
      expect(dumpSchema(load(name), { qemu })).toBe(read(`${name}.out`));
    },
  };
}
