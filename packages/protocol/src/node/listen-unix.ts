/**
 * Listening on a unix socket that nobody else can reach, not even between bind() and chmod():
 * the socket is bound inside a fresh directory of mode 0700 beside the wanted path, set to mode
 * 0600, and only then renamed into place — so it appears complete, private and listening at once.
 */
import { chmodSync, lstatSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** A unix socket listened on by `listenUnixPrivately`. */
export interface PrivateUnixSocket {
  readonly path: string;
  /** Removes the socket file if it is still the one created here (not a successor's). */
  remove(): void;
}

/** Whether something accepts connections on the unix socket at `path`. */
export function unixSocketIsLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/** The longest unix socket path Linux accepts (`sun_path` is 108 bytes with its NUL). */
const MAX_UNIX_PATH_BYTES = 107;

/**
 * A private directory (mode 0700 whatever the umask: mkdtemp's) to bind in: beside `path`, so
 * that the rename stays on one file system, or under the temp dir when a path beside would be
 * too long for a socket.
 */
function makePrivateDir(path: string): string {
  const beside = join(dirname(path), '.qmpkit-');
  const room = MAX_UNIX_PATH_BYTES - '/s'.length - 6;
  return mkdtempSync(Buffer.byteLength(beside) <= room ? beside : join(tmpdir(), 'qmpkit-'));
}

function bind(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Makes `server` listen on the unix socket `path` (mode 0600, see the module comment). A stale
 * socket there (nothing listening) is replaced; a live one, or a path that is not a socket, is an
 * error. Rejects with an `Error` whose message starts `cannot listen on PATH:`.
 */
export async function listenUnixPrivately(
  server: Server,
  path: string,
): Promise<PrivateUnixSocket> {
  const fail = (why: string): never => {
    throw new Error(`cannot listen on ${path}: ${why}`);
  };
  let existing: ReturnType<typeof lstatSync> | undefined;
  try {
    existing = lstatSync(path);
  } catch {
    existing = undefined;
  }
  if (existing !== undefined) {
    if (!existing.isSocket()) fail('the path exists and is not a socket');
    if (await unixSocketIsLive(path)) fail('something is listening there');
  }
  let privateDir = '';
  try {
    privateDir = makePrivateDir(path);
  } catch (error) {
    fail((error as Error).message);
  }
  const staging = join(privateDir, 's');
  let inode: number | bigint;
  try {
    await bind(server, staging);
    chmodSync(staging, 0o600);
    renameSync(staging, path);
    inode = lstatSync(path).ino;
  } catch (error) {
    server.close();
    return fail((error as Error).message);
  } finally {
    rmSync(privateDir, { recursive: true, force: true });
  }
  return {
    path,
    remove: () => {
      try {
        if (lstatSync(path).ino === inode) rmSync(path);
      } catch {
        // Already gone.
      }
    },
  };
}
