// Command failures are @qmpkit/protocol's CommandError: the server turns one thrown by a handler
// into `{"error": {"class": …, "desc": …}}`. QEMU's block layer reports nearly everything as
// GenericError.

import { CommandError, strerror } from '@qmpkit/protocol';
import { ImageStoreError } from './image-store.js';

/** A GenericError with `desc`, QEMU's most common failure. */
export function genericError(desc: string): CommandError {
  return new CommandError('GenericError', desc);
}

/** A GenericError for a part of QEMU the simulator leaves out (never a silent difference). */
export function notSimulated(what: string): CommandError {
  return genericError(`qmpkit does not simulate ${what}`);
}

/**
 * QEMU's `<prefix>: <strerror>` for an image file the store could not open, read or write;
 * any other failure is rethrown as it is.
 */
export function storeFailure(prefix: string, error: unknown): CommandError {
  if (error instanceof ImageStoreError) return genericError(`${prefix}: ${strerror(error.code)}`);
  throw error;
}
