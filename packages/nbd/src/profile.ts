/**
 * Where QEMU versions differ on the wire, as data: the server takes one of these profiles and
 * never checks a version number anywhere else.
 */

export type NbdQemuVersion = '7.2' | '10.0';

export interface NbdProfile {
  readonly version: NbdQemuVersion;
  /** NBD_OPT_EXTENDED_HEADERS is served (QEMU 8.2 and later) — 64-bit requests and replies. */
  readonly extendedHeaders: boolean;
  /**
   * A zero-length block status is refused before the contexts are looked at (7.2); 10.0 first
   * refuses a client that selected none.
   */
  readonly blockStatusLengthFirst: boolean;
  /** The refusal of a request with the wrong magic (10.0 names the one expected). */
  badMagic(got: number, expected: number): string;
  /** The refusal of a request over 32 MiB (7.2 has a stray space after the number). */
  tooLong(length: bigint | number, max: number): string;
}

const PROFILES: Record<NbdQemuVersion, NbdProfile> = {
  '7.2': {
    version: '7.2',
    extendedHeaders: false,
    blockStatusLengthFirst: true,
    badMagic: (got) => `invalid magic (got 0x${got.toString(16)})`,
    tooLong: (length, max) => `len (${length} ) is larger than max len (${max})`,
  },
  '10.0': {
    version: '10.0',
    extendedHeaders: true,
    blockStatusLengthFirst: false,
    badMagic: (got, expected) =>
      `invalid magic (got 0x${got.toString(16)}, expected 0x${expected.toString(16)})`,
    tooLong: (length, max) => `len (${length}) is larger than max len (${max})`,
  },
};

export const NBD_QEMU_VERSIONS: readonly NbdQemuVersion[] = ['7.2', '10.0'];

export function nbdProfile(version: NbdQemuVersion): NbdProfile {
  if (!Object.hasOwn(PROFILES, version)) throw new RangeError(`no NBD profile for QEMU ${version}`);
  return PROFILES[version];
}
