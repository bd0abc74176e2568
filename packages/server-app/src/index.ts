// @qmpkit/server-app — the bundled qmpkit-server (bin). The command line and the start-up logic
// are exported for embedding and tests.
export {
  type AppIo,
  appVersion,
  type RunningApp,
  type RunOptions,
  runCommandLine,
  startMonitors,
} from './app.js';
export {
  type ClockKind,
  DEMO_BLOCKDEVS,
  DEMO_SOCKET,
  DEMO_THROUGHPUT,
  type Endpoint,
  HELP,
  type MonitorSpec,
  type ParsedCommandLine,
  PROGRAM,
  parseCommandLine,
  ServerUsageError,
  splitQemuOpts,
} from './options.js';
