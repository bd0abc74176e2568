/**
 * Starting and stopping the bundled server. Only this package reads process.argv/env and exits;
 * the logic here takes its inputs as arguments so it can be tested in-process.
 */
import { readFileSync } from 'node:fs';
import { QmpServer } from '@qmpkit/server';
import { listenTcp, listenUnix, type QmpListener } from '@qmpkit/server/node';
import { HELP, type MonitorSpec, PROGRAM, parseCommandLine, UsageError } from './options.js';

/** This package's version (read from its package.json, next to src/ and dist/). */
export function appVersion(): string {
  // src/app.ts and dist/app.js both sit one level below the package root.
  const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/** What the app writes to. */
export interface AppIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** A running app. */
export interface RunningApp {
  readonly server: QmpServer;
  readonly listeners: readonly QmpListener[];
  /** Stops listening, ends sessions, removes socket files. */
  stop(): Promise<void>;
}

/** Opens the monitors in order; on failure closes what was opened and rethrows. */
export async function startMonitors(
  server: QmpServer,
  monitors: readonly MonitorSpec[],
  io: AppIo,
): Promise<QmpListener[]> {
  const listeners: QmpListener[] = [];
  try {
    for (const spec of monitors) {
      const listener =
        spec.endpoint.kind === 'unix'
          ? await listenUnix(server, spec.endpoint.path)
          : await listenTcp(server, { host: spec.endpoint.host, port: spec.endpoint.port });
      listeners.push(listener);
      io.stderr(
        `${PROGRAM}: listening on ${spec.endpoint.kind === 'unix' ? 'unix socket' : 'tcp'} ${listener.address}\n`,
      );
    }
  } catch (error) {
    await server.close();
    throw error;
  }
  return listeners;
}

/**
 * Runs the command line. Resolves to an exit code for `--help`/`--version`/errors, or to a
 * running app.
 */
export async function runCommandLine(
  args: readonly string[],
  io: AppIo,
): Promise<{ exitCode: number } | { app: RunningApp }> {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(args);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`${error.message}\n`);
      if (error.message.includes('unrecognized option')) {
        io.stderr(`Try '${PROGRAM} --help' for more information.\n`);
      }
      return { exitCode: 1 };
    }
    throw error;
  }
  if (parsed.action === 'help') {
    io.stdout(HELP);
    return { exitCode: 0 };
  }
  const version = appVersion();
  if (parsed.action === 'version') {
    io.stdout(`${PROGRAM} version ${version} (qmpkit; answers QMP like QEMU 7.2)\n`);
    return { exitCode: 0 };
  }
  for (const warning of parsed.warnings) io.stderr(`${warning}\n`);
  const server = new QmpServer({
    version: { package: `qmpkit ${version}` },
    log: (level, message) => {
      io.stderr(`${PROGRAM}: ${level === 'info' ? '' : `${level}: `}${message}\n`);
    },
  });
  let listeners: QmpListener[];
  try {
    listeners = await startMonitors(server, parsed.monitors, io);
  } catch (error) {
    io.stderr(`${PROGRAM}: ${(error as Error).message}\n`);
    return { exitCode: 1 };
  }
  return { app: { server, listeners, stop: () => server.close() } };
}
