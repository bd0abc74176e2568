// What blockdev.c's job commands need from the job runtime: resolving nodes and job ids,
// creating a job with its driver, starting it, and the drained sections a command opens. The
// command files in this folder check arguments and build a job's description in QEMU's order
// (every refusal with QEMU's text, before or after the job exists, as QEMU's own code does);
// the runtime then runs the job.

import type { Effect, JobEngine, JobTransaction } from '@qmpkit/job-engine';
import { CommandError, type QapiErrorClass } from '@qmpkit/protocol';
import type { JobType } from '@qmpkit/qapi-types/7.2';
import type { PreparedBitmapAction } from '../../bitmaps/commands.js';
import type { BlockLayer, BlockNode } from '../../block-layer.js';
import { genericError } from '../../errors.js';
import type { QemuProfile } from '../../profile/profile.js';
import type { GraphChanges } from '../../runtime/drain.js';
import type { JobDriver } from '../../runtime/job-driver.js';
import type { DriverParts, JobRun } from '../driver.js';

export interface CreateJobOptions {
  id: string | undefined;
  type: JobType;
  activeCommit?: boolean;
  transaction?: JobTransaction | undefined;
  autoFinalize?: boolean | undefined;
  autoDismiss?: boolean | undefined;
  speed?: number | undefined;
  /** The graph changes QEMU makes around block_job_create for this kind of job. */
  graphChanges?: GraphChanges | undefined;
}

export interface JobFactory {
  readonly layer: BlockLayer;
  readonly engine: JobEngine;
  /** The QEMU version the commands follow where versions differ. */
  readonly profile: QemuProfile;
  /** qmp_get_root_bs(). */
  rootNode(name: string): BlockNode;
  /** bdrv_op_is_blocked() for the operations a backing-file blocker leaves open. */
  assertOpenToJobs(node: BlockNode): void;
  /** block_job_create(): the engine's create (its events go out); returns the job id. */
  createJob(options: CreateJobOptions): string;
  /** The job's driver, with its nodes marked (op blockers, backends, filters). */
  newDriver(id: string, driver: JobDriver, parts: DriverParts): JobRun;
  start(id: string): void;
  /** A job created but refused later by its command (never started): undo its marks. */
  discard(id: string): void;
  /** bdrv_drained_begin() on `node` (undefined: every node); returns what to end. */
  drainBegin(node: BlockNode | undefined): JobRun[];
  drainEnd(drained: readonly JobRun[], newestFirst: boolean): void;
  /** A change of the block graph under its write lock, `times` times (runtime/drain.ts). */
  graphChange(times?: number): void;
  applyEffects(effects: readonly Effect[]): void;
  /** A number never handed out before (for names of helper nodes). */
  uniqueNumber(): number;
}

/** A transaction action's state: its job, and the drained section its clean() ends. */
export interface ActionState {
  jobId?: string;
  drained?: JobRun[];
  /** A bitmap action's commit and abort (blockdev.c's block_dirty_bitmap_*_commit/_abort). */
  bitmapAction?: PreparedBitmapAction;
}

export function commandError(cls: QapiErrorClass, desc: string): CommandError {
  return new CommandError(cls, desc);
}

/** The package's one GenericError helper (errors.ts), by the short name the drivers use. */
export { genericError as generic };

/** QERR_INVALID_PARAMETER_VALUE. */
export function invalidValue(name: string, expected: string): CommandError {
  return genericError(`Parameter '${name}' expects ${expected}`);
}

export function blockNode(layer: BlockLayer, name: string): BlockNode {
  return layer.lookupNode(name);
}

/** bdrv_lookup_bs(NULL, node_name): the message names no device. */
export function nodeByName(layer: BlockLayer, name: string): BlockNode {
  const node = layer.findNode(name);
  if (node === undefined) throw genericError(`Cannot find device='' nor node-name='${name}'`);
  return node;
}

export function chainContains(top: BlockNode, node: BlockNode): boolean {
  for (let n: BlockNode | undefined = top; n !== undefined; n = n.backing) {
    if (n === node) return true;
  }
  return false;
}

export function bottomOf(node: BlockNode): BlockNode {
  let n = node;
  while (n.backing !== undefined) n = n.backing;
  return n;
}

export function overlayOf(top: BlockNode, node: BlockNode): BlockNode | undefined {
  for (let n: BlockNode | undefined = top; n !== undefined; n = n.backing) {
    if (n.backing === node) return n;
  }
  return undefined;
}
