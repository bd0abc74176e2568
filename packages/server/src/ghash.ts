/**
 * Which unknown argument QEMU names first.
 *
 * QEMU's input visitor copies the keys of each arguments object into a GLib string hash table,
 * removes each key as the schema consumes it, and reports the first key the table's iterator
 * yields among those left over (`Parameter 'x' is unexpected`). So with several unknown keys the
 * one reported follows GLib's open-addressing layout, not the input order. This module
 * reproduces that layout — GLib's `g_str_hash`, its index function and quadratic probing,
 * tombstones, and its grow/shrink rules — for the handful of keys an arguments object has.
 */

const UNUSED = 0;
const TOMBSTONE = 1;
const MIN_SHIFT = 3;

/** GLib's prime moduli by table shift (`prime_mod` in ghash.c). */
const PRIME_MOD = [
  1, 2, 3, 7, 13, 31, 61, 127, 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071,
  262139, 524287, 1048573, 2097143, 4194301, 8388593, 16777213, 33554393, 67108859, 134217689,
  268435399, 536870909, 1073741789, 2147483647,
];

const encoder = new TextEncoder();

/** `g_str_hash`: djb2 over the UTF-8 bytes read as signed chars, in 32-bit arithmetic. */
export function gStrHash(key: string): number {
  let h = 5381;
  for (const byte of encoder.encode(key)) {
    const signed = byte >= 0x80 ? byte - 0x100 : byte;
    h = (Math.imul(h, 33) + signed) >>> 0;
  }
  return h;
}

function closestShift(n: number): number {
  let i = 0;
  for (let v = Math.floor(n); v > 0; v = Math.floor(v / 2)) i++;
  return i;
}

/** A GLib `GHashTable` reduced to what decides iteration order: hashes and keys. */
export class GHashKeySet {
  private shift = MIN_SHIFT;
  private size = 1 << MIN_SHIFT;
  private mod = PRIME_MOD[MIN_SHIFT]!;
  private mask = (1 << MIN_SHIFT) - 1;
  private hashes: number[] = new Array<number>(this.size).fill(UNUSED);
  private keys: (string | undefined)[] = new Array<string | undefined>(this.size);
  private nnodes = 0;
  private noccupied = 0;

  private toIndex(hash: number): number {
    return (Math.imul(hash, 11) >>> 0) % this.mod;
  }

  private static hashOf(key: string): number {
    const h = gStrHash(key);
    return Math.max(h, 2);
  }

  /** Index of `key`, or of the slot where it would go (first tombstone or unused). */
  private lookup(key: string, hash: number): { index: number; found: boolean } {
    let index = this.toIndex(hash);
    let nodeHash = this.hashes[index]!;
    let firstTombstone = -1;
    let step = 0;
    while (nodeHash !== UNUSED) {
      if (nodeHash === hash) {
        if (this.keys[index] === key) return { index, found: true };
      } else if (nodeHash === TOMBSTONE && firstTombstone < 0) {
        firstTombstone = index;
      }
      step++;
      index = (index + step) & this.mask;
      nodeHash = this.hashes[index]!;
    }
    return { index: firstTombstone >= 0 ? firstTombstone : index, found: false };
  }

  add(key: string): void {
    const hash = GHashKeySet.hashOf(key);
    const { index, found } = this.lookup(key, hash);
    if (found) return;
    const old = this.hashes[index]!;
    this.hashes[index] = hash;
    this.keys[index] = key;
    this.nnodes++;
    if (old === UNUSED) {
      this.noccupied++;
      this.maybeResize();
    }
  }

  remove(key: string): boolean {
    const { index, found } = this.lookup(key, GHashKeySet.hashOf(key));
    if (!found) return false;
    this.hashes[index] = TOMBSTONE;
    this.keys[index] = undefined;
    this.nnodes--;
    this.maybeResize();
    return true;
  }

  /** The key GLib's iterator yields first, if any. */
  first(): string | undefined {
    for (let i = 0; i < this.size; i++) if (this.hashes[i]! >= 2) return this.keys[i];
    return undefined;
  }

  /** Every key in iteration order. */
  ordered(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.size; i++) if (this.hashes[i]! >= 2) out.push(this.keys[i]!);
    return out;
  }

  private maybeResize(): void {
    const size = this.size;
    const occupied = this.noccupied;
    if (
      (size > this.nnodes * 4 && size > 1 << MIN_SHIFT) ||
      size <= occupied + Math.floor(occupied / 16)
    ) {
      this.resize();
    }
  }

  /** GLib's in-place rehash: old slots in index order, evicting unprocessed occupants. */
  private resize(): void {
    const oldSize = this.size;
    this.shift = Math.max(closestShift(this.nnodes * 1.333), MIN_SHIFT);
    this.size = 1 << this.shift;
    this.mod = PRIME_MOD[this.shift]!;
    this.mask = this.size - 1;
    if (this.size > oldSize) {
      for (let i = oldSize; i < this.size; i++) {
        this.hashes[i] = UNUSED;
        this.keys[i] = undefined;
      }
    }
    const relocated = new Uint8Array(Math.max(this.size, oldSize));
    for (let i = 0; i < oldSize; i++) {
      let nodeHash = this.hashes[i]!;
      if (nodeHash < 2) {
        this.hashes[i] = UNUSED;
        continue;
      }
      if (relocated[i]) continue;
      this.hashes[i] = UNUSED;
      let key = this.keys[i];
      this.keys[i] = undefined;
      for (;;) {
        let index = this.toIndex(nodeHash);
        let step = 0;
        while (relocated[index]) {
          step++;
          index = (index + step) & this.mask;
        }
        relocated[index] = 1;
        const replaced = this.hashes[index]!;
        const replacedKey = this.keys[index];
        this.hashes[index] = nodeHash;
        this.keys[index] = key;
        if (replaced < 2) break;
        nodeHash = replaced;
        key = replacedKey;
      }
    }
    this.hashes.length = this.size;
    this.keys.length = this.size;
    this.noccupied = this.nnodes;
  }
}
