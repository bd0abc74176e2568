/**
 * Listening sockets for the NBD server. A unix socket is bound inside a fresh 0700 directory,
 * made 0600, and only then linked to its public path, so nobody else can connect to it even
 * for a moment; TCP binds to loopback unless told otherwise.
 */
import { chmod, link, lstat, mkdtemp, rmdir, unlink } from 'node:fs/promises';
import { connect, type Server } from 'node:net';
import { basename, dirname, join } from 'node:path';

/** A listener that could not be set up. */
export class NbdListenError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code?: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'NbdListenError';
    this.code = code;
  }
}

function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function bind(server: Server, target: { path: string } | { host: string; port: number }) {
  return new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen(target, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function socketIsLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/** Binds `server` on the unix socket `path`; returns the socket's inode (to remove it later). */
export async function bindUnixPrivately(server: Server, path: string): Promise<bigint> {
  let dir: string;
  try {
    dir = await mkdtemp(join(dirname(path), `.${basename(path)}.`));
  } catch (error) {
    throw new NbdListenError(
      `cannot listen on ${path}: ${(error as Error).message}`,
      errnoCode(error),
      error,
    );
  }
  const hidden = join(dir, 'socket');
  try {
    await chmod(dir, 0o700);
    await bind(server, { path: hidden });
    await chmod(hidden, 0o600);
    try {
      await link(hidden, path);
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') throw error;
      const existing = await lstat(path);
      if (!existing.isSocket()) {
        throw new NbdListenError(
          `cannot listen on ${path}: the path exists and is not a socket`,
          'EEXIST',
        );
      }
      if (await socketIsLive(path)) {
        throw new NbdListenError(
          `cannot listen on ${path}: another server is listening there`,
          'EADDRINUSE',
        );
      }
      await unlink(path);
      await link(hidden, path);
    }
    return (await lstat(path, { bigint: true })).ino;
  } catch (error) {
    await new Promise<void>((resolve) =>
      server.listening ? server.close(() => resolve()) : resolve(),
    );
    if (error instanceof NbdListenError) throw error;
    throw new NbdListenError(
      `cannot listen on ${path}: ${(error as Error).message}`,
      errnoCode(error),
      error,
    );
  } finally {
    await unlink(hidden).catch(() => undefined);
    await rmdir(dir).catch(() => undefined);
  }
}

/** Removes the socket file at `path` if it is still the one we created. */
export async function removeUnixSocket(path: string, inode: bigint): Promise<void> {
  try {
    if ((await lstat(path, { bigint: true })).ino === inode) await unlink(path);
  } catch {
    // Already gone.
  }
}

/** Binds `server` on TCP; returns the port actually bound. */
export async function bindTcp(server: Server, host: string, port: number): Promise<number> {
  try {
    await bind(server, { host, port });
  } catch (error) {
    throw new NbdListenError(
      `cannot listen on ${host}:${port}: ${(error as Error).message}`,
      errnoCode(error),
      error,
    );
  }
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : port;
}
