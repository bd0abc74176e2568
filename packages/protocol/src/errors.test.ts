import { describe, expect, test } from 'vitest';
import {
  CommandError,
  ConnectError,
  ExecInterruptedError,
  ExecuteError,
  hasErrorMarker,
  isQapiErrorClass,
  LocalError,
  ProtocolError,
  QAPI_ERROR_CLASSES,
  QmpkitError,
  StateError,
  stampErrorMarker,
  TimeoutError,
} from './errors.js';

describe('the error hierarchy', () => {
  test('wire errors are not local errors, and vice versa', () => {
    const execute = new ExecuteError('DeviceNotFound', "Device 'x' not found", {
      execute: 'device_del',
      arguments: { id: 'x' },
      id: 3,
    });
    const command = new CommandError('GenericError', "Job 'x' not found");
    for (const wire of [execute, command]) {
      expect(QmpkitError.isInstance(wire)).toBe(true);
      expect(LocalError.isInstance(wire)).toBe(false);
    }
    for (const local of [
      new ConnectError('x', { code: 'ENOENT' }),
      new StateError('x'),
      new ProtocolError('parse', 'JSON parse error, expecting value'),
      new TimeoutError('x', { timeoutMs: 5 }),
      new ExecInterruptedError('x'),
    ]) {
      expect(LocalError.isInstance(local)).toBe(true);
      expect(ExecuteError.isInstance(local)).toBe(false);
      expect(CommandError.isInstance(local)).toBe(false);
    }
  });

  test('fields, names and messages', () => {
    const e = new ExecuteError('GenericError', 'Invalid job ID', { execute: 'job-pause', id: 1 });
    expect([e.name, e.errorClass, e.desc, e.message]).toEqual([
      'ExecuteError',
      'GenericError',
      'Invalid job ID',
      'job-pause: Invalid job ID',
    ]);
    expect(e.command).toEqual({ execute: 'job-pause', id: 1 });
    const c = new CommandError('CommandNotFound', 'The command x has not been found');
    expect([c.name, c.errorClass, c.desc, c.message]).toEqual([
      'CommandError',
      'CommandNotFound',
      'The command x has not been found',
      'The command x has not been found',
    ]);
    const p = new ProtocolError('bad-greeting', 'no greeting', { received: { x: 1 } });
    expect([p.kind, p.received]).toEqual(['bad-greeting', { x: 1 }]);
  });

  test('each carries a standard cause', () => {
    const root = new Error('root');
    expect(new ConnectError('x', { cause: root }).cause).toBe(root);
    expect(new ExecInterruptedError('x', { cause: root }).cause).toBe(root);
    expect(new CommandError('GenericError', 'x', { cause: root }).cause).toBe(root);
    expect('cause' in new StateError('x')).toBe(false);
  });

  test('isInstance() recognises instances of another copy of the package', async () => {
    // A second, separately evaluated copy of the module, as when a package is installed twice.
    const specifier = './errors.ts?second-copy';
    const other = (await import(/* @vite-ignore */ specifier)) as typeof import('./errors.js');
    expect(other.ExecuteError).not.toBe(ExecuteError);
    const foreign = new other.ProtocolError('parse', 'x');
    expect(foreign instanceof ProtocolError).toBe(false);
    expect(ProtocolError.isInstance(foreign)).toBe(true);
    expect(LocalError.isInstance(foreign)).toBe(true);
    expect(ConnectError.isInstance(foreign)).toBe(false);
    expect(other.TimeoutError.isInstance(new TimeoutError('x'))).toBe(true);
  });

  test('isInstance() is false for look-alikes and non-objects', () => {
    const fake = Object.assign(new Error('x'), {
      name: 'ExecuteError',
      errorClass: 'GenericError',
    });
    expect(ExecuteError.isInstance(fake)).toBe(false);
    expect(QmpkitError.isInstance(null)).toBe(false);
    expect(QmpkitError.isInstance('ExecuteError')).toBe(false);
  });

  test("QEMU 7.2's five error classes", () => {
    expect(QAPI_ERROR_CLASSES).toEqual([
      'GenericError',
      'CommandNotFound',
      'DeviceNotActive',
      'DeviceNotFound',
      'KVMMissingCap',
    ]);
    expect(isQapiErrorClass('DeviceNotActive')).toBe(true);
    expect(isQapiErrorClass('genericerror')).toBe(false);
  });
});

describe('the marker scheme for error classes of other packages', () => {
  class DiskFullError extends LocalError {
    constructor(message: string) {
      super(message);
      this.name = 'DiskFullError';
      stampErrorMarker(this, 'DiskFullError');
    }
    static override isInstance(value: unknown): value is DiskFullError {
      return hasErrorMarker(value, 'DiskFullError');
    }
  }

  test('a stamped error is recognised by its name, still as a LocalError, and nothing else is', () => {
    const error = new DiskFullError('full');
    expect(DiskFullError.isInstance(error)).toBe(true);
    expect(LocalError.isInstance(error)).toBe(true);
    expect(DiskFullError.isInstance(new LocalError('other'))).toBe(false);
    expect(hasErrorMarker({}, 'DiskFullError')).toBe(false);
    expect(hasErrorMarker(null, 'DiskFullError')).toBe(false);
  });

  test('the marker is the shared Symbol.for key, so another copy of the class sees it', () => {
    const error = new DiskFullError('full');
    expect(
      (error as unknown as Record<symbol, unknown>)[Symbol.for('qmpkit.error.DiskFullError')],
    ).toBe(true);
    // Non-enumerable: it does not show up when the error is spread or logged.
    expect(
      Object.prototype.propertyIsEnumerable.call(error, Symbol.for('qmpkit.error.DiskFullError')),
    ).toBe(false);
  });
});
