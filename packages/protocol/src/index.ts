// @qmpkit/protocol — QMP messages, the streaming JSON codec, the Transport contract and the
// error hierarchy. No Node-specific imports here: sockets live in `@qmpkit/protocol/node`, the
// in-memory pair in `@qmpkit/protocol/testing`.

export {
  CommandError,
  ConnectError,
  type ConnectErrorOptions,
  ExecInterruptedError,
  type ExecInterruptedErrorOptions,
  ExecuteError,
  hasErrorMarker,
  isQapiErrorClass,
  LocalError,
  ProtocolError,
  type ProtocolErrorKind,
  type ProtocolErrorOptions,
  QAPI_ERROR_CLASSES,
  type QapiErrorClass,
  QmpkitError,
  type QmpkitErrorOptions,
  type SentCommand,
  StateError,
  type StateErrorOptions,
  stampErrorMarker,
  TimeoutError,
  type TimeoutErrorOptions,
} from './errors.js';
export { type EncodeOptions, encodeJson, type JsonStyle } from './json/encode.js';
export { qemuMemberOrder } from './json/qemu-format.js';
export {
  type JsonDialect,
  JsonStreamer,
  type JsonStreamerOptions,
  type JsonStreamItem,
} from './json/streamer.js';
export {
  isJsonObject,
  JsonFloat,
  type JsonObject,
  type JsonPrimitive,
  type JsonValue,
  type QemuJsonValue,
} from './json/value.js';
export {
  type ClassifiedServerMessage,
  classifyServerMessage,
  isCommand,
  isErrorReply,
  isEvent,
  isGreeting,
  isOobCommand,
  isReply,
  isSuccessReply,
  makeErrorReply,
  makeEvent,
  makeGreeting,
  makeSuccess,
  type QmpCapability,
  type QmpClientMessage,
  type QmpCommand,
  type QmpErrorBody,
  type QmpErrorReply,
  type QmpEvent,
  type QmpGreeting,
  type QmpId,
  type QmpOobCommand,
  type QmpReply,
  type QmpServerMessage,
  type QmpSuccess,
  type QmpTimestamp,
  type QmpVersion,
  type QmpVersionTriple,
  timestampFromMillis,
} from './messages.js';
export { parseQemuSize } from './qemu/size.js';
export { strerror } from './qemu/strerror.js';
// Transcripts: the `qmpkit record` session format and the normalizer shared by replay,
// conformance and users' regression fixtures.
export {
  canonicalJson,
  createNormalizer,
  type NormalizeOptions,
  normalizeTranscript,
} from './transcript/normalize.js';
export {
  formatEntryLine,
  formatMessageLine,
  formatRecordingHeader,
  isRecordMessage,
  parseRecording,
  type RecordDirection,
  type RecordEntry,
  type Recording,
  type RecordingHeader,
  type RecordMessage,
  wireText,
} from './transcript/recording.js';
export {
  type ByteLink,
  CLIENT_CODEC,
  type CodecChoice,
  type CodecOptions,
  type LinkEvents,
  SERVER_CODEC,
  StreamTransport,
  type StreamTransportOptions,
  type Transport,
  type TransportState,
} from './transport.js';
