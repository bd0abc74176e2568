// @qmpkit/cli — the `qmpkit` command-line client. The bin is the product; these exports are the
// pieces it is made of, for embedding `main` or reusing the qmp-shell syntax and the renderers.

export {
  type ExecCommand,
  helpText,
  type Invocation,
  type JobKind,
  type JobsCommand,
  parseByteCount,
  parseCommandLine,
  type RunCommand,
  type ShellCommand,
  type WatchCommand,
} from './args.js';
export { CliUsageError, parseTcpAddress, type Target } from './args-common.js';
export { completeLine, SchemaIndex } from './completion.js';
export { type DashboardCommand, dashboardHelp, parseDashboard } from './dashboard-args.js';
export {
  type CliIo,
  EXIT_FAILURE,
  EXIT_INTERRUPTED,
  EXIT_OK,
  EXIT_USAGE,
  type Output,
} from './io.js';
export { formatJson } from './json-format.js';
export {
  type Arguments,
  buildArguments,
  InputError,
  type KeyValue,
  type LineResult,
  type ParsedCommand,
  pairsOfArgv,
  pairsOfWords,
  parseRawCommand,
  parseValue,
  ShellParser,
  splitWords,
  type Word,
} from './keyvalue.js';
export { main } from './main.js';
export { parseRecordCommand, type RecordCommand, recordHelp } from './record-args.js';
export { type HandValue, JsonSyntaxError, parseRelaxedJson } from './relaxed-json.js';
export {
  formatBytes,
  formatEta,
  formatPercent,
  formatRate,
  formatSpeedLimit,
  type JobRow,
  jobsTable,
  percentOf,
  progressBar,
} from './render.js';
export { endedLine, jobLine } from './view.js';
export {
  type WatchedBlockJob,
  type WatchedJob,
  WatchModel,
  type WatchRecord,
} from './watch-model.js';
