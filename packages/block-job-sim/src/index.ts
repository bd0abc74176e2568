// @qmpkit/block-job-sim — the simulated QEMU 7.2 block layer and its jobs, behind
// @qmpkit/server. The public surface: the block layer and what it is built from (an image store,
// a clock, the runtime schema), the job simulator and its typed handlers, the --blockdev and
// keyval parsers, and the errors they throw. Everything else (job drivers, the job runtime, the
// rate limiter, qcow2 internals) is the package's own.

export { BlkdebugState, type InjectedError } from './blkdebug.js';
export {
  BlockLayer,
  type BlockLayerOptions,
  type BlockNode,
  jobBlockerReason,
} from './block-layer.js';
export { BlockdevArgumentError, parseBlockdevArgument } from './blockdev-options.js';
export { RealClock, type RealClockOptions, type SimClock, VirtualClock } from './clock/clock.js';
export {
  type ImageStat,
  type ImageStore,
  ImageStoreError,
  MemoryImageStore,
} from './image-store.js';
export { withClockStepCommand } from './jobs/schema.js';
export {
  BlockJobSimulator,
  CLOCK_STEP_COMMAND,
  createSimulator,
  type Simulation,
  type SimulatorCommands,
  type SimulatorExtensionCommands,
  type SimulatorHandlers,
  type SimulatorOptions,
} from './jobs/simulator.js';
export {
  KeyvalError,
  type KeyvalObject,
  type KeyvalParseResult,
  type KeyvalValue,
  parseKeyval,
} from './keyval.js';
export {
  QEMU_PROFILE_VERSIONS,
  type QemuProfile,
  type QemuProfileVersion,
  qemu72Profile,
  qemu100Profile,
  qemuProfile,
} from './profile/index.js';
export { Qcow2FormatError } from './qcow2.js';
export type { JobPace } from './runtime/pace.js';
export { BlockSchema, type RuntimeSchema } from './schema.js';
