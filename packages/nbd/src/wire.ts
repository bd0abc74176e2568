/** Big-endian encoding and decoding of the protocol's fixed-size fields. */

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });
const lossyDecoder = new TextDecoder('utf-8');

/** Builds one message of known fields. */
export class MessageBuilder {
  readonly #parts: Uint8Array[] = [];
  #current: number[] = [];

  u16(value: number): this {
    this.#current.push((value >>> 8) & 0xff, value & 0xff);
    return this;
  }

  u32(value: number): this {
    this.#current.push(
      (value >>> 24) & 0xff,
      (value >>> 16) & 0xff,
      (value >>> 8) & 0xff,
      value & 0xff,
    );
    return this;
  }

  u64(value: bigint | number): this {
    const big = BigInt(value);
    this.u32(Number((big >> 32n) & 0xffffffffn));
    return this.u32(Number(big & 0xffffffffn));
  }

  bytes(bytes: Uint8Array): this {
    this.#flush();
    if (bytes.length > 0) this.#parts.push(bytes);
    return this;
  }

  string(text: string): this {
    return this.bytes(encoder.encode(text));
  }

  /** The message as chunks (large byte arrays are not copied). */
  chunks(): Uint8Array[] {
    this.#flush();
    return this.#parts;
  }

  #flush(): void {
    if (this.#current.length > 0) {
      this.#parts.push(Uint8Array.from(this.#current));
      this.#current = [];
    }
  }
}

/** The total length of some chunks. */
export function totalLength(chunks: readonly Uint8Array[]): number {
  let n = 0;
  for (const c of chunks) n += c.length;
  return n;
}

export function readU16(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 8) | bytes[at + 1]!;
}

export function readU32(bytes: Uint8Array, at: number): number {
  return (
    ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0
  );
}

export function readU64(bytes: Uint8Array, at: number): bigint {
  return (BigInt(readU32(bytes, at)) << 32n) | BigInt(readU32(bytes, at + 4));
}

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes UTF-8, or `undefined` when the bytes are not valid UTF-8. */
export function decodeStrict(bytes: Uint8Array): string | undefined {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Decodes UTF-8, replacing what is not valid (for messages). */
export function decodeLossy(bytes: Uint8Array): string {
  return lossyDecoder.decode(bytes);
}
