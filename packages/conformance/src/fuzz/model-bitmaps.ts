// The differential tester's model of dirty bitmaps (issue 16) on its null-co nodes: what
// block-dirty-bitmap-add/-remove/-clear/-enable/-disable/-merge answer, alone and as transaction
// actions (prepared in order, rolled back when a later one fails), what query-named-block-nodes
// shows, and what a backup that syncs a bitmap leaves in it. Written from QEMU's
// block/monitor/bitmap-qmp-cmds.c, blockdev.c (the bitmap transaction actions) and
// block/backup.c (backup_cleanup_sync_bitmap), and the bitmap scenarios measured on QEMU 7.2.22.
//
// Without guest writes a bitmap's dirty bits only come from a backup that ended without copying
// everything while its bitmap mode was `always`: all bytes from the first one it did not copy to
// the end. So a bitmap's content is one number: where its dirty range starts (or none).

import { bitmapInfo, nullCoInfo } from '../block-node-info.js';
import { generic, type Pattern, type Step } from '../scenario.js';
import type { BackupSpec, BitmapAction, BitmapMode } from './vocabulary.js';

/** QEMU's default granularity on a node without clusters. */
const DEFAULT_GRANULARITY = 65536;

interface Bitmap {
  /** Undefined: the anonymous successor a backup records new writes in meanwhile. */
  name: string | undefined;
  readonly granularity: number;
  recording: boolean;
  /** Dirty from here to the end of the node (undefined: clean). */
  dirtyFrom: number | undefined;
  /** A backup syncs it, or a transaction's remove action holds it. */
  busy: boolean;
}

/** What a backup needs to know of the bitmap it syncs. */
export interface SyncedBitmap {
  readonly node: string;
  readonly name: string;
  readonly mode: BitmapMode;
  /** sync=bitmap / incremental: only the dirty bytes are copied. */
  readonly onlyDirty: boolean;
}

/** The bitmap `b` syncs (sync incremental: mode on-success). */
export function syncedBitmap(b: BackupSpec, name: string): SyncedBitmap {
  return {
    node: b.device,
    name,
    mode: b.bitmapMode ?? 'on-success',
    onlyDirty: b.sync === 'bitmap' || b.sync === 'incremental',
  };
}

const busyText = (name: string): string =>
  `Bitmap '${name}' is currently in use by another operation and cannot be used`;

export class BitmapModel {
  /** Each node's bitmaps, newest first (QEMU's list order). */
  readonly #nodes = new Map<string, Bitmap[]>();
  /** The null-co nodes, in the order they were made. */
  readonly #order: readonly string[];
  readonly #size: number;
  /** The successor of each bitmap a backup syncs (bdrv_dirty_bitmap_create_successor). */
  readonly #successors = new Map<Bitmap, Bitmap>();

  constructor(nodes: Iterable<string>, size: number) {
    this.#order = [...nodes];
    for (const node of this.#order) this.#nodes.set(node, []);
    this.#size = size;
  }

  #find(node: string, name: string): Bitmap | undefined {
    return this.#nodes.get(node)?.find((b) => b.name === name);
  }

  /** block_dirty_bitmap_lookup(): the bitmap, or the error text. */
  #lookup(node: string, name: string): Bitmap | string {
    if (!this.#nodes.has(node)) return `Node '${node}' not found`;
    return this.#find(node, name) ?? `Dirty bitmap '${name}' not found`;
  }

  #count(b: Bitmap): number {
    if (b.dirtyFrom === undefined) return 0;
    return this.#size - Math.floor(b.dirtyFrom / b.granularity) * b.granularity;
  }

  /**
   * Applies one bitmap command (or transaction action: `removed` collects what its remove
   * actions hold until the commit). Returns the error text of a refusal; nothing changed then.
   */
  #apply(a: BitmapAction, removed?: Bitmap[]): string | undefined {
    if (a.command === 'add') {
      const list = this.#nodes.get(a.node);
      if (list === undefined) return `Cannot find device='${a.node}' nor node-name='${a.node}'`;
      const granularity = a.granularity ?? DEFAULT_GRANULARITY;
      if (granularity < 512 || (granularity & (granularity - 1)) !== 0)
        return 'Granularity must be power of 2 and at least 512';
      if (list.some((b) => b.name === a.name)) return `Bitmap already exists: ${a.name}`;
      list.unshift({
        name: a.name,
        granularity,
        recording: a.disabled !== true,
        dirtyFrom: undefined,
        busy: false,
      });
      return undefined;
    }
    const target = this.#lookup(a.node, a.name);
    if (typeof target === 'string') return target;
    // merge checks its target's state only once a source is found, before that source's: a
    // missing first source is named before a busy target, a missing later one or a busy source
    // after it (seen on QEMU 7.2 and 10.0).
    if (target.busy && a.command !== 'merge') return busyText(a.name);
    switch (a.command) {
      case 'remove': {
        if (removed !== undefined) {
          target.busy = true;
          removed.push(target);
        } else this.#remove(a.node, target);
        return undefined;
      }
      case 'clear':
        target.dirtyFrom = undefined;
        return undefined;
      case 'enable':
      case 'disable':
        target.recording = a.command === 'enable';
        return undefined;
      case 'merge': {
        let from = target.dirtyFrom;
        for (const source of a.sources ?? []) {
          const src =
            typeof source === 'string'
              ? (this.#find(a.node, source) ?? `Dirty bitmap '${source}' not found`)
              : this.#lookup(source.node, source.name);
          if (typeof src === 'string') return src;
          if (target.busy) return busyText(a.name);
          if (src.busy) return busyText(typeof source === 'string' ? source : source.name);
          if (src.dirtyFrom !== undefined) from = Math.min(from ?? src.dirtyFrom, src.dirtyFrom);
        }
        if (target.busy) return busyText(a.name);
        target.dirtyFrom = from;
        return undefined;
      }
    }
  }

  #remove(node: string, bitmap: Bitmap): void {
    const list = this.#nodes.get(node) as Bitmap[];
    list.splice(list.indexOf(bitmap), 1);
  }

  /** One block-dirty-bitmap-* command: its reply. */
  command(a: BitmapAction): Step | undefined {
    const error = this.#apply(a);
    return error === undefined ? undefined : generic(error);
  }

  /**
   * A transaction of bitmap actions: each prepared in order; the first refusal undoes what the
   * earlier ones did (the node lists as they were) and is the reply.
   */
  transaction(actions: readonly BitmapAction[]): Step | undefined {
    // The same objects are put back (a running backup's successor is known by its bitmap).
    const saved = [...this.#nodes].map(
      ([node, list]) => [node, list.map((b) => [b, { ...b }] as const)] as const,
    );
    const removed: Bitmap[] = [];
    for (const a of actions) {
      const error = this.#apply(a, removed);
      if (error !== undefined) {
        for (const [node, list] of saved) {
          this.#nodes.set(
            node,
            list.map(([b, fields]) => Object.assign(b, fields)),
          );
        }
        return generic(error);
      }
    }
    for (const b of removed) {
      for (const [node, list] of this.#nodes) if (list.includes(b)) this.#remove(node, b);
    }
    return undefined;
  }

  /** query-named-block-nodes (flat): every node, newest first, with its bitmaps. */
  query(): Pattern {
    return [...this.#order].reverse().map((node) => {
      const list = this.#nodes.get(node) as Bitmap[];
      return nullCoInfo(
        node,
        this.#size,
        list.length === 0
          ? undefined
          : list.map((b) =>
              bitmapInfo(b.name, {
                granularity: b.granularity,
                recording: b.recording,
                busy: b.busy,
                count: this.#count(b),
              }),
            ),
      );
    });
  }

  /** Why a backup cannot sync `name` of `node` (do_backup_common), if it cannot. */
  backupRefusal(node: string, name: string): string | undefined {
    const b = this.#find(node, name);
    if (b === undefined) return `Bitmap '${name}' could not be found`;
    return b.busy ? busyText(name) : undefined;
  }

  /**
   * A backup starts syncing the bitmap: busy until it ends, beside an anonymous successor (first
   * in the list, recording as the bitmap did) that takes what is written meanwhile. Returns the
   * bitmap's dirty byte count.
   */
  backupStarts(synced: SyncedBitmap): number {
    const b = this.#find(synced.node, synced.name) as Bitmap;
    b.busy = true;
    const successor: Bitmap = { ...b, name: undefined, dirtyFrom: undefined, busy: false };
    (this.#nodes.get(synced.node) as Bitmap[]).unshift(successor);
    this.#successors.set(b, successor);
    return this.#count(b);
  }

  /**
   * The backup ended (backup_cleanup_sync_bitmap): after a success, or in mode `always`, the
   * bitmap is replaced by its successor (a new bitmap, so first in the list) holding what the
   * job did not copy (`copiedTo`: the bytes it did copy); otherwise (mode never, or a failure in on-success)
   * the old bitmap is reclaimed as it was.
   */
  backupEnds(synced: SyncedBitmap, succeeded: boolean, copiedTo: number): void {
    const list = this.#nodes.get(synced.node) as Bitmap[];
    const b = this.#find(synced.node, synced.name) as Bitmap;
    const successor = this.#successors.get(b) as Bitmap;
    this.#successors.delete(b);
    b.busy = false;
    const sync = (succeeded || synced.mode === 'always') && synced.mode !== 'never';
    if (!sync) {
      // Reclaimed: the successor's writes (none here) go back into the bitmap.
      list.splice(list.indexOf(successor), 1);
      return;
    }
    // Abdicated: the successor takes the name, in its own place in the list.
    list.splice(list.indexOf(b), 1);
    successor.name = b.name;
    if (succeeded) successor.dirtyFrom = undefined;
    else if (!synced.onlyDirty) successor.dirtyFrom = copiedTo;
    else if (b.dirtyFrom !== undefined && b.dirtyFrom + copiedTo < this.#size) {
      // It copied the first `copiedTo` of the bitmap's dirty bytes.
      successor.dirtyFrom = b.dirtyFrom + copiedTo;
    } else successor.dirtyFrom = undefined;
  }
}
