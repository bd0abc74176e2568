// @qmpkit/server — a QMP server that a client cannot tell from QEMU 7.2's monitor. Transport
// agnostic: serve any connected `Transport`; Node listeners live in `@qmpkit/server/node`.

export { QMP_SERVER_CODEC } from './codec.js';
export {
  BUILTIN_COMMANDS,
  DEFAULT_MAX_OUTPUT_BYTES,
  DEFAULT_QEMU_VERSION,
  Monitor,
  type MonitorHost,
  OUTPUT_HIGH_WATER_BYTES,
  QmpServer,
  REQUEST_QUEUE_MAX,
  THROTTLED_EVENTS,
} from './server.js';
export type {
  AttachOptions,
  ClientInfo,
  CommandArgs,
  CommandContext,
  CommandHandler,
  CommandHandlerOf,
  CommandResult,
  CommandSignature,
  CommandTable,
  EmitOptions,
  EventBroadcast,
  EventData,
  HandlerMap,
  LogLevel,
  MonitorOptions,
  QmpServerOptions,
  ServerLogger,
  ServerVersion,
} from './types.js';
export { SchemaValidator, type ValidationResult } from './validate.js';
