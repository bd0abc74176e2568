// @qmpkit/nbd/node — the NBD server and client on Node sockets (unix and TCP).
export {
  connectNbd,
  listNbdExports,
  type NbdConnectAddress,
  queryNbdExport,
} from './client.js';
export { NbdListenError } from './listen.js';
export {
  type NbdBoundAddress,
  type NbdListenAddress,
  type NbdListenOptions,
  NbdServer,
} from './server.js';
export { type SocketStreams, socketStreams } from './socket-streams.js';
