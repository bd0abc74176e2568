/**
 * Cuts one direction of a QMP byte stream into messages, each with its exact text, without
 * touching the stream itself: the proxy forwards every chunk as it came and hands a copy here.
 *
 * The JSON values come from `@qmpkit/protocol`'s streaming reader (QEMU's own input dialect for
 * what clients send, strict JSON for what the server sends), which stops right after the byte
 * that completes a value; its count of unread bytes gives where the message ends. A message's
 * text runs from the end of the previous one through the white space after it, up to and
 * including the first LF (QEMU ends each message with CR LF; clients mostly with LF), as far as
 * it has arrived with the message; what is left at the end of the stream is a frame of its own.
 */
import { JsonStreamer, type JsonStreamItem, type JsonValue } from '@qmpkit/protocol';

/** One message, or one stretch of input the reader refused, with its exact bytes. */
export type Frame =
  | { readonly kind: 'message'; readonly msg: JsonValue; readonly raw: string }
  | { readonly kind: 'error'; readonly error: string; readonly raw: string }
  /** Bytes after the last message of a stream (white space the reader had no reason to read). */
  | { readonly kind: 'bytes'; readonly raw: string };

/** The longest stretch held without a message: QEMU's message limit plus room for white space. */
export const MAX_PENDING_BYTES = 64 * 1024 * 1024 + 64 * 1024;

const utf8 = new TextDecoder();

function isBlank(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0d;
}

export class FrameTap {
  private readonly reader: JsonStreamer;
  /** Bytes from `start` on (the frame in progress and anything after it). */
  private chunks: Uint8Array[] = [];
  private held = 0;
  /** Stream offset of the first held byte. */
  private start = 0;
  /** Stream offset after the last byte pushed. */
  private total = 0;
  /** Items read, with the stream offset where each ends, not yet framed. */
  private readonly items: { item: JsonStreamItem; end: number }[] = [];

  constructor(dialect: 'client' | 'server') {
    this.reader = new JsonStreamer({ mode: dialect === 'client' ? 'qemu-input' : 'strict' });
  }

  /** A copy of the bytes that went by; returns the frames they completed. */
  push(chunk: Uint8Array): Frame[] {
    if (chunk.length === 0) return [];
    this.chunks.push(chunk);
    this.held += chunk.length;
    this.total += chunk.length;
    this.reader.push(chunk);
    for (let item = this.reader.next(); item !== undefined; item = this.reader.next()) {
      this.items.push({ item, end: this.total - this.reader.pendingInputBytes });
    }
    const frames = this.frames();
    if (this.items.length === 0 && this.held > MAX_PENDING_BYTES) {
      // Nothing but white space or a message beyond QEMU's limit: record it as refused rather
      // than hold it without bound (the reader reports an oversized message by itself).
      frames.push({ kind: 'error', error: 'input too long to record', raw: this.take(this.held) });
      this.reader.reset();
    }
    return frames;
  }

  /** End of the stream: the frames still held, and what is left as an incomplete message. */
  end(): Frame[] {
    for (const item of this.reader.end()) this.items.push({ item, end: this.total });
    const frames = this.frames();
    if (this.held > 0) frames.push({ kind: 'bytes', raw: this.take(this.held) });
    return frames;
  }

  private frames(): Frame[] {
    const frames: Frame[] = [];
    while (this.items.length > 0) {
      const { item, end } = this.items[0]!;
      const frameEnd = this.extendOverBlanks(end);
      this.items.shift();
      const raw = this.take(frameEnd - this.start);
      frames.push(
        item.kind === 'value'
          ? { kind: 'message', msg: item.value, raw }
          : { kind: 'error', error: item.error.message, raw },
      );
    }
    return frames;
  }

  /**
   * Where the frame of a message ending at `end` ends: after the blanks that follow, through the
   * first LF — as far as those bytes have arrived. A message is recorded as soon as it is
   * complete (its place among the messages of the other direction matters more than where its
   * white space goes): blanks that arrive later open the next frame instead.
   */
  private extendOverBlanks(end: number): number {
    const next = this.items[1]?.end ?? Number.POSITIVE_INFINITY;
    let at = end;
    while (at < this.total && at < next) {
      const byte = this.byteAt(at);
      if (byte === 0x0a) return at + 1;
      if (!isBlank(byte)) return at;
      at++;
    }
    return at;
  }

  private byteAt(offset: number): number {
    let rest = offset - this.start;
    for (const chunk of this.chunks) {
      if (rest < chunk.length) return chunk[rest]!;
      rest -= chunk.length;
    }
    throw new RangeError('offset beyond the held bytes');
  }

  /** Removes the first `count` held bytes and returns them as text. */
  private take(count: number): string {
    const out = new Uint8Array(count);
    let filled = 0;
    while (filled < count) {
      const chunk = this.chunks[0]!;
      const part = Math.min(chunk.length, count - filled);
      out.set(chunk.subarray(0, part), filled);
      filled += part;
      if (part === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(part);
    }
    this.held -= count;
    this.start += count;
    return utf8.decode(out);
  }
}
