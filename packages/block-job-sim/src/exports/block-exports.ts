// NBD exports (QEMU's blockdev-nbd.c, block/export/export.c, nbd/server.c nbd_export_create):
// nbd-server-start / -stop, block-export-add / -del of type nbd, query-block-exports and
// BLOCK_EXPORT_DELETED, over @qmpkit/nbd. The sockets come from an injected `NbdListen` (the
// Node one is in `@qmpkit/block-job-sim/node`), so this file stays free of Node imports.

import type { NbdExportOptions } from '@qmpkit/nbd';
import type {
  BlockDirtyBitmapOrStr,
  BlockExportDelArgs,
  BlockExportInfo,
  BlockExportOptions,
  NbdServerStartArgs,
} from '@qmpkit/qapi-types/7.2';
import { BITMAP_ALLOW_RO, type DirtyBitmap } from '../bitmaps/dirty-bitmap.js';
import type { BlockLayer, BlockNode } from '../block-layer.js';
import { genericError } from '../errors.js';
import { BLK_PERM } from '../permissions.js';
import { NodeNbdBackend } from './node-backend.js';

/** A listening NBD server (what `@qmpkit/nbd/node`'s NbdServer offers). */
export interface NbdListener {
  addExport(options: NbdExportOptions): void;
  removeExport(name: string): Promise<boolean>;
  close(): Promise<void>;
}

/** Where nbd-server-start listens. */
export type NbdListenAddress =
  | { readonly path: string }
  | { readonly host: string; readonly port: number };

/** Starts an NBD server (throws with the reason when it cannot listen). */
export type NbdListen = (
  address: NbdListenAddress,
  options: { readonly maxConnections: number },
) => Promise<NbdListener>;

/** QEMU's NBD_MAX_STRING_SIZE. */
const NBD_MAX_STRING_SIZE = 4096;

interface ExportState {
  readonly id: string;
  readonly name: string;
  /** The node its BlockBackend uses (a completed mirror or active commit moves it). */
  node: BlockNode;
  /** What serves its requests: it follows `node`. */
  readonly backend: NodeNbdBackend;
  /** When it went on that node (BlockLayer.mark()): job filters inserted later are above it. */
  attachedAt: number;
  readonly bitmaps: Array<{ node: BlockNode; bitmap: DirtyBitmap }>;
  readonly detach: () => void;
  shuttingDown: boolean;
}

export class BlockExports {
  readonly #layer: BlockLayer;
  readonly #listen: NbdListen | undefined;
  readonly #deleted: (id: string) => void;
  readonly #attached: () => void;
  readonly #detached: (node: BlockNode) => void;
  readonly #deletedAtServerStopEnd: boolean;
  #server: NbdListener | undefined;
  #starting = false;
  readonly #exports = new Map<string, ExportState>();

  constructor(options: {
    layer: BlockLayer;
    listen: NbdListen | undefined;
    /** Emits BLOCK_EXPORT_DELETED. */
    deleted: (id: string) => void;
    /** An export's BlockBackend was attached to its node, or tried to be (a graph change). */
    attached?: () => void;
    /** An export's BlockBackend has left this node (drained sections, a graph change). */
    detached?: (node: BlockNode) => void;
    /**
     * nbd-server-stop reports every BLOCK_EXPORT_DELETED at its end, newest export first (QEMU
     * 10.0); otherwise each one as soon as its export is gone, oldest first (7.2).
     */
    deletedAtServerStopEnd?: boolean;
  }) {
    this.#layer = options.layer;
    this.#listen = options.listen;
    this.#deleted = options.deleted;
    this.#layer.onNodeReplaced.push((from, to) => {
      for (const e of this.#exports.values()) {
        if (e.node !== from) continue;
        e.node = to;
        e.backend.retarget(to);
        e.attachedAt = this.#layer.mark();
      }
    });
    this.#attached = options.attached ?? (() => {});
    this.#detached = options.detached ?? (() => {});
    this.#deletedAtServerStopEnd = options.deletedAtServerStopEnd ?? false;
  }

  /** qmp_nbd_server_start(). */
  async start(a: NbdServerStartArgs): Promise<void> {
    if (this.#server !== undefined || this.#starting) {
      throw genericError('NBD server already running');
    }
    if (a['tls-creds'] !== undefined || a['tls-authz'] !== undefined) {
      throw genericError('qmpkit does not simulate NBD over TLS');
    }
    const listen = this.#listen;
    if (listen === undefined) throw genericError('qmpkit-server was started without NBD support');
    const addr = a.addr;
    let address: NbdListenAddress;
    if (addr.type === 'unix') address = { path: addr.data.path };
    else if (addr.type === 'inet') {
      const port = Number(addr.data.port);
      if (!/^\d+$/.test(addr.data.port) || port > 65535) {
        throw genericError(`Parameter 'port' expects a port number`);
      }
      address = { host: addr.data.host, port };
    } else throw genericError(`qmpkit does not simulate NBD over '${addr.type}' sockets`);
    // QEMU's default max-connections is 0, no limit: many clients, multi-conn advertised.
    const max = a['max-connections'] ?? 0;
    this.#starting = true;
    try {
      this.#server = await listen(address, { maxConnections: max === 0 ? 100 : max });
    } catch (error) {
      throw genericError(error instanceof Error ? error.message : String(error));
    } finally {
      this.#starting = false;
    }
  }

  /** qmp_nbd_server_stop(): every NBD export goes first. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) throw genericError('NBD server not running');
    const gone: string[] = [];
    for (const state of [...this.#exports.values()]) {
      await this.#delete(state, !this.#deletedAtServerStopEnd);
      gone.push(state.id);
    }
    if (this.#deletedAtServerStopEnd) for (const id of gone.reverse()) this.#deleted(id);
    this.#server = undefined;
    await server.close();
  }

  /** qmp_block_export_add() with nbd_export_create(). */
  add(a: BlockExportOptions): void {
    if (!/^[A-Za-z][A-Za-z0-9._-]*$/.test(a.id)) throw genericError('Invalid block export id');
    if (this.#exports.has(a.id)) throw genericError(`Block export id '${a.id}' is already in use`);
    if (a.type !== 'nbd') throw genericError(`qmpkit does not simulate '${a.type}' exports`);
    const node = this.#layer.findNode(a['node-name']);
    if (node === undefined) {
      throw genericError(`Cannot find device='' nor node-name='${a['node-name']}'`);
    }
    const writable = a.writable === true;
    const perm = BLK_PERM.CONSISTENT_READ | (writable ? BLK_PERM.WRITE : 0);
    let detach: () => void;
    let attachedAt: number;
    try {
      // blk_insert_bs(): a job's users of the node may not share what the export needs.
      detach = this.#layer.attachBackend(node, { perm, shared: BLK_PERM.ALL });
      attachedAt = this.#layer.mark();
    } finally {
      this.#attached();
    }
    try {
      const server = this.#server;
      if (server === undefined) throw genericError('NBD server not running');
      const name = a.name ?? a['node-name'];
      if (new TextEncoder().encode(name).length > NBD_MAX_STRING_SIZE) {
        throw genericError(`export name '${name}' too long`);
      }
      const description = a.description;
      if (
        description !== undefined &&
        new TextEncoder().encode(description).length > NBD_MAX_STRING_SIZE
      ) {
        throw genericError(`description '${description}' too long`);
      }
      for (const e of this.#exports.values()) {
        if (e.name === name) throw genericError(`NBD server already has export named '${name}'`);
      }
      const bitmaps = (a.bitmaps ?? []).map((b) => this.#exportBitmap(node, b, writable));
      const backend = new NodeNbdBackend(this.#layer, node, {
        writable,
        bitmaps: bitmaps.map((b) => b.bitmap.name as string),
        allocationDepth: a['allocation-depth'] === true,
      });
      server.addExport({ name, ...(description === undefined ? {} : { description }), backend });
      for (const b of bitmaps) b.bitmap.busy = true;
      this.#exports.set(a.id, {
        id: a.id,
        name,
        node,
        backend,
        attachedAt,
        bitmaps,
        detach,
        shuttingDown: false,
      });
    } catch (error) {
      // Refused once attached (blk_exp_add's fail path): the BlockBackend leaves again.
      detach();
      this.#detached(node);
      throw error;
    }
  }

  /** A bitmap an export serves: found on the node or below it through filters and backing. */
  #exportBitmap(
    top: BlockNode,
    ref: BlockDirtyBitmapOrStr,
    writable: boolean,
  ): { node: BlockNode; bitmap: DirtyBitmap } {
    if (typeof ref !== 'string') {
      const node = this.#layer.findNode(ref.node);
      if (node === undefined) throw genericError(`Node '${ref.node}' not found`);
      const bitmap = this.#layer.dirtyBitmaps.find(node, ref.name);
      if (bitmap === undefined) throw genericError(`Dirty bitmap '${ref.name}' not found`);
      return this.#checkExportBitmap(node, bitmap, writable);
    }
    for (let n: BlockNode | undefined = top; n !== undefined; n = n.backing ?? filtered(n)) {
      const bitmap = this.#layer.dirtyBitmaps.find(n, ref);
      if (bitmap !== undefined) return this.#checkExportBitmap(n, bitmap, writable);
    }
    throw genericError(`Bitmap '${ref}' is not found`);
  }

  #checkExportBitmap(
    node: BlockNode,
    bitmap: DirtyBitmap,
    writable: boolean,
  ): { node: BlockNode; bitmap: DirtyBitmap } {
    bitmap.check(BITMAP_ALLOW_RO);
    if (!writable && !node.readOnly && !bitmap.disabled) {
      throw genericError(`Enabled bitmap '${bitmap.name}' incompatible with readonly export`);
    }
    return { node, bitmap };
  }

  /** qmp_block_export_del(). */
  async del(a: BlockExportDelArgs): Promise<void> {
    const state = this.#exports.get(a.id);
    if (state === undefined) throw genericError(`Export '${a.id}' is not found`);
    if (state.shuttingDown) {
      throw genericError(`Block export '${a.id}' is already shutting down`);
    }
    await this.#delete(state);
  }

  async #delete(state: ExportState, report = true): Promise<void> {
    state.shuttingDown = true;
    await this.#server?.removeExport(state.name);
    for (const b of state.bitmaps) b.bitmap.busy = false;
    state.detach();
    this.#detached(state.node);
    this.#exports.delete(state.id);
    if (report) this.#deleted(state.id);
  }

  /** qmp_query_block_exports(): newest first (QEMU inserts each export at the list's head). */
  query(): BlockExportInfo[] {
    return [...this.#exports.values()].reverse().map((e) => ({
      id: e.id,
      type: 'nbd',
      // A job's filter inserted above the node took its parents, this export's BlockBackend too;
      // an export added after the filter uses the node below it (measured on QSD 7.2 and 10.0).
      'node-name': (this.#layer.jobFilterAbove(e.node, e.attachedAt) ?? e.node).nodeName,
      'shutting-down': e.shuttingDown,
    }));
  }

  /** Closes the server (the simulator is closing). */
  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    await server?.close();
  }
}

/** The child a filter passes requests to (blkdebug's image). */
function filtered(node: BlockNode): BlockNode | undefined {
  return node.driver === 'blkdebug' ? node.file : undefined;
}
