// Whatever the input, the front end either returns a Schema or throws QapiSchemaError: mangled
// versions of QEMU's own test schemas must never crash it with anything else.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { QapiSchemaError } from '../src/errors.js';
import { parseSchema } from '../src/schema.js';

const suiteDir = fileURLToPath(
  new URL('../test-data/qemu-7.2/tests/qapi-schema/', import.meta.url),
);
const seeds = [
  'qapi-schema-test',
  'doc-good',
  'alternate-array',
  'comments',
  'union-clash-member',
].map((n) => readFileSync(`${suiteDir}${n}.json`, 'utf8'));

/** A mutation: replace a slice of the text with a short string of schema-ish characters. */
const edit = fc.record({
  at: fc.nat(),
  drop: fc.nat({ max: 12 }),
  insert: fc.string({
    unit: fc.constantFrom(...`{}[]:,'"#@ *\n\t\\abcxyzABC-_.0123456789é`.split('')),
    maxLength: 8,
  }),
});

function apply(
  text: string,
  edits: readonly { at: number; drop: number; insert: string }[],
): string {
  let out = text;
  for (const e of edits) {
    const at = e.at % (out.length + 1);
    out = out.slice(0, at) + e.insert + out.slice(at + e.drop);
  }
  return out;
}

test('mangled schemas parse or fail with QapiSchemaError, never anything else', () => {
  fc.assert(
    fc.property(
      fc.nat({ max: seeds.length - 1 }),
      fc.array(edit, { minLength: 1, maxLength: 4 }),
      (seed, edits) => {
        const text = apply(seeds[seed] as string, edits);
        try {
          parseSchema('fuzz.json', (path) => {
            if (path === 'fuzz.json') return text;
            throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
          });
        } catch (err) {
          expect(err).toBeInstanceOf(QapiSchemaError);
          const e = err as QapiSchemaError;
          expect(e.info?.file).toBe('fuzz.json');
          expect(e.info?.line).toBeGreaterThan(0);
          expect(e.info?.col).toBeGreaterThan(0);
        }
      },
    ),
    { numRuns: 400 },
  );
});

// Structural mutations: the seed's expressions, with values swapped for other well-formed
// values, so that the expression and schema checks (not just the lexer) meet odd shapes.

type Value = string | boolean | Value[] | { [key: string]: Value };

const atoms: Value[] = [
  'int',
  'str',
  'any',
  'null',
  'number',
  'QType',
  'q_empty',
  'UserDefOne',
  'EnumOne',
  'Union',
  'Alternate',
  'Empty1',
  '',
  '*a',
  'a',
  'type',
  'on',
  '1x',
  'TEST_IF',
  true,
  false,
  [],
  ['int'],
  ['UserDefOne'],
  {},
];

function serialize(v: Value): string {
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(serialize).join(', ')}]`;
  return `{${Object.entries(v)
    .map(([k, x]) => `'${k}': ${serialize(x)}`)
    .join(', ')}}`;
}

/** Every path to a value inside v. */
function paths(v: Value, prefix: (string | number)[] = []): (string | number)[][] {
  const out = [prefix];
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) out.push(...paths(x, [...prefix, i]));
  } else if (typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  }
  return out;
}

function replaceAt(v: Value, path: readonly (string | number)[], by: Value): Value {
  if (path.length === 0) return by;
  const [head, ...rest] = path;
  if (Array.isArray(v)) return v.map((x, i) => (i === head ? replaceAt(x, rest, by) : x));
  if (typeof v === 'object') {
    const copy: { [key: string]: Value } = {};
    for (const [k, x] of Object.entries(v)) copy[k] = k === head ? replaceAt(x, rest, by) : x;
    return copy;
  }
  return v;
}

/** Files other than the root come from the suite (the seed includes include/sub-module.json). */
function suiteFile(root: string, text: string): (path: string) => string {
  return (path) => (path === root ? text : readFileSync(`${suiteDir}${path}`, 'utf8'));
}

/** The seed's top-level expressions, read with a tiny QAPI-to-JSON conversion (no docs). */
const structuralSeed: Value[] = readFileSync(`${suiteDir}qapi-schema-test.json`, 'utf8')
  .split('\n')
  .filter((l) => !l.trimStart().startsWith('#'))
  .join('\n')
  .replace(/#.*$/gm, '')
  .split(/\n(?=\{)/)
  .filter((chunk) => chunk.trim() !== '')
  .map((chunk) => JSON.parse(chunk.replace(/'/g, '"')) as Value);

test('expressions with swapped values are checked, never crash', () => {
  expect(structuralSeed.length).toBeGreaterThan(50);
  // Unmutated, the seed is a valid schema, so mutations reach every stage.
  const seedText = structuralSeed.map(serialize).join('\n');
  expect(parseSchema('seed.json', suiteFile('seed.json', seedText)).commands.size).toBeGreaterThan(
    10,
  );
  let accepted = 0;
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat({ max: atoms.length - 1 })), {
        minLength: 1,
        maxLength: 3,
      }),
      (swaps) => {
        const exprs = [...structuralSeed];
        for (const [e, p, a] of swaps) {
          const i = e % exprs.length;
          const target = exprs[i] as Value;
          const all = paths(target).filter((path) => path.length > 0);
          const path = all[p % all.length] as (string | number)[];
          exprs[i] = replaceAt(target, path, atoms[a] as Value);
        }
        const text = exprs.map(serialize).join('\n');
        try {
          parseSchema('fuzz.json', suiteFile('fuzz.json', text));
          accepted++;
        } catch (err) {
          expect(err).toBeInstanceOf(QapiSchemaError);
        }
      },
    ),
    { numRuns: 1500 },
  );
  // Some mutations keep the schema valid (e.g. swapping one builtin for another).
  expect(accepted).toBeGreaterThan(0);
});
