/** The exports a server offers, with the size and flags QEMU would advertise for each. */
import type { NbdBackend } from './backend.js';
import {
  NBD_FLAG_CAN_MULTI_CONN,
  NBD_FLAG_HAS_FLAGS,
  NBD_FLAG_READ_ONLY,
  NBD_FLAG_SEND_CACHE,
  NBD_FLAG_SEND_FAST_ZERO,
  NBD_FLAG_SEND_FLUSH,
  NBD_FLAG_SEND_FUA,
  NBD_FLAG_SEND_TRIM,
  NBD_FLAG_SEND_WRITE_ZEROES,
  NBD_MAX_BUFFER_SIZE,
  NBD_MAX_STRING_SIZE,
} from './constants.js';
import { utf8 } from './wire.js';

/** One export as a caller describes it. */
export interface NbdExportOptions {
  /** The name clients ask for (at most 4096 bytes of UTF-8). */
  readonly name: string;
  /** Sent as NBD_INFO_DESCRIPTION and in NBD_OPT_LIST (at most 4096 bytes). */
  readonly description?: string;
  readonly backend: NbdBackend;
  /** The backend's request alignment (QEMU's `request_alignment`); default 1. */
  readonly minimumBlockSize?: number;
  /** The backend's largest transfer; QEMU advertises at most 32 MiB. */
  readonly maximumTransfer?: number;
}

/** An export as the server serves it. */
export interface ServedExport {
  readonly name: string;
  readonly nameBytes: Uint8Array;
  readonly description: string | undefined;
  readonly backend: NbdBackend;
  /** The backend's size rounded down to 512, as QEMU advertises it. */
  readonly size: number;
  /** Transmission flags before the per-client NBD_FLAG_SEND_DF. */
  readonly flags: number;
  readonly minimumBlockSize: number;
  readonly maximumBlockSize: number;
  readonly bitmaps: readonly string[];
  readonly allocationDepth: boolean;
}

/** A refused export definition. */
export class ExportDefinitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportDefinitionError';
  }
}

/** The server's exports, in the order they were added (the order NBD_OPT_LIST reports). */
export class ExportTable {
  readonly #exports = new Map<string, ServedExport>();
  readonly #canMultiConn: boolean;

  constructor(options: { canMultiConn: boolean }) {
    this.#canMultiConn = options.canMultiConn;
  }

  add(options: NbdExportOptions): ServedExport {
    const nameBytes = utf8(options.name);
    // QEMU's words (nbd_export_create).
    if (nameBytes.length > NBD_MAX_STRING_SIZE) {
      throw new ExportDefinitionError(`export name '${options.name}' too long`);
    }
    if (
      options.description !== undefined &&
      utf8(options.description).length > NBD_MAX_STRING_SIZE
    ) {
      throw new ExportDefinitionError(`description '${options.description}' too long`);
    }
    if (this.#exports.has(options.name)) {
      throw new ExportDefinitionError(`NBD server already has export named '${options.name}'`);
    }
    const { backend } = options;
    const minimumBlockSize = options.minimumBlockSize ?? 1;
    if (
      !Number.isInteger(minimumBlockSize) ||
      minimumBlockSize < 1 ||
      minimumBlockSize > NBD_MAX_BUFFER_SIZE ||
      (minimumBlockSize & (minimumBlockSize - 1)) !== 0
    ) {
      throw new ExportDefinitionError('minimumBlockSize must be a power of two up to 32 MiB');
    }
    if (!Number.isSafeInteger(backend.size) || backend.size < 0) {
      throw new ExportDefinitionError('the backend size must be a non-negative safe integer');
    }
    let flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_CACHE;
    if (this.#canMultiConn) flags |= NBD_FLAG_CAN_MULTI_CONN;
    if (backend.writable) {
      flags |= NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO;
    } else {
      flags |= NBD_FLAG_READ_ONLY;
    }
    const served: ServedExport = {
      name: options.name,
      nameBytes,
      description: options.description,
      backend,
      size: backend.size - (backend.size % 512),
      flags,
      minimumBlockSize,
      maximumBlockSize: Math.min(
        options.maximumTransfer ?? NBD_MAX_BUFFER_SIZE,
        NBD_MAX_BUFFER_SIZE,
      ),
      bitmaps: [...(backend.bitmaps ?? [])],
      allocationDepth: backend.allocationDepth === true,
    };
    this.#exports.set(options.name, served);
    return served;
  }

  remove(name: string): ServedExport | undefined {
    const served = this.#exports.get(name);
    if (served !== undefined) this.#exports.delete(name);
    return served;
  }

  find(name: string | undefined): ServedExport | undefined {
    return name === undefined ? undefined : this.#exports.get(name);
  }

  list(): ServedExport[] {
    return [...this.#exports.values()];
  }
}
