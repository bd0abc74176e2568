// The one event the app's wrappers (faults, fleet bandwidth, linter) follow jobs by.

/** A JOB_STATUS_CHANGE event's job and new status; undefined for any other event. */
export function jobStatusChange(
  event: string,
  data: unknown,
): { readonly id: string; readonly status: string } | undefined {
  if (event !== 'JOB_STATUS_CHANGE' || typeof data !== 'object' || data === null) return undefined;
  const id: unknown = Reflect.get(data, 'id');
  const status: unknown = Reflect.get(data, 'status');
  return typeof id === 'string' && typeof status === 'string' ? { id, status } : undefined;
}
