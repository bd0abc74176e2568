import { type CodecOptions, SERVER_CODEC } from '@qmpkit/protocol';

/**
 * The codec a server-side transport should use: protocol's `SERVER_CODEC` (QEMU's input dialect
 * and limits, QEMU's output format) with floats marked, so that validation can refuse `1.0` or
 * `1e3` for an integer argument as QEMU does. Give it to `createLinkedPair({ server: { codec } })`
 * or `wrapSocket(socket, { codec })` when handing transports to `QmpServer.serve()`; with plain
 * `SERVER_CODEC` a float with an integral value passes as an integer.
 */
export const QMP_SERVER_CODEC: Readonly<CodecOptions> = Object.freeze({
  ...SERVER_CODEC,
  decode: Object.freeze({ ...SERVER_CODEC.decode, markFloats: true }),
});
