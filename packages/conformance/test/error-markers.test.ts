// The error classes outside protocol and client join qmpkit's marker scheme: each instance
// carries `Symbol.for('qmpkit.error.<Name>')`, and the static `isInstance()` checks that marker
// rather than the prototype chain, so an error from another copy of a package (two versions in
// one node_modules tree) is still recognised.
import {
  BlockdevArgumentError,
  ImageStoreError,
  KeyvalError,
  Qcow2FormatError,
} from '@qmpkit/block-job-sim';
import { CliUsageError } from '@qmpkit/cli';
import { ServerUsageError } from '@qmpkit/server-app';
import { describe, expect, test } from 'vitest';

const classes = [
  ['BlockdevArgumentError', BlockdevArgumentError, () => new BlockdevArgumentError('x')],
  ['ImageStoreError', ImageStoreError, () => new ImageStoreError('ENOENT')],
  ['KeyvalError', KeyvalError, () => new KeyvalError('x')],
  ['Qcow2FormatError', Qcow2FormatError, () => new Qcow2FormatError('x')],
  ['CliUsageError', CliUsageError, () => new CliUsageError('x')],
  ['ServerUsageError', ServerUsageError, () => new ServerUsageError('x')],
] as const;

describe.each(classes)('%s', (name, cls, make) => {
  test('recognises its instances, and a copy of the class by the shared marker', () => {
    const error = make();
    expect(error.name).toBe(name);
    expect(cls.isInstance(error)).toBe(true);
    const fromAnotherCopy = Object.defineProperty(
      new Error('x'),
      Symbol.for(`qmpkit.error.${name}`),
      {
        value: true,
      },
    );
    expect(cls.isInstance(fromAnotherCopy)).toBe(true);
  });

  test('refuses other errors and non-errors', () => {
    expect(cls.isInstance(new Error('x'))).toBe(false);
    expect(cls.isInstance(undefined)).toBe(false);
    expect(cls.isInstance({ name })).toBe(false);
  });
});
