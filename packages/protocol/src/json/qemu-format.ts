/**
 * Two details of how QEMU 7.2 prints JSON (reference §1.5), needed for byte-exact output.
 */

const utf8 = new TextEncoder();

/**
 * The bucket QEMU's QDict puts `key` in (of 512). QEMU prints an object's members by ascending
 * bucket, most recently inserted first within a bucket.
 */
export function qemuKeyBucket(key: string): number {
  const cached = bucketCache.get(key);
  if (cached !== undefined) return cached;
  const bucket = computeBucket(key);
  // Keys are mostly schema member names: a small, bounded cache covers them.
  if (bucketCache.size >= 4096) bucketCache.clear();
  bucketCache.set(key, bucket);
  return bucket;
}

const bucketCache = new Map<string, number>();

function computeBucket(key: string): number {
  const bytes = utf8.encode(key);
  let v = Math.imul(0x238f13af, bytes.length) >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    v = (v + ((bytes[i]! << ((5 * i) % 24)) >>> 0)) >>> 0;
  }
  const h = (Math.imul(1103515243, v) + 12345) >>> 0;
  return h % 512;
}

/** `keys` (in insertion order) reordered the way QEMU would print them. */
export function qemuMemberOrder(keys: readonly string[]): string[] {
  const decorated = keys.map((key, index) => ({ key, index, bucket: qemuKeyBucket(key) }));
  decorated.sort((a, b) => a.bucket - b.bucket || b.index - a.index);
  return decorated.map((d) => d.key);
}

function stripFractionZeros(s: string): string {
  if (!s.includes('.')) return s;
  let end = s.length;
  while (s.charCodeAt(end - 1) === 0x30) end--;
  if (s.charCodeAt(end - 1) === 0x2e) end--;
  return s.slice(0, end);
}

/**
 * A double formatted like C's `printf("%.17g")`, which is how QEMU writes every non-integer
 * number: 17 significant digits, trailing zeros dropped, exponent form (at least two exponent
 * digits) when the exponent is below -4 or at least 17; `inf`, `-inf`, `nan` for the
 * non-finite values (QEMU really emits these, although they are not JSON).
 */
export function formatDoubleLikeC(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Number.POSITIVE_INFINITY) return 'inf';
  if (x === Number.NEGATIVE_INFINITY) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const sign = x < 0 ? '-' : '';
  const e = Math.abs(x).toExponential(16); // d.dddddddddddddddde±X, correctly rounded
  const ePos = e.indexOf('e');
  const digits = e[0]! + e.slice(2, ePos); // 17 significant digits
  const exponent = Number(e.slice(ePos + 1));
  if (exponent < -4 || exponent >= 17) {
    const mantissa = stripFractionZeros(`${digits[0]}.${digits.slice(1)}`);
    const abs = Math.abs(exponent);
    return `${sign}${mantissa}e${exponent < 0 ? '-' : '+'}${abs < 10 ? '0' : ''}${abs}`;
  }
  if (exponent >= 0) {
    const whole = digits.slice(0, exponent + 1);
    const fraction = digits.slice(exponent + 1);
    return sign + stripFractionZeros(fraction.length > 0 ? `${whole}.${fraction}` : whole);
  }
  return sign + stripFractionZeros(`0.${'0'.repeat(-exponent - 1)}${digits}`);
}
