import { expect, test } from 'vitest';
import { strerror } from './strerror.js';

// glibc 2.36 (Debian 12, where QEMU 7.2 runs): strerror(3) texts.
test.each([
  ['ENOENT', 'No such file or directory'],
  ['ENOSPC', 'No space left on device'],
  [5, 'Input/output error'],
  [28, 'No space left on device'],
  [125, 'Operation canceled'],
  [95, 'Operation not supported'],
  [4242, 'Unknown error 4242'],
  ['EWHATEVER', 'EWHATEVER'],
])('strerror(%s) is %s', (errno, text) => {
  expect(strerror(errno)).toBe(text);
});
