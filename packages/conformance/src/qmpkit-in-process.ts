// qmpkit-server without a process per run: the bin's own start-up (server-app's runCommandLine:
// the same command line, parsed and served by the same code, from the same built package) inside
// this process, one fresh simulated VM per start, its QMP monitor on a private unix socket in
// the run's temporary directory.
//
// Why: starting `node qmpkit-server` costs 4–4.5 s of module loading at a load of ~38 on this
// 2-core machine, ten times what a whole differential case costs otherwise; loaded once here, a
// start costs a few milliseconds. What is not the bin's: its signal handlers and its process exit
// (stop() runs what SIGTERM runs, app.stop(); `quit` closes the server and exitStatus() turns 0,
// where the bin would exit 0), and the event loop, which this VM shares with the runner's
// clients and the other VMs of the run (every job timer is on the simulator's clock either way).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommandLine } from '@qmpkit/server-app';
import { type Daemon, daemonArgs, type StartOptions } from './daemon.js';
import type { ScenarioVersion } from './scenario.js';
import type { Target } from './scenario-runner.js';

/** Starts a qmpkit-server VM in this process, on qemu-storage-daemon's command line. */
export async function startQmpkitInProcess(
  version: ScenarioVersion,
  options: StartOptions = {},
): Promise<Daemon> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'qmpkit-inproc-'));
  const socketPath = join(dir, 'qmp.sock');
  let stderr = '';
  let exitStatus: number | null = null;
  const io = {
    stdout: () => {},
    stderr: (text: string) => {
      // Bounded: a runaway log must not grow without end in a long run.
      if (stderr.length < 64 * 1024) stderr += text;
    },
  };
  let result: Awaited<ReturnType<typeof runCommandLine>>;
  try {
    result = await runCommandLine(
      ['--qemu-version', version, ...daemonArgs(socketPath, options)],
      io,
      { cwd: dir },
    );
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  if (!('app' in result)) {
    rmSync(dir, { recursive: true, force: true });
    const why = 'exitCode' in result ? `exited with ${result.exitCode}` : 'not a single VM';
    throw new Error(`qmpkit-server did not open its QMP socket (${why}): ${stderr.trim()}`);
  }
  const { app } = result;
  void app.server.whenClosed.then(() => {
    exitStatus = app.exitCode();
  });
  return {
    socketPath,
    dir,
    stderr: () => stderr,
    exitStatus: () => exitStatus,
    stop: async () => {
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** qmpkit-server answering like QEMU `version`, embedded (see the top of this file). */
export function qmpkitInProcessTargetFor(version: ScenarioVersion): Target {
  return {
    name: version === '7.2' ? 'qmpkit-server' : `qmpkit-server-${version}`,
    version,
    start: (options) => startQmpkitInProcess(version, options),
  };
}
