import { describe, expect, test } from 'vitest';
import { parseQemuSize } from './size.js';

// From util/cutils.c do_strtosz() (7.2): fractions need a suffix, '-' is refused, overflow fails.
describe('parseQemuSize (qemu_strtosz)', () => {
  test.each([
    ['0', 0n],
    ['512', 512n],
    ['1k', 1024n],
    ['1M', 1048576n],
    ['1.5M', 1572864n],
    ['1.k', 1024n],
    ['2G', 2147483648n],
    ['1E', 1152921504606846976n],
    ['0x10', 16n],
    ['16E', undefined],
    ['1.5', undefined],
    ['abc', undefined],
    ['-1', undefined],
  ])('%s → %s', (text, value) => {
    expect(parseQemuSize(text)).toBe(value);
  });
});
