// A byte-level NBD session for differential tests: sends hand-made options and requests and
// records every reply as plain data, so the same script can be run against qemu-nbd and our
// server and the records compared.

import { connect, type Socket } from 'node:net';
import { HANG_GUARD_MS } from '@qmpkit/test-support';
import { type ByteReader, type ByteWriter, EndOfStreamError } from '../src/index.js';
import { socketStreams } from '../src/node/index.js';

const OPTS_MAGIC = 0x49484156454f5054n;

function be(bytes: number, value: number | bigint): Uint8Array {
  const out = new Uint8Array(bytes);
  let v = BigInt(value);
  for (let i = bytes - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

export function u16(v: number) {
  return be(2, v);
}
export function u32(v: number) {
  return be(4, v);
}
export function u64(v: number | bigint) {
  return be(8, v);
}
export function text(s: string) {
  return new TextEncoder().encode(s);
}
export function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
/** A length-prefixed string. */
export function lstr(s: string): Uint8Array {
  const t = text(s);
  return cat(u32(t.length), t);
}

function num(bytes: Uint8Array, at: number, n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) v = v * 256 + bytes[at + i]!;
  return v;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function printable(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('latin1');
}

export class RawSession {
  /** Set once extended headers are negotiated: requests and replies use the 32-byte headers. */
  extended = false;

  private constructor(
    private readonly reader: ByteReader,
    private readonly writer: ByteWriter,
    private readonly socket: Socket,
  ) {}

  static open(path: string): Promise<RawSession> {
    return new Promise((resolve, reject) => {
      const socket = connect({ path });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        const { reader, writer } = socketStreams(socket);
        resolve(new RawSession(reader, writer, socket));
      });
    });
  }

  async greeting(clientFlags: number): Promise<string> {
    const g = await this.reader.read(18);
    await this.send(u32(clientFlags));
    return hex(g);
  }

  send(bytes: Uint8Array): Promise<void> {
    return this.writer.write([bytes]);
  }

  option(option: number, data: Uint8Array = new Uint8Array(0)): Promise<void> {
    return this.send(cat(u64(OPTS_MAGIC), u32(option), u32(data.length), data));
  }

  /** Option replies up to an ACK or an error (or the end of the connection). */
  async optionReplies(): Promise<unknown[]> {
    const out: unknown[] = [];
    for (;;) {
      let header: Uint8Array;
      try {
        header = await this.reader.read(20);
      } catch (error) {
        if (error instanceof EndOfStreamError) {
          out.push('EOF');
          return out;
        }
        throw error;
      }
      const type = num(header, 12, 4);
      const data = await this.reader.read(num(header, 16, 4));
      const error = type >= 0x80000000;
      out.push({
        magic: hex(header.subarray(0, 8)),
        option: num(header, 8, 4),
        type,
        data: error || type === 4 ? printable(data) : hex(data),
      });
      if (type === 1 || error) return out;
    }
  }

  /** Reads raw bytes (e.g. the NBD_OPT_EXPORT_NAME reply); 'EOF' if the server hung up. */
  async bytes(n: number): Promise<string> {
    try {
      return hex(await this.reader.read(n));
    } catch (error) {
      if (error instanceof EndOfStreamError) return 'EOF';
      throw error;
    }
  }

  async request(
    type: number,
    flags: number,
    cookie: number,
    offset: number | bigint,
    length: number | bigint,
    payload?: Uint8Array,
  ): Promise<void> {
    const header = this.extended
      ? cat(u32(0x21e41c71), u16(flags), u16(type), u64(cookie), u64(offset), u64(length))
      : cat(u32(0x25609513), u16(flags), u16(type), u64(cookie), u64(offset), u32(Number(length)));
    await this.send(payload === undefined ? header : cat(header, payload));
  }

  /** One whole reply: a simple reply (with `readLength` bytes of data if it succeeded) or chunks up to DONE. */
  async reply(readLength = 0): Promise<unknown[]> {
    const out: unknown[] = [];
    for (;;) {
      let magic: number;
      try {
        magic = num(await this.reader.read(4), 0, 4);
      } catch (error) {
        if (error instanceof EndOfStreamError) {
          out.push('EOF');
          return out;
        }
        throw error;
      }
      if (magic === 0x67446698) {
        const rest = await this.reader.read(12);
        const errno = num(rest, 0, 4);
        const data = errno === 0 && readLength > 0 ? hex(await this.reader.read(readLength)) : '';
        out.push({ simple: true, errno, cookie: num(rest, 4, 8), data });
        return out;
      }
      if (magic !== (this.extended ? 0x6e8a278c : 0x668e33ef)) {
        throw new Error(`bad magic ${magic.toString(16)}`);
      }
      const rest = await this.reader.read(this.extended ? 28 : 16);
      const flags = num(rest, 0, 2);
      const type = num(rest, 2, 2);
      const data = await this.reader.read(this.extended ? num(rest, 20, 8) : num(rest, 12, 4));
      const chunk: Record<string, unknown> = { flags, type, cookie: num(rest, 4, 8) };
      if (this.extended) chunk.headerOffset = num(rest, 12, 8);
      if (type >= 0x8000) {
        chunk.errno = num(data, 0, 4);
        chunk.message = printable(data.subarray(6, 6 + num(data, 4, 2)));
      } else if (type === 1) {
        chunk.offset = num(data, 0, 8);
        chunk.length = data.length - 8;
        chunk.data = hex(data.subarray(8, 40));
      } else if (type === 2) {
        chunk.offset = num(data, 0, 8);
        chunk.length = num(data, 8, 4);
      } else if (type === 5) {
        chunk.context = num(data, 0, 4);
        const extents: number[][] = [];
        for (let at = 4; at + 8 <= data.length; at += 8)
          extents.push([num(data, at, 4), num(data, at + 4, 4)]);
        chunk.extents = extents;
      } else if (type === 6) {
        chunk.context = num(data, 0, 4);
        chunk.count = num(data, 4, 4);
        const extents: number[][] = [];
        for (let at = 8; at + 16 <= data.length; at += 16) {
          extents.push([num(data, at, 8), num(data, at + 8, 8)]);
        }
        chunk.extents = extents;
      }
      out.push(chunk);
      if ((flags & 1) !== 0) return out;
    }
  }

  /** Whether the server closed the connection (waits for it). */
  async closedByServer(): Promise<boolean> {
    try {
      await this.reader.read(1);
      return false;
    } catch {
      return true;
    }
  }

  /** Half-closes: we send nothing more, but keep reading. */
  endInput(): void {
    this.socket.end();
  }

  /** Reads and discards until the server closes the connection; false if it never does in time. */
  async drainUntilClosed(deadlineMs = HANG_GUARD_MS): Promise<boolean> {
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      if (Date.now() > deadline) return false;
      try {
        await this.reader.read(1);
      } catch {
        return true;
      }
    }
  }

  close(): void {
    this.writer.close();
  }
}
