// @qmpkit/protocol/node — QMP transports over Node sockets (unix and TCP).

export {
  listenUnixPrivately,
  type PrivateUnixSocket,
  unixSocketIsLive,
} from './listen-unix.js';
export {
  type ConnectOptions,
  connect,
  connectTcp,
  connectUnix,
  DEFAULT_MAX_WRITE_BUFFER_BYTES,
  SocketTransport,
  type SocketTransportOptions,
  wrapSocket,
} from './socket-transport.js';
