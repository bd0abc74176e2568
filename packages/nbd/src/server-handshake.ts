/**
 * The server side of the fixed newstyle handshake: option haggling until NBD_OPT_GO or
 * NBD_OPT_EXPORT_NAME picks an export, answering every option as QEMU's server does (same
 * replies, same error types, same messages, same cases that drop the connection).
 */
import type { ByteReader, ByteWriter } from './byte-stream.js';
import {
  BASE_ALLOCATION,
  NBD_FLAG_BLOCK_STAT_PAYLOAD,
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_NO_ZEROES,
  NBD_FLAG_SEND_DF,
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_DESCRIPTION,
  NBD_INFO_EXPORT,
  NBD_INFO_NAME,
  NBD_INIT_MAGIC,
  NBD_MAX_BUFFER_SIZE,
  NBD_MAX_STRING_SIZE,
  NBD_OPT_ABORT,
  NBD_OPT_EXPORT_NAME,
  NBD_OPT_EXTENDED_HEADERS,
  NBD_OPT_GO,
  NBD_OPT_INFO,
  NBD_OPT_LIST,
  NBD_OPT_LIST_META_CONTEXT,
  NBD_OPT_SET_META_CONTEXT,
  NBD_OPT_STARTTLS,
  NBD_OPT_STRUCTURED_REPLY,
  NBD_OPTS_MAGIC,
  NBD_REP_ACK,
  NBD_REP_ERR_BLOCK_SIZE_REQD,
  NBD_REP_ERR_EXT_HEADER_REQD,
  NBD_REP_ERR_INVALID,
  NBD_REP_ERR_POLICY,
  NBD_REP_ERR_UNKNOWN,
  NBD_REP_ERR_UNSUP,
  NBD_REP_INFO,
  NBD_REP_MAGIC,
  NBD_REP_META_CONTEXT,
  NBD_REP_SERVER,
  optionName,
  QEMU_ALLOCATION_DEPTH,
  QEMU_DIRTY_BITMAP_PREFIX,
} from './constants.js';
import type { ExportTable, ServedExport } from './export-table.js';
import type { NbdProfile } from './profile.js';
import { decodeLossy, decodeStrict, MessageBuilder, readU16, readU32, readU64 } from './wire.js';

/** The meta contexts a client selected with NBD_OPT_SET_META_CONTEXT. */
export interface MetaSelection {
  readonly export: ServedExport;
  readonly baseAllocation: boolean;
  readonly allocationDepth: boolean;
  /** Indexes into `export.bitmaps`, ascending. */
  readonly bitmaps: readonly number[];
  readonly count: number;
}

/** Context ids as QEMU numbers them. */
export const META_ID_BASE_ALLOCATION = 0;
export const META_ID_ALLOCATION_DEPTH = 1;
export const META_ID_DIRTY_BITMAP = 2;

/** How a handshake ended. */
export type HandshakeResult =
  | {
      readonly kind: 'transmission';
      readonly export: ServedExport;
      readonly structured: boolean;
      /** Extended headers negotiated (structured replies then too). */
      readonly extended: boolean;
      readonly meta: MetaSelection | undefined;
    }
  | { readonly kind: 'aborted' };

/** The client broke the protocol in a way QEMU answers by dropping the connection. */
export class HandshakeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HandshakeError';
  }
}

/** Option data still unread, consumed field by field as QEMU does (never buffered whole). */
class OptionBody {
  constructor(
    private readonly session: HandshakeSession,
    public remaining: number,
  ) {}

  /** Reads `size` bytes, or answers NBD_REP_ERR_INVALID and returns undefined. */
  async read(size: number, checkNul = false): Promise<Uint8Array | undefined> {
    if (size > this.remaining) {
      await this.session.invalid(`Inconsistent lengths in option ${this.session.optionLabel}`);
      return undefined;
    }
    this.remaining -= size;
    const bytes = new Uint8Array(await this.session.reader.read(size));
    if (checkNul && bytes.includes(0)) {
      await this.session.invalid(`Unexpected embedded NUL in option ${this.session.optionLabel}`);
      return undefined;
    }
    return bytes;
  }

  async u16(): Promise<number | undefined> {
    const b = await this.read(2);
    return b === undefined ? undefined : readU16(b, 0);
  }

  async u32(): Promise<number | undefined> {
    const b = await this.read(4);
    return b === undefined ? undefined : readU32(b, 0);
  }

  /** A length-prefixed name of at most 4096 bytes. */
  async name(): Promise<Uint8Array | undefined> {
    const length = await this.u32();
    if (length === undefined) return undefined;
    if (length > NBD_MAX_STRING_SIZE) {
      await this.session.invalid(`Invalid name length: ${length}`);
      return undefined;
    }
    return this.read(length, true);
  }
}

/** QEMU shortens a name it quotes in an error to 80 bytes. */
function sanitizeName(name: Uint8Array): string {
  return name.length < 80 ? decodeLossy(name) : `${decodeLossy(name.subarray(0, 80))}...`;
}

export class HandshakeSession {
  option = 0;
  #body: OptionBody | undefined;
  #structured = false;
  #extended = false;
  #meta: MetaSelection | undefined;

  constructor(
    readonly reader: ByteReader,
    private readonly writer: ByteWriter,
    private readonly exports: ExportTable,
    private readonly profile: NbdProfile,
  ) {}

  /** The current option's name as this QEMU's messages spell it. */
  get optionLabel(): string {
    return optionName(this.option, this.profile.extendedHeaders);
  }

  async run(): Promise<HandshakeResult> {
    await this.writer.write(
      new MessageBuilder()
        .u64(NBD_INIT_MAGIC)
        .u64(NBD_OPTS_MAGIC)
        .u16(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES)
        .chunks(),
    );
    let clientFlags = readU32(await this.reader.read(4), 0);
    const fixed = (clientFlags & NBD_FLAG_C_FIXED_NEWSTYLE) !== 0;
    const noZeroes = (clientFlags & NBD_FLAG_C_NO_ZEROES) !== 0;
    clientFlags &= ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
    if (clientFlags !== 0) {
      throw new HandshakeError(`Unknown client flags 0x${clientFlags.toString(16)} received`);
    }
    for (;;) {
      const header = await this.reader.read(16);
      if (readU64(header, 0) !== NBD_OPTS_MAGIC) throw new HandshakeError('Bad magic received');
      this.option = readU32(header, 8);
      const length = readU32(header, 12);
      if (length > NBD_MAX_BUFFER_SIZE) {
        throw new HandshakeError(`len (${length}) is larger than max len (${NBD_MAX_BUFFER_SIZE})`);
      }
      this.#body = new OptionBody(this, length);
      if (!fixed) {
        // A client without fixed newstyle may only name an export.
        if (this.option === NBD_OPT_EXPORT_NAME) return this.#exportName(noZeroes);
        throw new HandshakeError(`Unsupported option ${this.option} (${this.optionLabel})`);
      }
      const result = await this.#dispatch(noZeroes);
      if (result !== undefined) return result;
    }
  }

  async #dispatch(noZeroes: boolean): Promise<HandshakeResult | undefined> {
    const body = this.#body!;
    switch (this.option) {
      case NBD_OPT_LIST:
        if (body.remaining > 0) await this.#rejectLength();
        else await this.#list();
        return undefined;
      case NBD_OPT_ABORT:
        // The spec asks for a reply, but the client may already be gone.
        await this.#reply(NBD_REP_ACK).catch(() => undefined);
        return { kind: 'aborted' };
      case NBD_OPT_EXPORT_NAME:
        return this.#exportName(noZeroes);
      case NBD_OPT_INFO:
      case NBD_OPT_GO:
        return this.#info();
      case NBD_OPT_STARTTLS:
        if (body.remaining > 0) await this.#rejectLength();
        else await this.#error(NBD_REP_ERR_POLICY, 'TLS not configured');
        return undefined;
      case NBD_OPT_STRUCTURED_REPLY:
        if (body.remaining > 0) await this.#rejectLength();
        else if (this.#extended) {
          await this.#error(NBD_REP_ERR_EXT_HEADER_REQD, 'extended headers already negotiated');
        } else if (this.#structured) {
          await this.#error(NBD_REP_ERR_INVALID, 'structured reply already negotiated');
        } else {
          await this.#reply(NBD_REP_ACK);
          this.#structured = true;
        }
        return undefined;
      case NBD_OPT_EXTENDED_HEADERS:
        if (!this.profile.extendedHeaders) break;
        if (body.remaining > 0) await this.#rejectLength();
        else if (this.#extended) {
          await this.#error(NBD_REP_ERR_INVALID, 'extended headers already negotiated');
        } else {
          await this.#reply(NBD_REP_ACK);
          this.#structured = true;
          this.#extended = true;
        }
        return undefined;
      case NBD_OPT_LIST_META_CONTEXT:
      case NBD_OPT_SET_META_CONTEXT:
        await this.#metaContexts();
        return undefined;
    }
    await this.#drop(NBD_REP_ERR_UNSUP, `Unsupported option ${this.option} (${this.optionLabel})`);
    return undefined;
  }

  async #reply(type: number, payload: readonly Uint8Array[] = []): Promise<void> {
    let length = 0;
    for (const p of payload) length += p.length;
    const header = new MessageBuilder().u64(NBD_REP_MAGIC).u32(this.option).u32(type).u32(length);
    for (const p of payload) header.bytes(p);
    await this.writer.write(header.chunks());
  }

  async #error(type: number, message: string): Promise<void> {
    await this.#reply(type, new MessageBuilder().string(message).chunks());
  }

  /** Skips what is left of the option, then answers with an error. */
  async #drop(type: number, message: string): Promise<void> {
    const body = this.#body!;
    const left = body.remaining;
    body.remaining = 0;
    await this.reader.skip(left);
    await this.#error(type, message);
  }

  invalid(message: string): Promise<void> {
    return this.#drop(NBD_REP_ERR_INVALID, message);
  }

  #rejectLength(): Promise<void> {
    return this.invalid(`option '${this.optionLabel}' has unexpected length`);
  }

  async #list(): Promise<void> {
    for (const served of this.exports.list()) {
      await this.#reply(
        NBD_REP_SERVER,
        new MessageBuilder()
          .u32(served.nameBytes.length)
          .bytes(served.nameBytes)
          .string(served.description ?? '')
          .chunks(),
      );
    }
    await this.#reply(NBD_REP_ACK);
  }

  async #exportName(noZeroes: boolean): Promise<HandshakeResult> {
    const body = this.#body!;
    if (body.remaining > NBD_MAX_STRING_SIZE) throw new HandshakeError('Bad length received');
    const name = await this.reader.read(body.remaining);
    body.remaining = 0;
    const served = this.exports.find(decodeStrict(name));
    if (served === undefined) throw new HandshakeError('export not found');
    const message = new MessageBuilder().u64(served.size).u16(this.#flagsFor(served));
    if (!noZeroes) message.bytes(new Uint8Array(124));
    await this.writer.write(message.chunks());
    return this.#enter(served);
  }

  #flagsFor(served: ServedExport): number {
    let flags = served.flags;
    if (this.#structured) flags |= NBD_FLAG_SEND_DF;
    // Block status payloads choose among negotiated contexts: QEMU 10.0 offers them to
    // NBD_OPT_INFO always, to NBD_OPT_GO once contexts are selected (seen on the wire).
    if (this.#extended && (this.option === NBD_OPT_INFO || (this.#meta?.count ?? 0) > 0)) {
      flags |= NBD_FLAG_BLOCK_STAT_PAYLOAD;
    }
    return flags;
  }

  #enter(served: ServedExport): HandshakeResult {
    // Contexts chosen for another export do not carry over.
    const meta = this.#meta?.export === served ? this.#meta : undefined;
    return {
      kind: 'transmission',
      export: served,
      structured: this.#structured,
      extended: this.#extended,
      meta,
    };
  }

  async #info(): Promise<HandshakeResult | undefined> {
    const body = this.#body!;
    const name = await body.name();
    if (name === undefined) return undefined;
    const requests = await body.u16();
    if (requests === undefined) return undefined;
    let sendName = false;
    let blockSize = false;
    for (let i = 0; i < requests; i++) {
      const request = await body.u16();
      if (request === undefined) return undefined;
      if (request === NBD_INFO_NAME) sendName = true;
      if (request === NBD_INFO_BLOCK_SIZE) blockSize = true;
    }
    if (body.remaining > 0) {
      await this.#rejectLength();
      return undefined;
    }
    const served = this.exports.find(decodeStrict(name));
    if (served === undefined) {
      await this.#error(NBD_REP_ERR_UNKNOWN, `export '${sanitizeName(name)}' not present`);
      return undefined;
    }
    if (sendName) {
      await this.#reply(NBD_REP_INFO, new MessageBuilder().u16(NBD_INFO_NAME).bytes(name).chunks());
    }
    if (served.description !== undefined) {
      await this.#reply(
        NBD_REP_INFO,
        new MessageBuilder().u16(NBD_INFO_DESCRIPTION).string(served.description).chunks(),
      );
    }
    // The minimum is 1 for clients that did not promise to honour it (QEMU's back-compat rule).
    const minimum = this.option === NBD_OPT_INFO || blockSize ? served.minimumBlockSize : 1;
    await this.#reply(
      NBD_REP_INFO,
      new MessageBuilder()
        .u16(NBD_INFO_BLOCK_SIZE)
        .u32(minimum)
        .u32(Math.max(4096, minimum))
        .u32(served.maximumBlockSize)
        .chunks(),
    );
    await this.#reply(
      NBD_REP_INFO,
      new MessageBuilder()
        .u16(NBD_INFO_EXPORT)
        .u64(served.size)
        .u16(this.#flagsFor(served))
        .chunks(),
    );
    if (this.option === NBD_OPT_INFO && !blockSize && served.minimumBlockSize > 1) {
      await this.#error(
        NBD_REP_ERR_BLOCK_SIZE_REQD,
        'request NBD_INFO_BLOCK_SIZE to use this export',
      );
      return undefined;
    }
    await this.#reply(NBD_REP_ACK);
    return this.option === NBD_OPT_GO ? this.#enter(served) : undefined;
  }

  async #metaContexts(): Promise<void> {
    const body = this.#body!;
    const listing = this.option === NBD_OPT_LIST_META_CONTEXT;
    // Only SET needs structured replies; QEMU lists contexts to any client.
    if (!listing && !this.#structured) {
      await this.invalid(
        `request option '${this.optionLabel}' when structured reply is not negotiated`,
      );
      return;
    }
    // SET forgets the previous selection first, even if it then fails.
    if (!listing) this.#meta = undefined;
    const name = await body.name();
    if (name === undefined) return;
    const served = this.exports.find(decodeStrict(name));
    if (served === undefined) {
      await this.#drop(NBD_REP_ERR_UNKNOWN, `export '${sanitizeName(name)}' not present`);
      return;
    }
    const queries = await body.u32();
    if (queries === undefined) return;
    const wanted = { base: false, depth: false, bitmaps: new Set<number>() };
    const all = () => {
      wanted.depth = served.allocationDepth;
      for (let i = 0; i < served.bitmaps.length; i++) wanted.bitmaps.add(i);
    };
    if (listing && queries === 0) {
      wanted.base = true;
      all();
    }
    for (let i = 0; i < queries; i++) {
      const length = await body.u32();
      if (length === undefined) return;
      if (length > NBD_MAX_STRING_SIZE) {
        // Too long to be anything we serve: skipped, as QEMU does.
        if (length > body.remaining) {
          await this.invalid(`Inconsistent lengths in option ${this.optionLabel}`);
          return;
        }
        body.remaining -= length;
        await this.reader.skip(length);
        continue;
      }
      const bytes = await body.read(length, true);
      if (bytes === undefined) return;
      const query = decodeLossy(bytes);
      this.#matchQuery(query, listing, served, wanted, all);
    }
    const replies: Array<[string, number]> = [];
    if (wanted.base) replies.push([BASE_ALLOCATION, META_ID_BASE_ALLOCATION]);
    if (wanted.depth) replies.push([QEMU_ALLOCATION_DEPTH, META_ID_ALLOCATION_DEPTH]);
    const bitmaps = [...wanted.bitmaps].sort((a, b) => a - b);
    for (const i of bitmaps) {
      replies.push([QEMU_DIRTY_BITMAP_PREFIX + served.bitmaps[i]!, META_ID_DIRTY_BITMAP + i]);
    }
    for (const [context, id] of replies) {
      await this.#reply(
        NBD_REP_META_CONTEXT,
        // LIST answers with id 0: the ids mean nothing until SET.
        new MessageBuilder()
          .u32(listing ? 0 : id)
          .string(context)
          .chunks(),
      );
    }
    await this.#reply(NBD_REP_ACK);
    if (!listing) {
      this.#meta = {
        export: served,
        baseAllocation: wanted.base,
        allocationDepth: wanted.depth,
        bitmaps,
        count: replies.length,
      };
    }
  }

  /** One query against QEMU's namespaces; a query QEMU does not know selects nothing. */
  #matchQuery(
    query: string,
    listing: boolean,
    served: ServedExport,
    wanted: { base: boolean; depth: boolean; bitmaps: Set<number> },
    all: () => void,
  ): void {
    if (query.startsWith('base:')) {
      const rest = query.slice('base:'.length);
      if ((rest === '' && listing) || rest === 'allocation') wanted.base = true;
      return;
    }
    if (!query.startsWith('qemu:')) return;
    const rest = query.slice('qemu:'.length);
    if (rest === '') {
      if (listing) all();
      return;
    }
    if (rest === 'allocation-depth') {
      wanted.depth = served.allocationDepth;
      return;
    }
    if (!rest.startsWith('dirty-bitmap:')) return;
    const bitmap = rest.slice('dirty-bitmap:'.length);
    if (bitmap === '') {
      if (listing) for (let i = 0; i < served.bitmaps.length; i++) wanted.bitmaps.add(i);
      return;
    }
    const index = served.bitmaps.indexOf(bitmap);
    if (index >= 0) wanted.bitmaps.add(index);
  }
}
