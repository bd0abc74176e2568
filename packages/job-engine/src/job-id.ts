// QEMU's id_wellformed(): an ASCII letter, then ASCII letters, digits, '-', '.' or '_'.
// There is no length limit (1000 characters were accepted by 7.2).
const JOB_ID = /^[A-Za-z][A-Za-z0-9._-]*$/;

/** Whether QEMU accepts `id` as a job ID. */
export function isWellFormedJobId(id: string): boolean {
  return JOB_ID.test(id);
}
