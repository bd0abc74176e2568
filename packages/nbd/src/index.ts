// @qmpkit/nbd — the NBD wire protocol: server and client without sockets, the backend
// interface, a sparse in-memory backend. Node sockets are in `@qmpkit/nbd/node`.
export {
  type BlockExtent,
  type MetaContext,
  type NbdBackend,
  NbdError,
  type WriteOptions,
  type WriteZeroesOptions,
} from './backend.js';
export {
  ByteReader,
  type ByteWriter,
  EndOfStreamError,
  type FlowControl,
} from './byte-stream.js';
export {
  listExports,
  NbdClientSession,
  type NbdExportInfo,
  type NbdHandshakeOptions,
  type NbdListedExport,
  NbdOptionError,
  NbdProtocolError,
  type NbdWriteFlags,
  queryExport,
} from './client.js';
export {
  BASE_ALLOCATION,
  NBD_CMD_BLOCK_STATUS,
  NBD_CMD_CACHE,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
  NBD_ERRNO,
  NBD_FLAG_CAN_MULTI_CONN,
  NBD_FLAG_HAS_FLAGS,
  NBD_FLAG_READ_ONLY,
  NBD_FLAG_SEND_CACHE,
  NBD_FLAG_SEND_DF,
  NBD_FLAG_SEND_FAST_ZERO,
  NBD_FLAG_SEND_FLUSH,
  NBD_FLAG_SEND_FUA,
  NBD_FLAG_SEND_TRIM,
  NBD_FLAG_SEND_WRITE_ZEROES,
  NBD_MAX_BUFFER_SIZE,
  NBD_MAX_REQUESTS,
  NBD_MAX_STRING_SIZE,
  NBD_REP_ERR_INVALID,
  NBD_REP_ERR_POLICY,
  NBD_REP_ERR_UNKNOWN,
  NBD_REP_ERR_UNSUP,
  NBD_STATE_DIRTY,
  NBD_STATE_HOLE,
  NBD_STATE_ZERO,
  type NbdErrno,
  QEMU_ALLOCATION_DEPTH,
  QEMU_DIRTY_BITMAP_PREFIX,
} from './constants.js';
export { ExportDefinitionError, type NbdExportOptions } from './export-table.js';
export { NBD_QEMU_VERSIONS, type NbdQemuVersion } from './profile.js';
export {
  type NbdConnection,
  type NbdLogLevel,
  NbdServerCore,
  type NbdServerOptions,
} from './server.js';
export {
  type SparseBitmapOptions,
  SparseMemoryBackend,
  type SparseMemoryBackendOptions,
} from './sparse-backend.js';
