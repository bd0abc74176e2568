// The chunk sizes of QEMU 7.2's job coroutines: how much one request of each job moves.

const MiB = 1024 * 1024;

/** block/mirror.c DEFAULT_MIRROR_BUF_SIZE (16 in-flight requests of 1 MiB). */
export const MIRROR_BUFFER_SIZE = 16 * MiB;
/** block/mirror.c MAX_IN_FLIGHT and MAX_IO_BYTES: a buffer goes out as up to 16 requests of
 * buf_size / 16 bytes, at least 1 MiB each. */
export const MIRROR_MAX_IN_FLIGHT = 16;
export const MIRROR_MAX_IO_BYTES = 1 * MiB;
/** block/stream.c STREAM_CHUNK. */
export const STREAM_CHUNK_SIZE = 512 * 1024;
/** block/commit.c COMMIT_BUFFER_SIZE. */
export const COMMIT_CHUNK_SIZE = 512 * 1024;
/** block/block-copy.c BLOCK_COPY_MAX_BUFFER: backup's chunk without copy offloading. */
export const BACKUP_CHUNK_SIZE = 1 * MiB;
