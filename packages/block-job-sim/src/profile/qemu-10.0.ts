// QEMU 10.0 (Debian 10.0.2, bookworm-backports): what it does differently from 7.2, as measured
// on its qemu-storage-daemon.
import type { QemuProfile } from './profile.js';

export const qemu100Profile: QemuProfile = Object.freeze({
  version: '10.0',
  qemu: Object.freeze({ major: 10, minor: 0, micro: 0 }),
  graphChangesDrainAll: true,
  mirrorCopyModeChange: true,
  transactionChecksCompletionModeFirst: true,
  resumeWaitsOutRateLimit: true,
  createJobRunsAfterReply: true,
  transactionCommitsNewestFirst: true,
  nodeInfoHasActive: true,
  fileImageInfoHasFormatSpecific: true,
  jobBitmapsOnFilter: true,
  zeroWriteUnmapNeedsDiscardUnmap: true,
  exportsDeletedAtServerStopEnd: true,
});
