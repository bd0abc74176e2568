/** The NBD client on Node sockets. */
import { connect as netConnect, type Socket } from 'node:net';
import {
  listExports,
  NbdClientSession,
  type NbdExportInfo,
  type NbdHandshakeOptions,
  type NbdListedExport,
  queryExport,
} from '../client.js';
import { socketStreams } from './socket-streams.js';

export type NbdConnectAddress =
  | { readonly path: string }
  | { readonly host?: string; readonly port: number };

function open(address: NbdConnectAddress): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket =
      'path' in address
        ? netConnect({ path: address.path })
        : netConnect({ host: address.host ?? '127.0.0.1', port: address.port });
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

async function withSocket<T>(
  address: NbdConnectAddress,
  use: (socket: Socket) => Promise<T>,
): Promise<T> {
  const socket = await open(address);
  try {
    return await use(socket);
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

/** Connects, negotiates and enters the transmission phase. Call `disconnect()` when done. */
export function connectNbd(
  address: NbdConnectAddress,
  options: NbdHandshakeOptions = {},
): Promise<NbdClientSession> {
  return withSocket(address, (socket) => {
    const { reader, writer } = socketStreams(socket);
    return NbdClientSession.handshake(reader, writer, options);
  });
}

/** The exports a server lists (NBD_OPT_LIST). */
export function listNbdExports(address: NbdConnectAddress): Promise<NbdListedExport[]> {
  return withSocket(address, async (socket) => {
    const { reader, writer } = socketStreams(socket);
    const list = await listExports(reader, writer);
    writer.close();
    return list;
  });
}

/** An export's details (NBD_OPT_INFO) and the meta contexts it offers. */
export function queryNbdExport(
  address: NbdConnectAddress,
  exportName = '',
): Promise<{ info: NbdExportInfo; metaContexts: string[] }> {
  return withSocket(address, async (socket) => {
    const { reader, writer } = socketStreams(socket);
    const result = await queryExport(reader, writer, exportName);
    writer.close();
    return result;
  });
}
