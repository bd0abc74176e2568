/**
 * glibc's strerror() texts, which QEMU writes into its error messages (`…: No space left on
 * device`) and job errors (`Operation canceled`). The one table in qmpkit: every package that
 * prints an errno as QEMU does reads it here.
 */

/** An errno qmpkit may print: its name, Linux's number and glibc's text. */
interface ErrnoEntry {
  readonly name: string;
  readonly number: number;
  readonly text: string;
}

const ERRNOS: readonly ErrnoEntry[] = [
  { name: 'EPERM', number: 1, text: 'Operation not permitted' },
  { name: 'ENOENT', number: 2, text: 'No such file or directory' },
  { name: 'EIO', number: 5, text: 'Input/output error' },
  { name: 'ENOMEM', number: 12, text: 'Cannot allocate memory' },
  { name: 'EACCES', number: 13, text: 'Permission denied' },
  { name: 'EEXIST', number: 17, text: 'File exists' },
  { name: 'ENOTDIR', number: 20, text: 'Not a directory' },
  { name: 'EISDIR', number: 21, text: 'Is a directory' },
  { name: 'EINVAL', number: 22, text: 'Invalid argument' },
  { name: 'EFBIG', number: 27, text: 'File too large' },
  { name: 'ENOSPC', number: 28, text: 'No space left on device' },
  { name: 'EROFS', number: 30, text: 'Read-only file system' },
  { name: 'ENAMETOOLONG', number: 36, text: 'File name too long' },
  { name: 'ELOOP', number: 40, text: 'Too many levels of symbolic links' },
  { name: 'EOVERFLOW', number: 75, text: 'Value too large for defined data type' },
  { name: 'ENOTSUP', number: 95, text: 'Operation not supported' },
  { name: 'ESHUTDOWN', number: 108, text: 'Cannot send after transport endpoint shutdown' },
  { name: 'ECANCELED', number: 125, text: 'Operation canceled' },
];

const BY_NAME: ReadonlyMap<string, string> = new Map(ERRNOS.map((e) => [e.name, e.text]));
const BY_NUMBER: ReadonlyMap<number, string> = new Map(ERRNOS.map((e) => [e.number, e.text]));

/**
 * glibc's strerror() text of an errno, given by name (`'ENOSPC'`, as Node names them) or by
 * Linux's number (`28`, as blkdebug rules carry them). A number glibc would not know gives
 * glibc's `Unknown error N`; a name not in the table is returned as it is.
 */
export function strerror(errno: string | number): string {
  if (typeof errno === 'number') return BY_NUMBER.get(errno) ?? `Unknown error ${errno}`;
  return BY_NAME.get(errno) ?? errno;
}
