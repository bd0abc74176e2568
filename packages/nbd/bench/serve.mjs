// Serves a sparse in-memory disk on a unix socket for the benchmark (its own process, as
// qemu-nbd is). Usage: node serve.mjs SOCKET SIZE. Prints "ready" once listening.
import { SparseMemoryBackend } from '../dist/index.js';
import { NbdServer } from '../dist/node/index.js';

const [socket, size] = process.argv.slice(2);
const backend = new SparseMemoryBackend({ size: Number(size), maxBytes: 4 * 1024 ** 3 });
const server = await NbdServer.listen({ path: socket }, { maxConnections: 1 });
server.addExport({ name: '', backend });
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdout.write('ready\n');
