/**
 * The server side of the transmission phase: requests read one after another, served
 * concurrently up to a bound, replies in QEMU's shapes (simple, or structured chunks once
 * negotiated), with QEMU's validation order, errors and messages.
 */
import { strerror } from '@qmpkit/protocol';
import { type BlockExtent, type MetaContext, NbdError } from './backend.js';
import type { ByteReader, ByteWriter } from './byte-stream.js';
import {
  commandName,
  NBD_CMD_BLOCK_STATUS,
  NBD_CMD_CACHE,
  NBD_CMD_DISC,
  NBD_CMD_FLAG_DF,
  NBD_CMD_FLAG_FAST_ZERO,
  NBD_CMD_FLAG_FUA,
  NBD_CMD_FLAG_NO_HOLE,
  NBD_CMD_FLAG_PAYLOAD_LEN,
  NBD_CMD_FLAG_REQ_ONE,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
  NBD_ERRNO,
  NBD_EXTENDED_REPLY_MAGIC,
  NBD_EXTENDED_REQUEST_MAGIC,
  NBD_FLAG_READ_ONLY,
  NBD_MAX_BLOCK_STATUS_EXTENTS,
  NBD_MAX_BUFFER_SIZE,
  NBD_REPLY_FLAG_DONE,
  NBD_REPLY_TYPE_BLOCK_STATUS,
  NBD_REPLY_TYPE_BLOCK_STATUS_EXT,
  NBD_REPLY_TYPE_ERROR,
  NBD_REPLY_TYPE_NONE,
  NBD_REPLY_TYPE_OFFSET_DATA,
  NBD_REPLY_TYPE_OFFSET_HOLE,
  NBD_REQUEST_MAGIC,
  NBD_SIMPLE_REPLY_MAGIC,
  NBD_STATE_ZERO,
  NBD_STRUCTURED_REPLY_MAGIC,
  type NbdErrno,
} from './constants.js';
import type { ServedExport } from './export-table.js';
import type { NbdProfile } from './profile.js';
import {
  META_ID_ALLOCATION_DEPTH,
  META_ID_BASE_ALLOCATION,
  META_ID_DIRTY_BITMAP,
  type MetaSelection,
} from './server-handshake.js';
import { MessageBuilder, readU16, readU32, readU64 } from './wire.js';

/** Limits on one client's transmission phase. */
export interface TransmissionLimits {
  /** Requests served at once (QEMU: 16). */
  readonly maxRequests: number;
  /** Request data (read and write payloads) held at once; one request may always run. */
  readonly maxInFlightBytes: number;
}

interface Received {
  readonly request: Request;
  readonly problem: string | undefined;
  /** False when a payload was left unread. */
  readonly complete: boolean;
}

interface Request {
  readonly flags: number;
  readonly type: number;
  readonly cookie: bigint;
  /** The offset as sent (echoed in extended reply headers). */
  readonly from: bigint;
  readonly offset: number;
  readonly length: number;
  readonly data: Uint8Array | undefined;
  /** The meta contexts this block status asks for (a payload may pick a subset). */
  readonly contexts: Contexts | undefined;
}

/** Selected meta contexts; `count` 0 means none. */
interface Contexts {
  readonly baseAllocation: boolean;
  readonly allocationDepth: boolean;
  readonly bitmaps: readonly number[];
  readonly count: number;
}

const NO_CONTEXTS: Contexts = {
  baseAllocation: false,
  allocationDepth: false,
  bitmaps: [],
  count: 0,
};

function errnoOf(error: unknown): NbdErrno {
  return NbdError.isInstance(error) ? error.errno : 'EIO';
}

/** Ends the session: QEMU drops the client here (the reason is for the log). */
export class Disconnect extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Disconnect';
  }
}

export class TransmissionSession {
  #inFlight = 0;
  #inFlightBytes = 0;
  #wake: (() => void) | undefined;
  #failure: Error | undefined;
  readonly #served: ServedExport;

  constructor(
    private readonly reader: ByteReader,
    private readonly writer: ByteWriter,
    served: ServedExport,
    private readonly structured: boolean,
    private readonly extended: boolean,
    private readonly meta: MetaSelection | undefined,
    private readonly limits: TransmissionLimits,
    private readonly profile: NbdProfile,
  ) {
    this.#served = served;
  }

  /** Serves requests until the client disconnects; rejects with the reason QEMU would log. */
  async run(): Promise<void> {
    try {
      for (;;) {
        await this.#waitFor(() => this.#inFlight < this.limits.maxRequests);
        const header = await this.reader.read(this.extended ? 32 : 28);
        const magic = readU32(header, 0);
        const expected = this.extended ? NBD_EXTENDED_REQUEST_MAGIC : NBD_REQUEST_MAGIC;
        if (magic !== expected) {
          // QEMU still answers it (with the cookie it carries), then hangs up.
          const bogus = this.#request(
            0,
            0,
            readU64(header, 8),
            readU64(header, 16),
            0n,
            undefined,
            undefined,
          );
          await this.#generic(bogus, 'EINVAL', this.profile.badMagic(magic, expected));
          throw new Disconnect(this.profile.badMagic(magic, expected));
        }
        const flags = readU16(header, 4);
        const type = readU16(header, 6);
        const cookie = readU64(header, 8);
        const from = readU64(header, 16);
        const length = this.extended ? readU64(header, 24) : BigInt(readU32(header, 24));
        if (type === NBD_CMD_DISC) return;
        const bytes =
          type === NBD_CMD_READ || type === NBD_CMD_WRITE
            ? Number(length > BigInt(NBD_MAX_BUFFER_SIZE) ? 0n : length)
            : 0;
        await this.#waitFor(
          () => this.#inFlight === 0 || this.#inFlightBytes + bytes <= this.limits.maxInFlightBytes,
        );
        this.#inFlight++;
        this.#inFlightBytes += bytes;
        let received: Received;
        try {
          received = await this.#receive(flags, type, cookie, from, length);
        } catch (error) {
          this.#release(bytes);
          throw error;
        }
        if (!received.complete) {
          // The payload was not read, so the stream is out of step: reply, then hang up.
          await this.#generic(received.request, 'EINVAL', received.problem!).finally(() =>
            this.#release(bytes),
          );
          throw new Disconnect('Request handling failed in intermediate state');
        }
        void this.#respond(received).then(
          () => this.#release(bytes),
          (error: unknown) => {
            this.#failure ??= error instanceof Error ? error : new Error(String(error));
            this.#release(bytes);
          },
        );
      }
    } finally {
      // Let what was accepted finish before the connection closes.
      await this.#waitFor(() => this.#inFlight === 0, true);
    }
  }

  #release(bytes: number): void {
    this.#inFlight--;
    this.#inFlightBytes -= bytes;
    this.#wake?.();
  }

  async #waitFor(condition: () => boolean, ignoreFailure = false): Promise<void> {
    for (;;) {
      if (this.#failure !== undefined && !ignoreFailure) throw this.#failure;
      if (condition()) return;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }

  /** Reads the rest of one request (its payload) and validates it as QEMU does. */
  async #receive(
    flags: number,
    type: number,
    cookie: bigint,
    from: bigint,
    length: bigint,
  ): Promise<Received> {
    // Payloads are read before validation, as QEMU does, so the stream stays in step; a
    // payload too large to read leaves it out of step.
    const withPayload = this.extended && (flags & NBD_CMD_FLAG_PAYLOAD_LEN) !== 0;
    let payloadLength = withPayload ? length : 0n;
    let payloadOkay = false;
    let validFlags = NBD_CMD_FLAG_FUA;
    let checkLength = withPayload;
    let checkReadOnly = false;
    let contexts: Contexts | undefined;
    let problem: string | undefined;
    switch (type) {
      case NBD_CMD_READ:
        if (this.structured) validFlags |= NBD_CMD_FLAG_DF;
        checkLength = true;
        break;
      case NBD_CMD_WRITE:
        if (this.extended) validFlags |= NBD_CMD_FLAG_PAYLOAD_LEN;
        payloadOkay = true;
        payloadLength = length;
        checkLength = true;
        checkReadOnly = true;
        break;
      case NBD_CMD_TRIM:
        checkReadOnly = true;
        break;
      case NBD_CMD_CACHE:
        checkLength = true;
        break;
      case NBD_CMD_WRITE_ZEROES:
        validFlags |= NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO;
        checkReadOnly = true;
        break;
      case NBD_CMD_BLOCK_STATUS:
        if (withPayload) {
          const chosen = await this.#blockStatusPayload(length);
          if (chosen.problem !== undefined) {
            // Too long to read: out of step.
            return {
              request: this.#request(flags, type, cookie, from, length, undefined, undefined),
              problem: chosen.problem,
              complete: false,
            };
          }
          contexts = chosen.contexts;
          length = chosen.length;
          checkLength = false;
          payloadLength = 0n;
          validFlags |= NBD_CMD_FLAG_PAYLOAD_LEN;
        } else {
          contexts = this.meta ?? NO_CONTEXTS;
        }
        validFlags |= NBD_CMD_FLAG_REQ_ONE;
        break;
    }
    let complete = payloadLength === 0n;
    if (checkLength && length > BigInt(NBD_MAX_BUFFER_SIZE)) {
      problem = this.profile.tooLong(length, NBD_MAX_BUFFER_SIZE);
      return {
        request: this.#request(flags, type, cookie, from, length, undefined, contexts),
        problem,
        complete,
      };
    }
    // Payloads on other commands are skipped; the command then fails for its flag.
    if (payloadLength > 0n && !payloadOkay) length = 0n;
    let data: Uint8Array | undefined;
    if (payloadLength > 0n) {
      if (payloadOkay) data = await this.reader.read(Number(payloadLength));
      else await this.reader.skip(Number(payloadLength));
      complete = true;
    }
    const request = this.#request(flags, type, cookie, from, length, data, contexts);
    const size = BigInt(this.#served.size);
    if ((this.#served.flags & NBD_FLAG_READ_ONLY) !== 0 && checkReadOnly) {
      problem = 'Export is read-only';
    } else if (from > size || length > size - from) {
      problem = `operation past EOF; From: ${from}, Len: ${length}, Size: ${size}`;
    } else if ((flags & ~validFlags) !== 0) {
      problem = `unsupported flags for command ${commandName(type)} (got 0x${flags.toString(16)})`;
    }
    return { request, problem, complete };
  }

  #request(
    flags: number,
    type: number,
    cookie: bigint,
    from: bigint,
    length: bigint,
    data: Uint8Array | undefined,
    contexts: Contexts | undefined,
  ): Request {
    // Past validation both fit in a double exactly (they lie within the export).
    return {
      flags,
      type,
      cookie,
      from,
      offset: Number(from),
      length: Number(length),
      data,
      contexts,
    };
  }

  /**
   * A block status payload (extended headers): the effect length and the ids of a subset of
   * the negotiated contexts. Anything malformed selects nothing, and the command then fails.
   */
  async #blockStatusPayload(
    payloadLength: bigint,
  ): Promise<{ problem?: string; contexts?: Contexts; length: bigint }> {
    if (payloadLength > BigInt(NBD_MAX_BUFFER_SIZE)) {
      return {
        problem: this.profile.tooLong(payloadLength, NBD_MAX_BUFFER_SIZE),
        length: payloadLength,
      };
    }
    const n = Number(payloadLength);
    const negotiated = this.meta ?? NO_CONTEXTS;
    if (n % 4 !== 0 || n < 8 || n > 8 + 4 * negotiated.count) {
      await this.reader.skip(n);
      return { contexts: NO_CONTEXTS, length: 0n };
    }
    const payload = await this.reader.read(n);
    let base = false;
    let depth = false;
    const bitmaps = new Set<number>();
    for (let at = 8; at < n; at += 4) {
      const id = readU32(payload, at);
      if (id === META_ID_BASE_ALLOCATION) {
        if (!negotiated.baseAllocation || base) return { contexts: NO_CONTEXTS, length: 0n };
        base = true;
      } else if (id === META_ID_ALLOCATION_DEPTH) {
        if (!negotiated.allocationDepth || depth) return { contexts: NO_CONTEXTS, length: 0n };
        depth = true;
      } else {
        const index = id - META_ID_DIRTY_BITMAP;
        if (!negotiated.bitmaps.includes(index) || bitmaps.has(index)) {
          return { contexts: NO_CONTEXTS, length: 0n };
        }
        bitmaps.add(index);
      }
    }
    return {
      contexts: {
        baseAllocation: base,
        allocationDepth: depth,
        bitmaps: [...bitmaps].sort((x, y) => x - y),
        count: (n - 8) / 4,
      },
      length: readU64(payload, 0),
    };
  }

  async #respond(received: Received): Promise<void> {
    // QEMU answers every validation failure with EINVAL.
    if (received.problem !== undefined) {
      return this.#generic(received.request, 'EINVAL', received.problem);
    }
    return this.#handle(received.request);
  }

  async #handle(req: Request): Promise<void> {
    const backend = this.#served.backend;
    const fua = (req.flags & NBD_CMD_FLAG_FUA) !== 0;
    switch (req.type) {
      case NBD_CMD_READ:
        return this.#read(req, fua);
      case NBD_CMD_WRITE:
        return this.#attempt(req, 'writing to file failed', () =>
          backend.write(req.offset, req.data!, { fua }),
        );
      case NBD_CMD_WRITE_ZEROES:
        return this.#attempt(req, 'writing to file failed', () =>
          backend.writeZeroes(req.offset, req.length, {
            fua,
            mayTrim: (req.flags & NBD_CMD_FLAG_NO_HOLE) === 0,
            fastOnly: (req.flags & NBD_CMD_FLAG_FAST_ZERO) !== 0,
          }),
        );
      case NBD_CMD_FLUSH:
        return this.#attempt(req, 'flush failed', () => backend.flush());
      case NBD_CMD_TRIM:
        return this.#attempt(req, 'discard failed', async () => {
          await backend.trim(req.offset, req.length);
          if (fua) await backend.flush();
        });
      case NBD_CMD_CACHE:
        // Nothing to prefetch in a backend that answers from memory.
        return this.#generic(req, undefined, '');
      case NBD_CMD_BLOCK_STATUS:
        return this.#blockStatus(req);
      default:
        return this.#generic(req, 'EINVAL', `invalid request type (${req.type}) received`);
    }
  }

  async #attempt(req: Request, message: string, action: () => unknown): Promise<void> {
    let errno: NbdErrno | undefined;
    try {
      await action();
    } catch (error) {
      errno = errnoOf(error);
    }
    await this.#generic(req, errno, message);
  }

  /** A reply without data: simple, or a structured error chunk (QEMU's generic reply). */
  #generic(req: Request, errno: NbdErrno | undefined, message: string): Promise<void> {
    if (this.structured && errno !== undefined) {
      return this.#send(this.#errorChunk(req, errno, message));
    }
    // Extended headers have no simple replies: success is an empty final chunk.
    if (this.extended) {
      return this.#send(this.#chunk(req, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, []));
    }
    return this.#send(this.#simple(req, errno));
  }

  #simple(req: Request, errno: NbdErrno | undefined, data?: Uint8Array): Uint8Array[] {
    const reply = new MessageBuilder()
      .u32(NBD_SIMPLE_REPLY_MAGIC)
      .u32(errno === undefined ? 0 : NBD_ERRNO[errno])
      .u64(req.cookie);
    if (data !== undefined) reply.bytes(data);
    return reply.chunks();
  }

  #chunk(req: Request, flags: number, type: number, payload: readonly Uint8Array[]): Uint8Array[] {
    let length = 0;
    for (const p of payload) length += p.length;
    const chunk = this.extended
      ? new MessageBuilder()
          .u32(NBD_EXTENDED_REPLY_MAGIC)
          .u16(flags)
          .u16(type)
          .u64(req.cookie)
          .u64(req.from)
          .u64(length)
      : new MessageBuilder()
          .u32(NBD_STRUCTURED_REPLY_MAGIC)
          .u16(flags)
          .u16(type)
          .u64(req.cookie)
          .u32(length);
    for (const p of payload) chunk.bytes(p);
    return chunk.chunks();
  }

  #errorChunk(req: Request, errno: NbdErrno, message: string): Uint8Array[] {
    const body = new MessageBuilder().u32(NBD_ERRNO[errno]);
    const text = new MessageBuilder().string(message).chunks();
    const textLength = text[0]?.length ?? 0;
    body.u16(textLength);
    for (const t of text) body.bytes(t);
    return this.#chunk(req, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, body.chunks());
  }

  #send(chunks: readonly Uint8Array[]): Promise<void> {
    return this.writer.write(chunks);
  }

  async #read(req: Request, fua: boolean): Promise<void> {
    const backend = this.#served.backend;
    if (fua) {
      try {
        await backend.flush();
      } catch (error) {
        return this.#generic(req, errnoOf(error), 'flush failed');
      }
    }
    if (this.structured && (req.flags & NBD_CMD_FLAG_DF) === 0 && req.length > 0) {
      return this.#sparseRead(req);
    }
    let data: Uint8Array;
    try {
      data = await backend.read(req.offset, req.length);
    } catch (error) {
      return this.#generic(req, errnoOf(error), 'reading from file failed');
    }
    if (!this.structured) return this.#send(this.#simple(req, undefined, data));
    if (req.length === 0)
      return this.#send(this.#chunk(req, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, []));
    return this.#send(this.#dataChunk(req, req.offset, data, true));
  }

  #dataChunk(req: Request, offset: number, data: Uint8Array, final: boolean): Uint8Array[] {
    return this.#chunk(req, final ? NBD_REPLY_FLAG_DONE : 0, NBD_REPLY_TYPE_OFFSET_DATA, [
      ...new MessageBuilder().u64(offset).chunks(),
      data,
    ]);
  }

  /** Holes as OFFSET_HOLE chunks, data as OFFSET_DATA chunks (QEMU's sparse read). */
  async #sparseRead(req: Request): Promise<void> {
    const backend = this.#served.backend;
    const end = req.offset + req.length;
    let offset = req.offset;
    const chunks: Uint8Array[] = [];
    while (offset < end) {
      let extents: readonly BlockExtent[];
      try {
        extents = await backend.blockStatus({ kind: 'base:allocation' }, offset, end - offset);
        checkExtents(extents);
      } catch (error) {
        const errno = errnoOf(error);
        chunks.push(
          ...this.#errorChunk(req, errno, `unable to check for holes: ${strerror(errno)}`),
        );
        return this.#send(chunks);
      }
      for (const extent of extents) {
        if (offset >= end) break;
        const length = Math.min(extent.length, end - offset);
        const final = offset + length === end;
        if ((extent.flags & NBD_STATE_ZERO) !== 0) {
          chunks.push(
            ...this.#chunk(req, final ? NBD_REPLY_FLAG_DONE : 0, NBD_REPLY_TYPE_OFFSET_HOLE, [
              ...new MessageBuilder().u64(offset).u32(length).chunks(),
            ]),
          );
        } else {
          let data: Uint8Array;
          try {
            data = await backend.read(offset, length);
          } catch (error) {
            // QEMU gives up on the whole connection here rather than replying.
            throw new Disconnect(`reading from file failed: ${strerror(errnoOf(error))}`);
          }
          chunks.push(...this.#dataChunk(req, offset, data, final));
        }
        offset += length;
      }
    }
    return this.#send(chunks);
  }

  async #blockStatus(req: Request): Promise<void> {
    const meta = req.contexts ?? NO_CONTEXTS;
    if (this.profile.blockStatusLengthFirst && req.length === 0) {
      return this.#generic(req, 'EINVAL', 'need non-zero length');
    }
    if (meta.count === 0) {
      // A payload that chose nothing (or chose badly) is told apart from no contexts at all.
      const negotiated = (this.meta?.count ?? 0) > 0;
      return this.#generic(
        req,
        'EINVAL',
        negotiated && this.extended
          ? 'CMD_BLOCK_STATUS payload not valid'
          : 'CMD_BLOCK_STATUS not negotiated',
      );
    }
    if (req.length === 0) return this.#generic(req, 'EINVAL', 'need non-zero length');
    const contexts: Array<[MetaContext, number]> = [];
    if (meta.baseAllocation) contexts.push([{ kind: 'base:allocation' }, META_ID_BASE_ALLOCATION]);
    if (meta.allocationDepth) {
      contexts.push([{ kind: 'qemu:allocation-depth' }, META_ID_ALLOCATION_DEPTH]);
    }
    for (const i of meta.bitmaps) {
      contexts.push([
        { kind: 'qemu:dirty-bitmap', bitmap: this.#served.bitmaps[i]! },
        META_ID_DIRTY_BITMAP + i,
      ]);
    }
    const maxExtents = (req.flags & NBD_CMD_FLAG_REQ_ONE) !== 0 ? 1 : NBD_MAX_BLOCK_STATUS_EXTENTS;
    const chunks: Uint8Array[] = [];
    for (let c = 0; c < contexts.length; c++) {
      const [context, id] = contexts[c]!;
      const last = c === contexts.length - 1;
      let extents: Array<{ length: number; flags: number }>;
      try {
        extents = await this.#collectExtents(context, req.offset, req.length, maxExtents);
      } catch (error) {
        chunks.push(...this.#errorChunk(req, errnoOf(error), "can't get block status"));
        return this.#send(chunks);
      }
      const body = new MessageBuilder().u32(id);
      if (this.extended) {
        body.u32(extents.length);
        for (const e of extents) body.u64(e.length).u64(e.flags);
      } else {
        for (const e of extents) body.u32(e.length).u32(e.flags);
      }
      const type = this.extended ? NBD_REPLY_TYPE_BLOCK_STATUS_EXT : NBD_REPLY_TYPE_BLOCK_STATUS;
      chunks.push(...this.#chunk(req, last ? NBD_REPLY_FLAG_DONE : 0, type, body.chunks()));
    }
    return this.#send(chunks);
  }

  /** Asks the backend until the range is described or the extent array is full, merging runs. */
  async #collectExtents(context: MetaContext, offset: number, length: number, maxExtents: number) {
    const out: Array<{ length: number; flags: number }> = [];
    const end = offset + length;
    let at = offset;
    outer: while (at < end) {
      const extents = await this.#served.backend.blockStatus(context, at, end - at);
      checkExtents(extents);
      for (const extent of extents) {
        if (at >= end) break;
        const n = Math.min(extent.length, end - at);
        const previous = out[out.length - 1];
        if (
          previous !== undefined &&
          previous.flags === extent.flags &&
          (this.extended || previous.length + n <= 0xffffffff)
        ) {
          previous.length += n;
        } else if (out.length < maxExtents) {
          out.push({ length: n, flags: extent.flags >>> 0 });
        } else {
          break outer;
        }
        at += n;
      }
    }
    return out;
  }
}

/** A backend that answers no extent, or an empty one, would make the server loop forever. */
function checkExtents(extents: readonly BlockExtent[]): void {
  if (extents.length === 0) throw new NbdError('EIO', 'the backend described no extent');
  for (const e of extents) {
    if (!Number.isSafeInteger(e.length) || e.length <= 0) {
      throw new NbdError('EIO', 'the backend described an empty extent');
    }
  }
}
