/**
 * One job id for every job event. `JOB_STATUS_CHANGE` and `BLOCK_JOB_PENDING` name the job in
 * `data.id`; `BLOCK_JOB_READY`, `BLOCK_JOB_COMPLETED`, `BLOCK_JOB_CANCELLED` and
 * `BLOCK_JOB_ERROR` in `data.device`, which for block jobs *is* the job id (reference
 * job-semantics §4.1, §6.1).
 */

/** The job events of QEMU 7.2 and the member that carries the job id. */
export const JOB_EVENT_ID_MEMBER = Object.freeze({
  JOB_STATUS_CHANGE: 'id',
  BLOCK_JOB_PENDING: 'id',
  BLOCK_JOB_READY: 'device',
  BLOCK_JOB_COMPLETED: 'device',
  BLOCK_JOB_CANCELLED: 'device',
  BLOCK_JOB_ERROR: 'device',
} as const);

/** The names of the job events. */
export const JOB_EVENT_NAMES: readonly (keyof typeof JOB_EVENT_ID_MEMBER)[] = Object.freeze(
  Object.keys(JOB_EVENT_ID_MEMBER) as (keyof typeof JOB_EVENT_ID_MEMBER)[],
);

/** The job id an event is about, or undefined when it is not a job event. */
export function jobIdOfEvent(event: { event: string; data?: unknown }): string | undefined {
  if (!Object.hasOwn(JOB_EVENT_ID_MEMBER, event.event)) return undefined;
  const member = JOB_EVENT_ID_MEMBER[event.event as keyof typeof JOB_EVENT_ID_MEMBER];
  const data = event.data;
  if (typeof data !== 'object' || data === null) return undefined;
  const id = (data as Record<string, unknown>)[member];
  return typeof id === 'string' ? id : undefined;
}
