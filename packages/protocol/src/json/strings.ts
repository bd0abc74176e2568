/**
 * Decoding of string tokens and of raw token text, with QEMU's rules.
 *
 * QEMU stores strings as "modified UTF-8": the overlong pair C0 80 stands for U+0000, and its
 * decoder refuses surrogate code points, the noncharacters (U+FDD0–U+FDEF and every U+xFFFE /
 * U+xFFFF) and anything above U+10FFFF. Strict mode follows RFC 8259 / standard UTF-8 instead
 * (like `JSON.parse` on well-formed UTF-8): no overlong forms, noncharacters allowed, lone
 * surrogate escapes kept as lone UTF-16 code units.
 */

/** Result slot of `decodeCodepoint`: the index just past the bytes that were looked at. */
export interface CodepointCursor {
  next: number;
}

const MIN_CODEPOINT_FOR_LENGTH = [0x80, 0x800, 0x10000, 0x200000, 0x4000000];

function isValidQemuCodepoint(cp: number): boolean {
  if (cp > 0x10ffff) return false;
  if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe) return false;
  if (cp >= 0xd800 && cp <= 0xdfff) return false;
  return true;
}

function isValidStandardCodepoint(cp: number): boolean {
  return cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
}

/**
 * Decodes one character at `bytes[pos]` (pos < end) the way QEMU's `mod_utf8_codepoint()` does:
 * returns the code point or -1, and sets `cursor.next` past the bytes consumed — for a missing
 * continuation byte it stops *before* that byte, so a following ASCII character is kept.
 * `modified` selects QEMU's variant (C0 80 allowed, noncharacters refused) or standard UTF-8.
 */
export function decodeCodepoint(
  bytes: Uint8Array,
  pos: number,
  end: number,
  modified: boolean,
  cursor: CodepointCursor,
): number {
  let p = pos;
  const lead = bytes[p++]!;
  let cp: number;
  if (lead < 0x80) {
    cp = lead;
  } else if (lead >= 0xfe || (lead & 0x40) === 0) {
    cp = -1; // impossible byte, or a continuation byte with no lead
  } else {
    let len = 0;
    let mask = 0x80;
    while (lead & mask) {
      len++;
      mask >>= 1;
    }
    cp = lead & (mask - 1);
    for (let i = 1; i < len; i++) {
      const b = p < end ? bytes[p]! : 0;
      if ((b & 0xc0) !== 0x80) {
        cursor.next = p;
        return -1;
      }
      p++;
      cp = cp * 64 + (b & 0x3f);
    }
    const valid = modified ? isValidQemuCodepoint(cp) : isValidStandardCodepoint(cp);
    if (!valid) {
      cp = -1;
    } else if (cp < MIN_CODEPOINT_FOR_LENGTH[len - 2]! && !(modified && cp === 0 && len === 2)) {
      cp = -1; // overlong (QEMU tolerates only C0 80)
    }
  }
  cursor.next = p;
  return cp;
}

/**
 * Renders raw bytes as the text QEMU would print for them in an error message: the bytes up to
 * the first NUL (QEMU formats them as a C string), each undecodable sequence replaced by U+FFFD.
 */
export function renderRawBytes(bytes: Uint8Array, start: number, end: number): string {
  let out = '';
  const cursor: CodepointCursor = { next: 0 };
  let p = start;
  while (p < end && bytes[p] !== 0) {
    const cp = decodeCodepoint(bytes, p, end, true, cursor);
    out += String.fromCodePoint(cp < 0 ? 0xfffd : cp);
    p = cursor.next;
  }
  return out;
}

function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10;
  if (b >= 0x41 && b <= 0x46) return b - 0x41 + 10;
  return -1;
}

/** Reads 4 hex digits at `pos` (stopping at `end`); -1 when one is missing or not hex. */
function fourHex(bytes: Uint8Array, pos: number, end: number): number {
  let cp = 0;
  for (let i = 0; i < 4; i++) {
    const v = pos + i < end ? hexValue(bytes[pos + i]!) : -1;
    if (v < 0) return -1;
    cp = cp * 16 + v;
  }
  return cp;
}

/** A string token that QEMU's parser would refuse; `desc` is the text after `JSON parse error, `. */
export class BadString {
  readonly desc: string;
  constructor(desc: string) {
    this.desc = desc;
  }
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes a complete string token `bytes[start, end)`, quotes included. `qemuDialect` enables
 * the `\'` escape and QEMU's modified UTF-8 / code point rules. Returns the string, or a
 * `BadString` carrying QEMU's error text.
 */
export function decodeStringToken(
  bytes: Uint8Array,
  start: number,
  end: number,
  qemuDialect: boolean,
  plainHint?: boolean,
): string | BadString {
  const bodyStart = start + 1;
  const bodyEnd = end - 1;
  // Fast path: printable ASCII without escapes, by far the most common case. The lexer usually
  // knows already (plainHint); otherwise look.
  let plain = plainHint;
  if (plain === undefined) {
    plain = true;
    for (let i = bodyStart; i < bodyEnd; i++) {
      const b = bytes[i]!;
      if (b === 0x5c || b >= 0x80) {
        plain = false;
        break;
      }
    }
  }
  if (plain) {
    const length = bodyEnd - bodyStart;
    if (length <= 24) {
      let s = '';
      for (let i = bodyStart; i < bodyEnd; i++) s += String.fromCharCode(bytes[i]!);
      return s;
    }
    if (length <= 256) {
      // apply takes any array-like list of arguments: the bytes as char codes, no copy.
      return Reflect.apply(String.fromCharCode, null, bytes.subarray(bodyStart, bodyEnd));
    }
    return utf8Strict.decode(bytes.subarray(bodyStart, bodyEnd));
  }
  return decodeSlow(bytes, bodyStart, bodyEnd, qemuDialect);
}

function decodeSlow(
  bytes: Uint8Array,
  start: number,
  end: number,
  qemuDialect: boolean,
): string | BadString {
  const parts: string[] = [];
  let run = '';
  const cursor: CodepointCursor = { next: 0 };
  let p = start;
  while (p < end) {
    const b = bytes[p]!;
    if (b === 0x5c) {
      const escStart = p;
      p++;
      const e = p < end ? bytes[p]! : 0;
      p++;
      switch (e) {
        case 0x22:
          run += '"';
          break;
        case 0x27:
          if (!qemuDialect) return new BadString('invalid escape sequence in string');
          run += "'";
          break;
        case 0x5c:
          run += '\\';
          break;
        case 0x2f:
          run += '/';
          break;
        case 0x62:
          run += '\b';
          break;
        case 0x66:
          run += '\f';
          break;
        case 0x6e:
          run += '\n';
          break;
        case 0x72:
          run += '\r';
          break;
        case 0x74:
          run += '\t';
          break;
        case 0x75: {
          let cp = fourHex(bytes, p, end);
          p += 4;
          if (cp >= 0xd800 && cp <= 0xdbff && bytes[p] === 0x5c && bytes[p + 1] === 0x75) {
            const trailing = fourHex(bytes, p + 2, end);
            if (trailing >= 0xdc00 && trailing <= 0xdfff) {
              cp = 0x10000 + ((cp & 0x3ff) << 10) + (trailing & 0x3ff);
              p += 6;
            } else if (qemuDialect) {
              cp = -1;
            }
          }
          const valid = qemuDialect ? cp >= 0 && isValidQemuCodepoint(cp) : cp >= 0;
          if (!valid) {
            // QEMU quotes the escape as far as it read it (6 bytes, or 12 for a pair).
            return new BadString(
              `${renderRawBytes(bytes, escStart, Math.min(p, end + 1))} is not a valid Unicode character`,
            );
          }
          // In strict mode a lone surrogate escape stays a lone UTF-16 unit, as JSON.parse does.
          run += cp > 0xffff ? String.fromCodePoint(cp) : String.fromCharCode(cp);
          break;
        }
        default:
          return new BadString('invalid escape sequence in string');
      }
      continue;
    }
    if (b < 0x80) {
      run += String.fromCharCode(b);
      p++;
      continue;
    }
    const cp = decodeCodepoint(bytes, p, end, qemuDialect, cursor);
    if (cp < 0) return new BadString('invalid UTF-8 sequence in string');
    run += String.fromCodePoint(cp);
    p = cursor.next;
    if (run.length > 4096) {
      parts.push(run);
      run = '';
    }
  }
  parts.push(run);
  return parts.join('');
}
