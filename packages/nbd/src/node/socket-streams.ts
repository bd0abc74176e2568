/** Adapts a Node socket to the `ByteReader` / `ByteWriter` pair the protocol code uses. */
import type { Socket } from 'node:net';
import { ByteReader, type ByteWriter, EndOfStreamError } from '../byte-stream.js';

export interface SocketStreams {
  readonly reader: ByteReader;
  readonly writer: ByteWriter;
}

/** Wraps a connected socket. The reader pauses the socket when its buffer is full. */
export function socketStreams(
  socket: Socket,
  options: { highWaterMark?: number } = {},
): SocketStreams {
  const reader = new ByteReader({
    ...(options.highWaterMark === undefined ? {} : { highWaterMark: options.highWaterMark }),
    flow: { pause: () => socket.pause(), resume: () => socket.resume() },
    // Payloads spanning socket chunks are copied whole into it: no need to zero it first.
    allocate: (length) => Buffer.allocUnsafeSlow(length),
  });
  socket.on('data', (chunk: Buffer) => {
    reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  });
  socket.on('end', () => reader.end());
  socket.on('error', (error) => reader.end(new EndOfStreamError(error.message, { cause: error })));
  socket.on('close', () => reader.end());

  // One wait for 'drain' shared by every writer held back, however many there are.
  let drained: Promise<void> | undefined;
  const waitForDrain = () => {
    drained ??= new Promise<void>((resolve) => {
      const done = () => {
        socket.off('drain', done);
        socket.off('close', done);
        drained = undefined;
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    });
    return drained;
  };

  const writer: ByteWriter = {
    async write(chunks) {
      if (socket.destroyed || socket.writableEnded) {
        throw new EndOfStreamError('the connection is closed');
      }
      // Corked, a message's chunks (header, data) leave in one writev.
      let flushed = true;
      socket.cork();
      for (const chunk of chunks) flushed = socket.write(chunk);
      socket.uncork();
      if (flushed) return;
      await waitForDrain();
      if (socket.destroyed && socket.writableLength > 0) {
        throw new EndOfStreamError('the connection closed before the data was sent');
      }
    },
    close() {
      if (socket.destroyed) return;
      if (socket.writableEnded) {
        socket.destroy();
        return;
      }
      // Send what is queued, then let go of the socket whatever the peer does.
      socket.end(() => socket.destroy());
    },
  };
  return { reader, writer };
}
