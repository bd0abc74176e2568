/**
 * What an NBD export serves: a backend that stores the bytes and answers block status. The
 * server does the protocol; the backend (the sparse in-memory one here, or the simulator's
 * block nodes) does the I/O. Every method may be asynchronous.
 */
import { NBD_ERRNO, type NbdErrno } from './constants.js';

/** One run of bytes with the same status, as a block status reply describes it. */
export interface BlockExtent {
  readonly length: number;
  /**
   * `base:allocation`: `NBD_STATE_HOLE | NBD_STATE_ZERO` bits; `qemu:dirty-bitmap:*`:
   * `NBD_STATE_DIRTY`; `qemu:allocation-depth`: the depth (0 = unallocated, 1 = this layer…).
   */
  readonly flags: number;
}

/** The meta context a block status question is about. */
export type MetaContext =
  | { readonly kind: 'base:allocation' }
  | { readonly kind: 'qemu:allocation-depth' }
  | { readonly kind: 'qemu:dirty-bitmap'; readonly bitmap: string };

export interface WriteOptions {
  /** Force Unit Access: the data is stable before the reply. */
  readonly fua: boolean;
}

export interface WriteZeroesOptions extends WriteOptions {
  /** The client allows a hole (no NBD_CMD_FLAG_NO_HOLE): QEMU's BDRV_REQ_MAY_UNMAP. */
  readonly mayTrim: boolean;
  /** NBD_CMD_FLAG_FAST_ZERO: fail with `ENOTSUP` rather than zero slowly. */
  readonly fastOnly: boolean;
}

/** The storage behind one export. */
export interface NbdBackend {
  /** Size in bytes (the export advertises it rounded down to 512, as QEMU does). */
  readonly size: number;
  /** Whether clients may write, trim and zero. */
  readonly writable: boolean;
  /** Dirty bitmaps served as `qemu:dirty-bitmap:NAME` meta contexts, in this order. */
  readonly bitmaps?: readonly string[];
  /** Whether `qemu:allocation-depth` is served (QEMU's `allocation-depth` export option). */
  readonly allocationDepth?: boolean;
  read(offset: number, length: number): Promise<Uint8Array> | Uint8Array;
  write(offset: number, data: Uint8Array, options: WriteOptions): Promise<void> | void;
  writeZeroes(offset: number, length: number, options: WriteZeroesOptions): Promise<void> | void;
  /** Discards a range (it may then read as zeroes or as old data; QEMU's pdiscard). */
  trim(offset: number, length: number): Promise<void> | void;
  flush(): Promise<void> | void;
  /**
   * Describes `[offset, offset + length)` from its start: at least one extent, together at most
   * `length` bytes; the server asks again for the rest. Adjacent extents may share flags.
   */
  blockStatus(
    context: MetaContext,
    offset: number,
    length: number,
  ): Promise<readonly BlockExtent[]> | readonly BlockExtent[];
}

const NBD_ERROR_MARKER = Symbol.for('qmpkit.nbd.NbdError');

/**
 * An error with an errno the protocol can carry. Backends throw it to choose the error the
 * client sees; anything else a backend throws is reported as `EIO`.
 */
export class NbdError extends Error {
  readonly errno: NbdErrno;
  constructor(errno: NbdErrno, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NbdError';
    this.errno = errno;
    Object.defineProperty(this, NBD_ERROR_MARKER, { value: true });
  }

  /** The protocol's number for this error. */
  get code(): number {
    return NBD_ERRNO[this.errno];
  }

  static isInstance(value: unknown): value is NbdError {
    return typeof value === 'object' && value !== null && NBD_ERROR_MARKER in value;
  }
}
