// @qmpkit/server/node — listen for QMP clients on unix sockets and TCP.
export {
  ListenError,
  type ListenOptions,
  listenTcp,
  listenUnix,
  type QmpListener,
  type TcpListenOptions,
} from './listen.js';
