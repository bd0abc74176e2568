// What differs between the QEMU versions qmpkit-server can speak. Each version is one profile
// (./qemu-7.2.ts, ./qemu-10.0.ts): data and small hooks that the simulator consults at the few
// places where the versions part ways, so that no version check is scattered through the jobs.
// Every entry was measured on the real qemu-storage-daemon of that version (Debian 7.2.22 and
// 10.0.2, same command sequences on null-co nodes).
//
// The runtime schema (query-qmp-schema, argument validation) is not here: it is QEMU's GPL data,
// which the bundled server-app hands in per version (@qmpkit/qapi-types/7.2 and /10.0).

/** The QEMU versions the simulator has a profile for, oldest first. */
export const QEMU_PROFILE_VERSIONS = ['7.2', '10.0'] as const;
export type QemuProfileVersion = (typeof QEMU_PROFILE_VERSIONS)[number];

export interface QemuProfile {
  readonly version: QemuProfileVersion;
  /**
   * The release the greeting and `query-version` present. The micro release is 0: qmpkit claims
   * the minor version it was checked against, not a distribution's build.
   */
  readonly qemu: { readonly major: number; readonly minor: number; readonly micro: number };
  /**
   * The block graph's write lock (bdrv_graph_wrlock) is a drained section of every node (QEMU
   * 8.2 on: it drains all, takes the lock, and ends the drain when it unlocks). QEMU takes it
   * for every change of the graph: closing a node (blockdev-del), inserting and dropping a
   * job's filter node, attaching and detaching a job's nodes — so each time every job not
   * already paused takes an internal pause: paused/running, or standby/ready. 7.2's graph
   * changes drain only the nodes they touch. How many changes each step of a job makes is
   * QEMU's code, the same on every version; where they are, see runtime/drain.ts
   * (`graphChange`).
   */
  readonly graphChangesDrainAll: boolean;
  /**
   * `query-block-jobs` entries of mirror jobs carry `actively-synced` (QEMU 8.2 on), and
   * `block-job-change` switches a mirror's copy mode (QEMU 8.2 on; job verb `change`).
   */
  readonly mirrorCopyModeChange: boolean;
  /**
   * A transaction whose completion-mode is not individual checks every action first, before it
   * drains or prepares anything (QEMU 8.2 on; ./transaction.ts).
   */
  readonly transactionChecksCompletionModeFirst: boolean;
  /**
   * A throttled job entered again (job-resume, the end of a drain) keeps waiting out the
   * rate-limit delay it still owes instead of copying its next chunk at once (QEMU 10.0:
   * block_job_ratelimit_sleep sleeps until the whole delay has passed).
   */
  readonly resumeWaitsOutRateLimit: boolean;
  /**
   * blockdev-create's job runs after the command's reply, so a creation the image driver refuses
   * ends (aborting, concluded) after it too (QEMU 10.0; 7.2 ends it before the reply).
   */
  readonly createJobRunsAfterReply: boolean;
  /**
   * A transaction commits its actions (starting their jobs) and then cleans them up (ending
   * each backup's drained section) newest action first (QEMU 8.0's Transaction API); 7.2 goes in
   * the actions' order.
   */
  readonly transactionCommitsNewestFirst: boolean;
  /**
   * BlockDeviceInfo (query-named-block-nodes) carries `active`, true for every node here: the
   * simulator has no inactive nodes, which only incoming migration or blockdev-set-active make
   * (QEMU 10.0 on).
   */
  readonly nodeInfoHasActive: boolean;
  /**
   * The image info of a `file` node carries `format-specific: {type: 'file', data: {}}` (QEMU 8.0
   * on; the data would hold an XFS extent size hint, which the simulator's files do not have).
   */
  readonly fileImageInfoHasFormatSpecific: boolean;
  /**
   * The anonymous bitmaps of a running backup (block-copy's copy bitmap) and mirror (its dirty
   * bitmap) sit on the job's filter node rather than on the source, and a mirror's never records
   * itself (measured on 10.0.2; 7.2 has them on the source); see bitmaps/job-bitmaps.ts.
   */
  readonly jobBitmapsOnFilter: boolean;
  /**
   * A zero write allowing a hole (an NBD client's write-zeroes without NO_HOLE) may free a qcow2
   * data cluster only when the node was opened with `discard: 'unmap'` (bdrv_co_pwrite_zeroes
   * drops BDRV_REQ_MAY_UNMAP otherwise; measured on 10.0.2 — 7.2.22 frees it with the default
   * `discard: 'ignore'` too).
   */
  readonly zeroWriteUnmapNeedsDiscardUnmap: boolean;
  /**
   * nbd-server-stop emits every BLOCK_EXPORT_DELETED at its end, newest export first, after
   * all exports have let go of their nodes (measured on 10.0.2); 7.2 emits each one as soon as
   * its export is gone, oldest first.
   */
  readonly exportsDeletedAtServerStopEnd: boolean;
}
