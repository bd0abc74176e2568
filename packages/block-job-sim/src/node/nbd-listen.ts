// The NBD server behind the simulator's nbd-server-start, on Node sockets: unix sockets bound
// privately, TCP on the address given (QEMU's nbd-server-start has no default host).

import { NbdServer } from '@qmpkit/nbd/node';
import type { NbdListen } from '../exports/block-exports.js';

/** nbd-server-start's listener over `@qmpkit/nbd/node` (QEMU 7.2's NBD dialect). */
export const nodeNbdListen: NbdListen = async (address, options) =>
  NbdServer.listen(address, { maxConnections: options.maxConnections });
