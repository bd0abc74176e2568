// Command failures are @qmpkit/protocol's CommandError: the server turns one thrown by a handler
// into `{"error": {"class": …, "desc": …}}`. QEMU's block layer reports nearly everything as
// GenericError.

import { CommandError } from '@qmpkit/protocol';

/** A GenericError with `desc`, QEMU's most common failure. */
export function genericError(desc: string): CommandError {
  return new CommandError('GenericError', desc);
}
