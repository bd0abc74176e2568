export {
  type BlkdebugIoType,
  type BlkdebugRule,
  BlkdebugState,
  blkdebugRule,
  type InjectedError,
} from './blkdebug.js';
export {
  type BlockChild,
  BlockLayer,
  type BlockLayerOptions,
  type BlockNode,
  type CacheMode,
  type ChildName,
  type ExternalUser,
  jobBlockerReason,
} from './block-layer.js';
export {
  BlockdevArgumentError,
  canonicalOrder,
  parseBlockdevArgument,
  parseSize,
} from './blockdev-options.js';
export {
  type CancelTimer,
  RealClock,
  type RealClockOptions,
  type SimClock,
  VirtualClock,
} from './clock/clock.js';
export { genericError } from './errors.js';
export {
  combinePath,
  type ImageStat,
  type ImageStore,
  ImageStoreError,
  MemoryImageStore,
  strerror,
} from './image-store.js';
export {
  type RateLimitState,
  rateLimitDelay,
  SLICE_NS,
  sliceQuota,
} from './jobs/schedule.js';
export { clockStepSchemaEntries, withClockStepCommand } from './jobs/schema.js';
export {
  BACKUP_CHUNK_SIZE,
  BlockJobSimulator,
  CLOCK_STEP_COMMAND,
  COMMIT_CHUNK_SIZE,
  createSimulator,
  DEFAULT_THROUGHPUT,
  MIRROR_BUFFER_SIZE,
  type Simulation,
  type SimulatorCommands,
  type SimulatorExtensionCommands,
  type SimulatorHandlers,
  type SimulatorOptions,
  STREAM_CHUNK_SIZE,
} from './jobs/simulator.js';
export {
  KeyvalError,
  type KeyvalObject,
  type KeyvalParseResult,
  type KeyvalValue,
  parseKeyval,
} from './keyval.js';
export {
  BLK_PERM,
  type ChildRole,
  defaultChildPermissions,
  NO_PERMISSIONS,
  type Permissions,
  permissionBitsOf,
  permissionNames,
} from './permissions.js';
export {
  QEMU_PROFILE_VERSIONS,
  type QemuProfile,
  type QemuProfileVersion,
  qemu72Profile,
  qemu100Profile,
  qemuProfile,
} from './profile/index.js';
export { isSimulatedDriver, SIMULATED_DRIVERS, type SimulatedDriver } from './qapi.js';
export {
  buildEmptyQcow2,
  Qcow2AllocationMap,
  type Qcow2ClusterMapping,
  type Qcow2CreateParameters,
  Qcow2FormatError,
  type Qcow2Header,
  readQcow2AllocationMap,
  readQcow2Header,
} from './qcow2.js';
export { BlockSchema, type RuntimeSchema, type SchemaMember } from './schema.js';
