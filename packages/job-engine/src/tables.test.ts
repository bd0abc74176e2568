import { describe, expect, test } from 'vitest';
import {
  parseGrid,
  referenceTransitions,
  referenceVerbs,
  statusColumns,
} from '../test/reference-tables.js';
import { JobStatus, JobVerb } from './qapi.js';
import { isTransitionAllowed, isVerbAllowed, transitionTable, verbTable } from './tables.js';

const transitions = parseGrid(referenceTransitions);
const verbs = parseGrid(referenceVerbs);

describe('the transition table', () => {
  test('the reference grid covers all 11 statuses, in enum order', () => {
    expect([...transitions.keys()]).toEqual([...JobStatus]);
    expect([...statusColumns]).toEqual([...JobStatus]);
  });
  test('the code has one row per status', () => {
    expect(Object.keys(transitionTable).sort()).toEqual([...JobStatus].sort());
  });
  for (const from of JobStatus) {
    for (const [column, to] of JobStatus.entries()) {
      const expected = transitions.get(from)?.[column];
      test(`${from} → ${to}: ${expected ? 'allowed' : 'forbidden'}`, () => {
        expect(isTransitionAllowed(from, to)).toBe(expected);
      });
    }
  }
});

describe('the verb table', () => {
  test('the reference grid covers all 7 verbs of 7.2', () => {
    expect([...verbs.keys()].sort()).toEqual([...JobVerb].sort());
  });
  test('the code has one row per status', () => {
    expect(Object.keys(verbTable).sort()).toEqual([...JobStatus].sort());
  });
  for (const verb of JobVerb) {
    for (const [column, status] of JobStatus.entries()) {
      const expected = verbs.get(verb)?.[column];
      test(`${verb} in ${status}: ${expected ? 'accepted' : 'refused'}`, () => {
        expect(isVerbAllowed(verb, status)).toBe(expected);
      });
    }
  }
});
