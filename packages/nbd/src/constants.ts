/**
 * The NBD protocol's numbers, as NetworkBlockDevice/nbd `doc/proto.md` defines them, and the
 * limits QEMU's server applies (its `include/block/nbd.h`).
 */

/** "NBDMAGIC", the first eight bytes a server sends. */
export const NBD_INIT_MAGIC = 0x4e42444d41474943n;
/** "IHAVEOPT": the newstyle greeting magic, and the magic in front of every option. */
export const NBD_OPTS_MAGIC = 0x49484156454f5054n;
/** Magic in front of every option reply. */
export const NBD_REP_MAGIC = 0x3e889045565a9n;
export const NBD_REQUEST_MAGIC = 0x25609513;
/** Request and reply magics once extended headers are negotiated. */
export const NBD_EXTENDED_REQUEST_MAGIC = 0x21e41c71;
export const NBD_EXTENDED_REPLY_MAGIC = 0x6e8a278c;
export const NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
export const NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;

/** Handshake flags (server → client). */
export const NBD_FLAG_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_NO_ZEROES = 1 << 1;
/** Client flags (client → server). */
export const NBD_FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_C_NO_ZEROES = 1 << 1;

/** Transmission flags of an export. */
export const NBD_FLAG_HAS_FLAGS = 1 << 0;
export const NBD_FLAG_READ_ONLY = 1 << 1;
export const NBD_FLAG_SEND_FLUSH = 1 << 2;
export const NBD_FLAG_SEND_FUA = 1 << 3;
export const NBD_FLAG_ROTATIONAL = 1 << 4;
export const NBD_FLAG_SEND_TRIM = 1 << 5;
export const NBD_FLAG_SEND_WRITE_ZEROES = 1 << 6;
export const NBD_FLAG_SEND_DF = 1 << 7;
export const NBD_FLAG_CAN_MULTI_CONN = 1 << 8;
export const NBD_FLAG_SEND_RESIZE = 1 << 9;
export const NBD_FLAG_SEND_CACHE = 1 << 10;
export const NBD_FLAG_SEND_FAST_ZERO = 1 << 11;
export const NBD_FLAG_BLOCK_STAT_PAYLOAD = 1 << 12;

/** Options (handshake phase). */
export const NBD_OPT_EXPORT_NAME = 1;
export const NBD_OPT_ABORT = 2;
export const NBD_OPT_LIST = 3;
export const NBD_OPT_STARTTLS = 5;
export const NBD_OPT_INFO = 6;
export const NBD_OPT_GO = 7;
export const NBD_OPT_STRUCTURED_REPLY = 8;
export const NBD_OPT_LIST_META_CONTEXT = 9;
export const NBD_OPT_SET_META_CONTEXT = 10;
export const NBD_OPT_EXTENDED_HEADERS = 11;

/** Option reply types. Errors have the top bit set. */
export const NBD_REP_ACK = 1;
export const NBD_REP_SERVER = 2;
export const NBD_REP_INFO = 3;
export const NBD_REP_META_CONTEXT = 4;
const REP_ERR = 0x80000000;
export const NBD_REP_ERR_UNSUP = REP_ERR + 1;
export const NBD_REP_ERR_POLICY = REP_ERR + 2;
export const NBD_REP_ERR_INVALID = REP_ERR + 3;
export const NBD_REP_ERR_PLATFORM = REP_ERR + 4;
export const NBD_REP_ERR_TLS_REQD = REP_ERR + 5;
export const NBD_REP_ERR_UNKNOWN = REP_ERR + 6;
export const NBD_REP_ERR_SHUTDOWN = REP_ERR + 7;
export const NBD_REP_ERR_BLOCK_SIZE_REQD = REP_ERR + 8;
export const NBD_REP_ERR_TOO_BIG = REP_ERR + 9;
export const NBD_REP_ERR_EXT_HEADER_REQD = REP_ERR + 10;

/** Whether an option reply type is an error. */
export function isOptionReplyError(type: number): boolean {
  return type >= REP_ERR;
}

/** Information types in NBD_REP_INFO (and requested in NBD_OPT_INFO / NBD_OPT_GO). */
export const NBD_INFO_EXPORT = 0;
export const NBD_INFO_NAME = 1;
export const NBD_INFO_DESCRIPTION = 2;
export const NBD_INFO_BLOCK_SIZE = 3;

/** Commands (transmission phase). */
export const NBD_CMD_READ = 0;
export const NBD_CMD_WRITE = 1;
export const NBD_CMD_DISC = 2;
export const NBD_CMD_FLUSH = 3;
export const NBD_CMD_TRIM = 4;
export const NBD_CMD_CACHE = 5;
export const NBD_CMD_WRITE_ZEROES = 6;
export const NBD_CMD_BLOCK_STATUS = 7;

/** Command flags. */
export const NBD_CMD_FLAG_FUA = 1 << 0;
export const NBD_CMD_FLAG_NO_HOLE = 1 << 1;
export const NBD_CMD_FLAG_DF = 1 << 2;
export const NBD_CMD_FLAG_REQ_ONE = 1 << 3;
export const NBD_CMD_FLAG_FAST_ZERO = 1 << 4;
export const NBD_CMD_FLAG_PAYLOAD_LEN = 1 << 5;

/** Structured reply chunk flags and types. */
export const NBD_REPLY_FLAG_DONE = 1 << 0;
export const NBD_REPLY_TYPE_NONE = 0;
export const NBD_REPLY_TYPE_OFFSET_DATA = 1;
export const NBD_REPLY_TYPE_OFFSET_HOLE = 2;
export const NBD_REPLY_TYPE_BLOCK_STATUS = 5;
export const NBD_REPLY_TYPE_BLOCK_STATUS_EXT = 6;
export const NBD_REPLY_TYPE_ERROR = (1 << 15) + 1;
export const NBD_REPLY_TYPE_ERROR_OFFSET = (1 << 15) + 2;

/** Whether a structured reply chunk type is an error. */
export function isErrorChunk(type: number): boolean {
  return (type & (1 << 15)) !== 0;
}

/** `base:allocation` extent flags. */
export const NBD_STATE_HOLE = 1 << 0;
export const NBD_STATE_ZERO = 1 << 1;
/** `qemu:dirty-bitmap:NAME` extent flag. */
export const NBD_STATE_DIRTY = 1 << 0;

/** The error values the protocol carries (a subset of Linux errno numbers). */
export const NBD_ERRNO = {
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
} as const;
export type NbdErrno = keyof typeof NBD_ERRNO;

/** The name of an NBD error value (`EINVAL` for an unknown one, as the spec advises). */
export function nbdErrnoName(value: number): NbdErrno {
  for (const [name, number] of Object.entries(NBD_ERRNO)) {
    if (number === value) return name as NbdErrno;
  }
  return 'EINVAL';
}

/** QEMU's bound on a request's data and on an option's length: 32 MiB. */
export const NBD_MAX_BUFFER_SIZE = 32 * 1024 * 1024;
/** QEMU's bound on a string (export name, description, meta context query). */
export const NBD_MAX_STRING_SIZE = 4096;
/** QEMU's bound on extents in one block status chunk (1 MiB of descriptors). */
export const NBD_MAX_BLOCK_STATUS_EXTENTS = (1024 * 1024) / 8;
/** QEMU serves at most this many requests of one client at once. */
export const NBD_MAX_REQUESTS = 16;

/** The meta context namespaces QEMU serves. */
export const BASE_ALLOCATION = 'base:allocation';
export const QEMU_ALLOCATION_DEPTH = 'qemu:allocation-depth';
export const QEMU_DIRTY_BITMAP_PREFIX = 'qemu:dirty-bitmap:';

const OPTION_NAMES: Record<number, string> = {
  [NBD_OPT_EXPORT_NAME]: 'export name',
  [NBD_OPT_ABORT]: 'abort',
  [NBD_OPT_LIST]: 'list',
  4: 'peek export',
  [NBD_OPT_STARTTLS]: 'starttls',
  [NBD_OPT_INFO]: 'info',
  [NBD_OPT_GO]: 'go',
  [NBD_OPT_STRUCTURED_REPLY]: 'structured reply',
  [NBD_OPT_LIST_META_CONTEXT]: 'list meta context',
  [NBD_OPT_SET_META_CONTEXT]: 'set meta context',
  [NBD_OPT_EXTENDED_HEADERS]: 'extended headers',
};

/**
 * An option's name as QEMU's messages spell it (`<unknown>` otherwise). QEMU 7.2 does not know
 * NBD_OPT_EXTENDED_HEADERS by name (`knowsExtendedHeaders: false`).
 */
export function optionName(option: number, knowsExtendedHeaders = true): string {
  if (option === NBD_OPT_EXTENDED_HEADERS && !knowsExtendedHeaders) return '<unknown>';
  return Object.hasOwn(OPTION_NAMES, option) ? OPTION_NAMES[option]! : '<unknown>';
}

const COMMAND_NAMES: Record<number, string> = {
  [NBD_CMD_READ]: 'read',
  [NBD_CMD_WRITE]: 'write',
  [NBD_CMD_DISC]: 'disconnect',
  [NBD_CMD_FLUSH]: 'flush',
  [NBD_CMD_TRIM]: 'trim',
  [NBD_CMD_CACHE]: 'cache',
  [NBD_CMD_WRITE_ZEROES]: 'write zeroes',
  [NBD_CMD_BLOCK_STATUS]: 'block status',
};

/** A command's name as QEMU's messages spell it (`<unknown>` otherwise). */
export function commandName(command: number): string {
  return Object.hasOwn(COMMAND_NAMES, command) ? COMMAND_NAMES[command]! : '<unknown>';
}
