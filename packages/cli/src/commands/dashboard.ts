/**
 * `qmpkit dashboard`: serves the live web dashboard of one or more QMP targets (one row group
 * per VM) until Ctrl-C or SIGTERM, printing its URL.
 */
import { startDashboard } from '@qmpkit/dashboard/node';
import type { DashboardCommand } from '../dashboard-args.js';
import { type CliIo, EXIT_INTERRUPTED } from '../io.js';

export async function runDashboard(invocation: DashboardCommand, io: CliIo): Promise<number> {
  const dashboard = await startDashboard({
    targets: invocation.targets,
    host: invocation.listen.host,
    port: invocation.listen.port,
    allowRemote: invocation.allowRemote,
    pollIntervalMs: invocation.intervalMs,
    connectTimeoutMs: invocation.connectTimeoutMs,
    stallAfterMs: invocation.stallAfterMs,
  });
  try {
    io.stdout.write(`qmpkit dashboard: ${dashboard.url}\n`);
    if (!io.interrupt.aborted) {
      await new Promise<void>((resolve) =>
        io.interrupt.addEventListener('abort', () => resolve(), { once: true }),
      );
    }
    return EXIT_INTERRUPTED;
  } finally {
    await dashboard.close();
  }
}
