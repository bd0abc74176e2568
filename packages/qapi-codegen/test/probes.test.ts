// Extra probe schemas (test-data/probes), with QEMU 7.2's generator's verdicts as golden files.

import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { goldenSuite } from './golden.js';

const suite = goldenSuite(fileURLToPath(new URL('../test-data/probes/', import.meta.url)));
const names = readdirSync(suite.dir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.slice(0, -5))
  .sort();
const rejected = names.filter((n) => suite.expectedError(n) !== '');
const accepted = names.filter((n) => suite.expectedError(n) === '');

test('there are probes of both kinds', () => {
  expect(rejected.length).toBeGreaterThan(30);
  expect(accepted.length).toBeGreaterThan(15);
});

describe('probes QEMU rejects', () => {
  test.each(rejected)('%s', (name) => {
    suite.checkRejected(name);
  });
});

describe('probes QEMU accepts dump exactly as test-qapi.py does', () => {
  test.each(accepted)('%s', (name) => {
    suite.checkAccepted(name);
  });
});
