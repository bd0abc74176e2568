import { describe, expect, test } from 'vitest';
import { isWellFormedJobId } from './job-id.js';

// job-semantics.md §5.2: accepted and rejected IDs seen on QEMU 7.2.
describe('job ID grammar', () => {
  test.each(['a-b.c_d', 'A9', 'top', 'x', 'a'.repeat(1000)])('accepts %s', (id) => {
    expect(isWellFormedJobId(id)).toBe(true);
  });
  test.each(['1abc', 'a b', 'a:b', 'a/b', 'é', '-a', '_a', '.a', '#x', ''])('rejects %j', (id) => {
    expect(isWellFormedJobId(id)).toBe(false);
  });
});
