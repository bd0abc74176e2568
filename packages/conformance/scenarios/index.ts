// Every scenario, by topic.

import type { Scenario } from '../src/scenario.js';
import { activeCommitScenarios } from './active-commit.js';
import { allocationScenarios } from './allocation.js';
import { backupCreateScenarios } from './backup-create.js';
import { bitmapBackupScenarios } from './bitmap-backups.js';
import { bitmapScenarios } from './bitmaps.js';
import { blockdevGraphChangeScenarios } from './blockdev-graph-changes.js';
import { chainJobsEndBesideABackupScenarios } from './chain-jobs-end-beside-a-backup.js';
import { createJobGraphChangeScenarios } from './create-job-graph-changes.js';
import { drainOrderScenarios } from './drain-order.js';
import { graphChangeScenarios } from './graph-changes.js';
import { guestDataScenarios } from './guest-data.js';
import { idScenarios } from './ids.js';
import { ioErrorScenarios } from './io-errors.js';
import { jobBitmapScenarios } from './job-bitmaps.js';
import { jobFilterNodeScenarios } from './job-filter-nodes.js';
import { jobRuntimeScenarios } from './job-runtime.js';
import { mirrorScenarios } from './mirror.js';
import { mirrorConvergesOnWakeScenarios } from './mirror-converges-on-wake.js';
import { mirrorSourceErrorScenarios } from './mirror-source-errors.js';
import { mirrorTargetErrorFindingScenarios } from './mirror-target-error.js';
import { mirrorTargetErrorScenarios } from './mirror-target-errors.js';
import { nbdExportScenarios } from './nbd-exports.js';
import { nbdExportsBesideJobsScenarios } from './nbd-exports-beside-jobs.js';
import { persistentBitmapScenarios } from './persistent-bitmaps.js';
import { qcow2GuestDataScenarios } from './qcow2-guest-data.js';
import { sparseFileScenarios } from './sparse-files.js';
import { streamAfterFinishedStreamScenarios } from './stream-after-finished-stream.js';
import { streamAfterPartialStreamScenarios } from './stream-after-partial-stream.js';
import { streamCommitScenarios } from './stream-commit.js';
import { streamCommitErrorScenarios } from './stream-commit-errors.js';
import { throttledFileBackupScenarios } from './throttled-file-backup-woken.js';
import { transactionScenarios } from './transactions.js';
import { verbScenarios } from './verbs.js';

export const allScenarios: readonly Scenario[] = [
  ...mirrorScenarios,
  ...backupCreateScenarios,
  ...streamCommitScenarios,
  ...verbScenarios,
  ...idScenarios,
  ...transactionScenarios,
  ...ioErrorScenarios,
  ...jobRuntimeScenarios,
  ...mirrorTargetErrorScenarios,
  ...allocationScenarios,
  ...drainOrderScenarios,
  ...mirrorTargetErrorFindingScenarios,
  ...bitmapScenarios,
  ...bitmapBackupScenarios,
  ...nbdExportScenarios,
  ...nbdExportsBesideJobsScenarios,
  ...persistentBitmapScenarios,
  ...streamAfterPartialStreamScenarios,
  ...mirrorConvergesOnWakeScenarios,
  ...streamCommitErrorScenarios,
  ...sparseFileScenarios,
  ...mirrorSourceErrorScenarios,
  ...activeCommitScenarios,
  ...streamAfterFinishedStreamScenarios,
  ...throttledFileBackupScenarios,
  ...graphChangeScenarios,
  ...jobFilterNodeScenarios,
  ...blockdevGraphChangeScenarios,
  ...jobBitmapScenarios,
  ...guestDataScenarios,
  ...qcow2GuestDataScenarios,
  ...chainJobsEndBesideABackupScenarios,
  ...createJobGraphChangeScenarios,
];
