/**
 * A small NBD client without sockets: the fixed newstyle handshake (structured replies, meta
 * contexts, NBD_OPT_GO / INFO / LIST) and the transmission commands, several in flight at once.
 * `@qmpkit/nbd/node` connects it to unix and TCP sockets.
 */
import { type BlockExtent, NbdError } from './backend.js';
import { type ByteReader, type ByteWriter, EndOfStreamError } from './byte-stream.js';
import {
  isErrorChunk,
  isOptionReplyError,
  NBD_CMD_BLOCK_STATUS,
  NBD_CMD_CACHE,
  NBD_CMD_DISC,
  NBD_CMD_FLAG_DF,
  NBD_CMD_FLAG_FAST_ZERO,
  NBD_CMD_FLAG_FUA,
  NBD_CMD_FLAG_NO_HOLE,
  NBD_CMD_FLAG_REQ_ONE,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_NO_ZEROES,
  NBD_FLAG_READ_ONLY,
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_DESCRIPTION,
  NBD_INFO_EXPORT,
  NBD_INFO_NAME,
  NBD_INIT_MAGIC,
  NBD_MAX_BUFFER_SIZE,
  NBD_MAX_REQUESTS,
  NBD_MAX_STRING_SIZE,
  NBD_OPT_ABORT,
  NBD_OPT_GO,
  NBD_OPT_INFO,
  NBD_OPT_LIST,
  NBD_OPT_LIST_META_CONTEXT,
  NBD_OPT_SET_META_CONTEXT,
  NBD_OPT_STRUCTURED_REPLY,
  NBD_OPTS_MAGIC,
  NBD_REP_ACK,
  NBD_REP_INFO,
  NBD_REP_MAGIC,
  NBD_REP_META_CONTEXT,
  NBD_REP_SERVER,
  NBD_REPLY_FLAG_DONE,
  NBD_REPLY_TYPE_BLOCK_STATUS,
  NBD_REPLY_TYPE_NONE,
  NBD_REPLY_TYPE_OFFSET_DATA,
  NBD_REPLY_TYPE_OFFSET_HOLE,
  NBD_REQUEST_MAGIC,
  NBD_SIMPLE_REPLY_MAGIC,
  NBD_STRUCTURED_REPLY_MAGIC,
  nbdErrnoName,
  optionName,
} from './constants.js';
import { decodeLossy, MessageBuilder, readU16, readU32, readU64, utf8 } from './wire.js';

/** The server refused an option (an NBD_REP_ERR_* reply). */
export class NbdOptionError extends Error {
  readonly option: number;
  readonly replyType: number;
  constructor(option: number, replyType: number, message: string) {
    super(`NBD option '${optionName(option)}' failed (0x${replyType.toString(16)}): ${message}`);
    this.name = 'NbdOptionError';
    this.option = option;
    this.replyType = replyType;
  }
}

/** The server broke the protocol. */
export class NbdProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NbdProtocolError';
  }
}

export interface NbdHandshakeOptions {
  /** Default: the empty name. */
  readonly exportName?: string;
  /** Negotiate structured replies (default true). */
  readonly structuredReplies?: boolean;
  /** Meta contexts to select with NBD_OPT_SET_META_CONTEXT (needs structured replies). */
  readonly metaContexts?: readonly string[];
}

/** What the server said about an export. */
export interface NbdExportInfo {
  readonly name: string;
  readonly description: string | undefined;
  readonly size: number;
  readonly flags: number;
  readonly readOnly: boolean;
  readonly minimumBlockSize: number | undefined;
  readonly preferredBlockSize: number | undefined;
  readonly maximumBlockSize: number | undefined;
}

/** An export as NBD_OPT_LIST reports it. */
export interface NbdListedExport {
  readonly name: string;
  readonly description: string;
}

async function expectGreeting(reader: ByteReader, writer: ByteWriter): Promise<void> {
  const greeting = await reader.read(18);
  if (readU64(greeting, 0) !== NBD_INIT_MAGIC || readU64(greeting, 8) !== NBD_OPTS_MAGIC) {
    throw new NbdProtocolError('not a newstyle NBD server');
  }
  const flags = readU16(greeting, 16);
  if ((flags & NBD_FLAG_FIXED_NEWSTYLE) === 0) {
    throw new NbdProtocolError('the server does not speak fixed newstyle');
  }
  const clientFlags =
    NBD_FLAG_C_FIXED_NEWSTYLE | (flags & NBD_FLAG_NO_ZEROES ? NBD_FLAG_C_NO_ZEROES : 0);
  await writer.write(new MessageBuilder().u32(clientFlags).chunks());
}

interface OptionReply {
  readonly type: number;
  readonly data: Uint8Array;
}

/** Sends options and reads their replies during the handshake. */
class OptionChannel {
  constructor(
    private readonly reader: ByteReader,
    private readonly writer: ByteWriter,
  ) {}

  async send(option: number, data: readonly Uint8Array[] = []): Promise<void> {
    let length = 0;
    for (const d of data) length += d.length;
    const message = new MessageBuilder().u64(NBD_OPTS_MAGIC).u32(option).u32(length);
    for (const d of data) message.bytes(d);
    await this.writer.write(message.chunks());
  }

  async reply(option: number): Promise<OptionReply> {
    const header = await this.reader.read(20);
    if (readU64(header, 0) !== NBD_REP_MAGIC) throw new NbdProtocolError('bad option reply magic');
    if (readU32(header, 8) !== option)
      throw new NbdProtocolError('option reply for another option');
    const type = readU32(header, 12);
    const length = readU32(header, 16);
    if (length > NBD_MAX_STRING_SIZE * 2 + 64) {
      throw new NbdProtocolError(`option reply of ${length} bytes is too long`);
    }
    const data = new Uint8Array(await this.reader.read(length));
    if (isOptionReplyError(type)) throw new NbdOptionError(option, type, decodeLossy(data));
    return { type, data };
  }

  /** Replies up to the final ACK (errors throw). */
  async replies(option: number): Promise<OptionReply[]> {
    const out: OptionReply[] = [];
    for (;;) {
      const reply = await this.reply(option);
      if (reply.type === NBD_REP_ACK) return out;
      out.push(reply);
    }
  }
}

function nameField(name: string): Uint8Array[] {
  const bytes = utf8(name);
  return new MessageBuilder().u32(bytes.length).bytes(bytes).chunks();
}

function queriesField(exportName: string, queries: readonly string[]): Uint8Array[] {
  const message = new MessageBuilder().bytes(concat(nameField(exportName))).u32(queries.length);
  for (const q of queries) message.bytes(concat(nameField(q)));
  return message.chunks();
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function parseInfo(name: string, replies: readonly OptionReply[]): NbdExportInfo {
  let size: number | undefined;
  let flags = 0;
  let description: string | undefined;
  let sizes: [number, number, number] | undefined;
  for (const { type, data } of replies) {
    if (type !== NBD_REP_INFO || data.length < 2) continue;
    const info = readU16(data, 0);
    if (info === NBD_INFO_EXPORT && data.length >= 12) {
      size = Number(readU64(data, 2));
      flags = readU16(data, 10);
    } else if (info === NBD_INFO_DESCRIPTION) {
      description = decodeLossy(data.subarray(2));
    } else if (info === NBD_INFO_BLOCK_SIZE && data.length >= 14) {
      sizes = [readU32(data, 2), readU32(data, 6), readU32(data, 10)];
    } else if (info === NBD_INFO_NAME) {
      // The canonical name; we keep the one asked for.
    }
  }
  if (size === undefined) throw new NbdProtocolError('the server sent no NBD_INFO_EXPORT');
  return {
    name,
    description,
    size,
    flags,
    readOnly: (flags & NBD_FLAG_READ_ONLY) !== 0,
    minimumBlockSize: sizes?.[0],
    preferredBlockSize: sizes?.[1],
    maximumBlockSize: sizes?.[2],
  };
}

function infoRequest(name: string): Uint8Array[] {
  return [
    ...nameField(name),
    ...new MessageBuilder().u16(2).u16(NBD_INFO_NAME).u16(NBD_INFO_BLOCK_SIZE).chunks(),
  ];
}

/** Lists a server's exports (NBD_OPT_LIST), then ends the handshake with NBD_OPT_ABORT. */
export async function listExports(
  reader: ByteReader,
  writer: ByteWriter,
): Promise<NbdListedExport[]> {
  await expectGreeting(reader, writer);
  const channel = new OptionChannel(reader, writer);
  await channel.send(NBD_OPT_LIST);
  const out: NbdListedExport[] = [];
  for (const { type, data } of await channel.replies(NBD_OPT_LIST)) {
    if (type !== NBD_REP_SERVER || data.length < 4) continue;
    const length = readU32(data, 0);
    out.push({
      name: decodeLossy(data.subarray(4, 4 + length)),
      description: decodeLossy(data.subarray(4 + length)),
    });
  }
  await abort(channel);
  return out;
}

/** Asks for an export's details (NBD_OPT_INFO) and the meta contexts it offers, then aborts. */
export async function queryExport(
  reader: ByteReader,
  writer: ByteWriter,
  exportName: string,
): Promise<{ info: NbdExportInfo; metaContexts: string[] }> {
  await expectGreeting(reader, writer);
  const channel = new OptionChannel(reader, writer);
  await channel.send(NBD_OPT_STRUCTURED_REPLY);
  await channel.replies(NBD_OPT_STRUCTURED_REPLY);
  await channel.send(NBD_OPT_INFO, infoRequest(exportName));
  const info = parseInfo(exportName, await channel.replies(NBD_OPT_INFO));
  await channel.send(NBD_OPT_LIST_META_CONTEXT, queriesField(exportName, []));
  const metaContexts = (await channel.replies(NBD_OPT_LIST_META_CONTEXT))
    .filter((r) => r.type === NBD_REP_META_CONTEXT)
    .map((r) => decodeLossy(r.data.subarray(4)));
  await abort(channel);
  return { info, metaContexts };
}

async function abort(channel: OptionChannel): Promise<void> {
  await channel.send(NBD_OPT_ABORT);
  // The server may hang up before its ACK; either is fine.
  await channel.reply(NBD_OPT_ABORT).catch(() => undefined);
}

interface Pending {
  readonly type: number;
  readonly offset: number;
  readonly length: number;
  readonly buffer: Uint8Array | undefined;
  readonly extents: Map<string, BlockExtent[]>;
  error: NbdError | undefined;
  resolve(): void;
  reject(error: Error): void;
}

export interface NbdWriteFlags {
  readonly fua?: boolean;
}

/** A client in the transmission phase. */
export class NbdClientSession {
  readonly info: NbdExportInfo;
  readonly structuredReplies: boolean;
  /** Selected meta contexts by the id the server gave them. */
  readonly metaContexts: ReadonlyMap<number, string>;
  readonly #reader: ByteReader;
  readonly #writer: ByteWriter;
  readonly #pending = new Map<bigint, Pending>();
  #nextCookie = 1n;
  #failure: Error | undefined;
  #slotWaiters: Array<() => void> = [];
  #idleWaiters: Array<() => void> = [];
  #closed = false;

  private constructor(
    reader: ByteReader,
    writer: ByteWriter,
    info: NbdExportInfo,
    structured: boolean,
    metaContexts: Map<number, string>,
  ) {
    this.#reader = reader;
    this.#writer = writer;
    this.info = info;
    this.structuredReplies = structured;
    this.metaContexts = metaContexts;
    void this.#receiveLoop();
  }

  /** Performs the handshake and enters the transmission phase with NBD_OPT_GO. */
  static async handshake(
    reader: ByteReader,
    writer: ByteWriter,
    options: NbdHandshakeOptions = {},
  ): Promise<NbdClientSession> {
    const exportName = options.exportName ?? '';
    const structured = options.structuredReplies ?? true;
    const wanted = options.metaContexts ?? [];
    if (wanted.length > 0 && !structured) {
      throw new TypeError('meta contexts need structured replies');
    }
    await expectGreeting(reader, writer);
    const channel = new OptionChannel(reader, writer);
    if (structured) {
      await channel.send(NBD_OPT_STRUCTURED_REPLY);
      await channel.replies(NBD_OPT_STRUCTURED_REPLY);
    }
    const contexts = new Map<number, string>();
    if (wanted.length > 0) {
      await channel.send(NBD_OPT_SET_META_CONTEXT, queriesField(exportName, wanted));
      for (const { type, data } of await channel.replies(NBD_OPT_SET_META_CONTEXT)) {
        if (type === NBD_REP_META_CONTEXT && data.length >= 4) {
          contexts.set(readU32(data, 0), decodeLossy(data.subarray(4)));
        }
      }
    }
    await channel.send(NBD_OPT_GO, infoRequest(exportName));
    const info = parseInfo(exportName, await channel.replies(NBD_OPT_GO));
    return new NbdClientSession(reader, writer, info, structured, contexts);
  }

  /** Requests still waiting for their reply. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  async read(offset: number, length: number, options: { dontFragment?: boolean } = {}) {
    const buffer = new Uint8Array(length);
    await this.#request(NBD_CMD_READ, options.dontFragment ? NBD_CMD_FLAG_DF : 0, offset, length, {
      buffer,
    });
    return buffer;
  }

  write(offset: number, data: Uint8Array, options: NbdWriteFlags = {}): Promise<void> {
    return this.#request(NBD_CMD_WRITE, options.fua ? NBD_CMD_FLAG_FUA : 0, offset, data.length, {
      payload: data,
    });
  }

  writeZeroes(
    offset: number,
    length: number,
    options: NbdWriteFlags & { noHole?: boolean; fastZero?: boolean } = {},
  ): Promise<void> {
    const flags =
      (options.fua ? NBD_CMD_FLAG_FUA : 0) |
      (options.noHole ? NBD_CMD_FLAG_NO_HOLE : 0) |
      (options.fastZero ? NBD_CMD_FLAG_FAST_ZERO : 0);
    return this.#request(NBD_CMD_WRITE_ZEROES, flags, offset, length, {});
  }

  trim(offset: number, length: number, options: NbdWriteFlags = {}): Promise<void> {
    return this.#request(NBD_CMD_TRIM, options.fua ? NBD_CMD_FLAG_FUA : 0, offset, length, {});
  }

  flush(): Promise<void> {
    return this.#request(NBD_CMD_FLUSH, 0, 0, 0, {});
  }

  cache(offset: number, length: number): Promise<void> {
    return this.#request(NBD_CMD_CACHE, 0, offset, length, {});
  }

  /** Block status for every selected meta context, by context name. */
  async blockStatus(
    offset: number,
    length: number,
    options: { reqOne?: boolean } = {},
  ): Promise<Map<string, BlockExtent[]>> {
    const extents = new Map<string, BlockExtent[]>();
    await this.#request(
      NBD_CMD_BLOCK_STATUS,
      options.reqOne ? NBD_CMD_FLAG_REQ_ONE : 0,
      offset,
      length,
      {
        extents,
      },
    );
    return extents;
  }

  /** Sends a raw request (for tests of a server's validation); resolves with its error, if any. */
  async rawRequest(
    type: number,
    flags: number,
    offset: number,
    length: number,
    payload?: Uint8Array,
  ) {
    try {
      await this.#request(type, flags, offset, length, payload === undefined ? {} : { payload });
      return undefined;
    } catch (error) {
      if (NbdError.isInstance(error)) return error;
      throw error;
    }
  }

  /** Waits for requests in flight, sends NBD_CMD_DISC and closes. */
  async disconnect(): Promise<void> {
    if (this.#closed) return;
    while (this.#pending.size > 0 && this.#failure === undefined) {
      await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    }
    this.#closed = true;
    try {
      await this.#writer.write(this.#header(NBD_CMD_DISC, 0, this.#nextCookie++, 0, 0).chunks());
    } catch {
      // Already gone.
    }
    this.#writer.close();
  }

  /** Tears the connection down without waiting. */
  close(): void {
    this.#closed = true;
    this.#fail(new EndOfStreamError('the client closed the connection'));
    this.#writer.close();
  }

  #header(type: number, flags: number, cookie: bigint, offset: number, length: number) {
    return new MessageBuilder()
      .u32(NBD_REQUEST_MAGIC)
      .u16(flags)
      .u16(type)
      .u64(cookie)
      .u64(offset)
      .u32(length);
  }

  async #request(
    type: number,
    flags: number,
    offset: number,
    length: number,
    parts: { buffer?: Uint8Array; payload?: Uint8Array; extents?: Map<string, BlockExtent[]> },
  ): Promise<void> {
    if (
      !Number.isSafeInteger(offset) ||
      offset < 0 ||
      !Number.isInteger(length) ||
      length < 0 ||
      length > 0xffffffff
    ) {
      throw new RangeError('offset and length must be non-negative integers (length < 4 GiB)');
    }
    while (this.#pending.size >= NBD_MAX_REQUESTS && this.#failure === undefined) {
      await new Promise<void>((resolve) => this.#slotWaiters.push(resolve));
    }
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#closed) throw new EndOfStreamError('the client is closed');
    const cookie = this.#nextCookie++;
    const done = new Promise<void>((resolve, reject) => {
      this.#pending.set(cookie, {
        type,
        offset,
        length,
        buffer: parts.buffer,
        extents: parts.extents ?? new Map(),
        error: undefined,
        resolve,
        reject,
      });
    });
    // Handled by the caller once we return it; this stops a rejection that arrives while the
    // request is still being written from counting as unhandled.
    done.catch(() => undefined);
    const message = this.#header(type, flags, cookie, offset, length);
    if (parts.payload !== undefined) message.bytes(parts.payload);
    try {
      await this.#writer.write(message.chunks());
    } catch (error) {
      this.#pending.delete(cookie);
      throw error;
    }
    return done;
  }

  #settle(cookie: bigint, pending: Pending): void {
    this.#pending.delete(cookie);
    if (pending.error !== undefined) pending.reject(pending.error);
    else pending.resolve();
    this.#slotWaiters.shift()?.();
    if (this.#pending.size === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const [cookie, pending] of this.#pending) {
      this.#pending.delete(cookie);
      pending.reject(this.#failure);
    }
    for (const wake of this.#slotWaiters.splice(0)) wake();
    for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  async #receiveLoop(): Promise<void> {
    try {
      for (;;) {
        const magic = readU32(await this.#reader.read(4), 0);
        if (magic === NBD_SIMPLE_REPLY_MAGIC) await this.#simpleReply();
        else if (magic === NBD_STRUCTURED_REPLY_MAGIC && this.structuredReplies)
          await this.#chunk();
        else throw new NbdProtocolError(`bad reply magic 0x${magic.toString(16)}`);
      }
    } catch (error) {
      this.#fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  #lookup(cookie: bigint): Pending {
    const pending = this.#pending.get(cookie);
    if (pending === undefined) throw new NbdProtocolError(`reply for unknown cookie ${cookie}`);
    return pending;
  }

  async #simpleReply(): Promise<void> {
    const rest = await this.#reader.read(12);
    const errno = readU32(rest, 0);
    const cookie = readU64(rest, 4);
    const pending = this.#lookup(cookie);
    if (errno !== 0) {
      pending.error = new NbdError(
        nbdErrnoName(errno),
        `the server answered ${nbdErrnoName(errno)}`,
      );
    } else if (pending.type === NBD_CMD_READ && pending.length > 0) {
      pending.buffer!.set(await this.#reader.read(pending.length));
    }
    this.#settle(cookie, pending);
  }

  async #chunk(): Promise<void> {
    const rest = await this.#reader.read(16);
    const flags = readU16(rest, 0);
    const type = readU16(rest, 2);
    const cookie = readU64(rest, 4);
    const length = readU32(rest, 12);
    const pending = this.#lookup(cookie);
    if (length > NBD_MAX_BUFFER_SIZE + 16) throw new NbdProtocolError(`chunk of ${length} bytes`);
    const data = await this.#reader.read(length);
    if (isErrorChunk(type)) {
      const errno = data.length >= 4 ? readU32(data, 0) : 22;
      const messageLength = data.length >= 6 ? readU16(data, 4) : 0;
      const message = decodeLossy(data.subarray(6, 6 + messageLength));
      pending.error ??= new NbdError(
        nbdErrnoName(errno),
        message || `the server answered ${nbdErrnoName(errno)}`,
      );
    } else if (type === NBD_REPLY_TYPE_OFFSET_DATA) {
      const at = Number(readU64(data, 0)) - pending.offset;
      const bytes = data.subarray(8);
      if (pending.buffer === undefined || at < 0 || at + bytes.length > pending.length) {
        throw new NbdProtocolError('data chunk outside the request');
      }
      pending.buffer.set(bytes, at);
    } else if (type === NBD_REPLY_TYPE_OFFSET_HOLE) {
      const at = Number(readU64(data, 0)) - pending.offset;
      const holeLength = readU32(data, 8);
      if (pending.buffer === undefined || at < 0 || at + holeLength > pending.length) {
        throw new NbdProtocolError('hole chunk outside the request');
      }
      pending.buffer.fill(0, at, at + holeLength);
    } else if (type === NBD_REPLY_TYPE_BLOCK_STATUS) {
      const id = readU32(data, 0);
      const name = this.metaContexts.get(id) ?? `#${id}`;
      const extents: BlockExtent[] = [];
      for (let at = 4; at + 8 <= data.length; at += 8) {
        extents.push({ length: readU32(data, at), flags: readU32(data, at + 4) });
      }
      pending.extents.set(name, extents);
    } else if (type !== NBD_REPLY_TYPE_NONE) {
      throw new NbdProtocolError(`unknown chunk type ${type}`);
    }
    if ((flags & NBD_REPLY_FLAG_DONE) !== 0) this.#settle(cookie, pending);
  }
}
