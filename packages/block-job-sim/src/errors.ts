// The error a QMP command handler throws: the server turns it into
// `{"error": {"class": …, "desc": …}}`. This is a local stand-in until @qmpkit/protocol publishes
// its `CommandError(class, desc)`; everything in this package throws it through `commandError`
// so the switch is one file.

/** QMP error classes (qapi/error.json, 7.2). */
export type QmpErrorClass =
  | 'GenericError'
  | 'CommandNotFound'
  | 'DeviceNotActive'
  | 'DeviceNotFound'
  | 'KVMMissingCap';

const MARKER = Symbol.for('@qmpkit/block-job-sim/BlockCommandError');

/** A QMP command failure with QEMU's error class and text. */
export class BlockCommandError extends Error {
  readonly errorClass: QmpErrorClass;
  readonly desc: string;
  readonly [MARKER] = true;

  constructor(errorClass: QmpErrorClass, desc: string) {
    super(desc);
    this.name = 'BlockCommandError';
    this.errorClass = errorClass;
    this.desc = desc;
  }

  static isInstance(value: unknown): value is BlockCommandError {
    return typeof value === 'object' && value !== null && MARKER in value;
  }
}

/** A GenericError with `desc`, QEMU's most common failure. */
export function genericError(desc: string): BlockCommandError {
  return new BlockCommandError('GenericError', desc);
}
