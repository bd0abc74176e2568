// The bits of a dirty bitmap: which granules (granularity-sized pieces of the node) are dirty,
// kept as sorted, disjoint, non-adjacent runs. A guest that writes a few places of a terabyte
// node costs a few runs, not a bit per granule.

/** A run of dirty granules: [start, end) in granule indices. */
export interface GranuleRun {
  readonly start: number;
  readonly end: number;
}

export class GranuleSet {
  /** Sorted, disjoint, never touching (adjacent runs are joined). */
  #runs: GranuleRun[] = [];

  /** Number of dirty granules. */
  get count(): number {
    let n = 0;
    for (const r of this.#runs) n += r.end - r.start;
    return n;
  }

  get isEmpty(): boolean {
    return this.#runs.length === 0;
  }

  runs(): readonly GranuleRun[] {
    return this.#runs;
  }

  clone(): GranuleSet {
    const copy = new GranuleSet();
    copy.#runs = [...this.#runs];
    return copy;
  }

  clear(): void {
    this.#runs = [];
  }

  /** Puts back what `other` holds (a backup taken with clone()). */
  restore(other: GranuleSet): void {
    this.#runs = [...other.#runs];
  }

  /** Marks granules [start, end) dirty. */
  add(start: number, end: number): void {
    if (end <= start) return;
    const out: GranuleRun[] = [];
    let s = start;
    let e = end;
    let placed = false;
    for (const r of this.#runs) {
      if (r.end < s) out.push(r);
      else if (r.start > e) {
        if (!placed) {
          out.push({ start: s, end: e });
          placed = true;
        }
        out.push(r);
      } else {
        s = Math.min(s, r.start);
        e = Math.max(e, r.end);
      }
    }
    if (!placed) out.push({ start: s, end: e });
    this.#runs = out;
  }

  /** Clears granules [start, end). */
  remove(start: number, end: number): void {
    if (end <= start) return;
    const out: GranuleRun[] = [];
    for (const r of this.#runs) {
      if (r.end <= start || r.start >= end) {
        out.push(r);
        continue;
      }
      if (r.start < start) out.push({ start: r.start, end: start });
      if (r.end > end) out.push({ start: end, end: r.end });
    }
    this.#runs = out;
  }

  /** Adds every granule of `other`. */
  union(other: GranuleSet): void {
    for (const r of other.#runs) this.add(r.start, r.end);
  }
}
