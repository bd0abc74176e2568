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
  });
  socket.on('data', (chunk: Buffer) => {
    reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  });
  socket.on('end', () => reader.end());
  socket.on('error', (error) => reader.end(new EndOfStreamError(error.message, { cause: error })));
  socket.on('close', () => reader.end());

  const writer: ByteWriter = {
    write(chunks) {
      if (socket.destroyed || socket.writableEnded) {
        return Promise.reject(new EndOfStreamError('the connection is closed'));
      }
      let flushed = true;
      for (const chunk of chunks) flushed = socket.write(chunk);
      if (flushed) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const done = () => {
          socket.off('drain', done);
          socket.off('close', done);
          if (socket.destroyed && socket.writableLength > 0) {
            reject(new EndOfStreamError('the connection closed before the data was sent'));
          } else {
            resolve();
          }
        };
        socket.on('drain', done);
        socket.on('close', done);
      });
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
