// QEMU 7.2 (Debian 7.2.22): the version the simulator was first built against; every other
// module's behaviour is 7.2's unless a profile says otherwise.
import type { QemuProfile } from './profile.js';

export const qemu72Profile: QemuProfile = Object.freeze({
  version: '7.2',
  qemu: Object.freeze({ major: 7, minor: 2, micro: 0 }),
  graphChangesDrainAll: false,
  mirrorCopyModeChange: false,
  transactionChecksCompletionModeFirst: false,
  resumeWaitsOutRateLimit: false,
  createJobRunsAfterReply: false,
  transactionCommitsNewestFirst: false,
  nodeInfoHasActive: false,
  fileImageInfoHasFormatSpecific: false,
  jobBitmapsOnFilter: false,
  zeroWriteUnmapNeedsDiscardUnmap: false,
  exportsDeletedAtServerStopEnd: false,
});
