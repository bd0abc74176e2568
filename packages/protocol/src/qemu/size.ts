/**
 * QEMU's byte counts with suffixes (util/cutils.c qemu_strtosz): the one parser in qmpkit, used
 * for `size` values of --blockdev and for the byte counts of the command lines.
 */

const UINT64_MAX = 2n ** 64n - 1n;

const SIZE_SUFFIX: Readonly<Record<string, bigint>> = {
  B: 1n,
  K: 1024n,
  M: 1024n ** 2n,
  G: 1024n ** 3n,
  T: 1024n ** 4n,
  P: 1024n ** 5n,
  E: 1024n ** 6n,
};

/**
 * qemu_strtosz(): a byte count with an optional binary suffix (`B`, `K`, `M`, `G`, `T`, `P`,
 * `E`, either case), decimal or `0x` hex, a fraction only with a suffix (rounded half up, as
 * QEMU's fixed-point arithmetic does). Undefined when QEMU would refuse it or it exceeds 2^64-1.
 */
export function parseQemuSize(text: string): bigint | undefined {
  const hex = /^[ \t\n\v\f\r]*\+?0[xX]([0-9a-fA-F]+)([bBkKmMgGtTpPeE]?)$/.exec(text);
  if (hex) {
    const value = BigInt(`0x${hex[1]}`) * (SIZE_SUFFIX[(hex[2] as string).toUpperCase()] ?? 1n);
    return value <= UINT64_MAX ? value : undefined;
  }
  const match = /^[ \t\n\v\f\r]*\+?([0-9]+)(\.[0-9]*)?([bBkKmMgGtTpPeE]?)$/.exec(text);
  if (!match) return undefined;
  const whole = BigInt(match[1] as string);
  const fraction = match[2] ?? '';
  const multiplier = SIZE_SUFFIX[(match[3] as string).toUpperCase()] ?? 1n;
  if (fraction.length > 1 && /[1-9]/.test(fraction) && multiplier === 1n) return undefined;
  let value = whole * multiplier;
  if (fraction.length > 1) {
    const digits = fraction.slice(1);
    const scale = 10n ** BigInt(digits.length);
    // Round half up, as QEMU's 64.64 fixed-point arithmetic does.
    value += (BigInt(digits) * multiplier * 2n + scale) / (2n * scale);
  }
  return value <= UINT64_MAX ? value : undefined;
}
