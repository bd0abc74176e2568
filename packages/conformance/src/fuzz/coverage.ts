// The status × verb coverage table: how many times each verb variant was applied to a job in each
// status (or to an id that never existed, or was dismissed), over every case run.

import {
  COVERED_STATUSES,
  type Coverage,
  type CoveredStatus,
  IO_COLUMNS,
  IO_ROWS,
  type IoColumn,
  type IoCoverage,
  type IoRow,
  VERBS,
  type Verb,
} from './vocabulary.js';

export class CoverageTable {
  readonly #counts = new Map<string, number>();

  add(entries: readonly Coverage[]): void {
    for (const { status, verb } of entries) {
      const key = `${status}\u0000${verb}`;
      this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
    }
  }

  count(status: CoveredStatus, verb: Verb): number {
    return this.#counts.get(`${status}\u0000${verb}`) ?? 0;
  }

  /** The cells still at zero, as `status × verb`. */
  gaps(statuses: readonly CoveredStatus[] = COVERED_STATUSES): string[] {
    const gaps: string[] = [];
    for (const status of statuses) {
      for (const verb of VERBS) {
        if (verb.startsWith('query-')) continue;
        if (this.count(status, verb) === 0) gaps.push(`${status} × ${verb}`);
      }
    }
    return gaps;
  }

  /** A plain-text table: statuses down, verb variants across (abbreviated, with a legend). */
  render(): string {
    const verbs = VERBS.filter((v) => !v.startsWith('query-'));
    const short = verbs.map((v) =>
      v
        .replace('block-job-', 'bj-')
        .replace('set-speed-positive', 'speed+')
        .replace('set-speed-zero', 'speed0')
        .replace('set-speed-negative', 'speed-'),
    );
    const widths = short.map((s) => Math.max(s.length, 4));
    const header = `${'status'.padEnd(10)} ${short.map((s, i) => s.padStart(widths[i] as number)).join(' ')}`;
    const rows = COVERED_STATUSES.map(
      (status) =>
        `${status.padEnd(10)} ${verbs
          .map((v, i) => String(this.count(status, v)).padStart(widths[i] as number))
          .join(' ')}`,
    );
    return [
      header,
      ...rows,
      '(bj- = block-job-; speed+/0/- = block-job-set-speed positive/zero/negative)',
    ].join('\n');
  }
}

/**
 * The io family's table: what each io action did (columns) × the status of the job holding the
 * node it touched, or `none` (rows). query-nodes counts each filter node it listed, by its job.
 */
export class IoCoverageTable {
  readonly #counts = new Map<string, number>();

  add(entries: readonly IoCoverage[]): void {
    for (const { row, column } of entries) {
      const key = `${row}\u0000${column}`;
      this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
    }
  }

  count(row: IoRow, column: IoColumn): number {
    return this.#counts.get(`${row}\u0000${column}`) ?? 0;
  }

  get total(): number {
    let sum = 0;
    for (const n of this.#counts.values()) sum += n;
    return sum;
  }

  /** The cells at zero among `rows` × `columns`, as `row × column`. */
  gaps(rows: readonly IoRow[], columns: readonly IoColumn[] = IO_COLUMNS): string[] {
    return rows.flatMap((row) =>
      columns.filter((c) => this.count(row, c) === 0).map((c) => `${row} × ${c}`),
    );
  }

  render(): string {
    const widths = IO_COLUMNS.map((c) => Math.max(c.length, 4));
    const header = `${'job'.padEnd(10)} ${IO_COLUMNS.map((c, i) => c.padStart(widths[i] as number)).join(' ')}`;
    const rows = IO_ROWS.map(
      (row) =>
        `${row.padEnd(10)} ${IO_COLUMNS.map((c, i) => String(this.count(row, c)).padStart(widths[i] as number)).join(' ')}`,
    );
    return [
      header,
      ...rows,
      '(rows: the status of the job holding the node the action touched; none: no job holds it)',
    ].join('\n');
  }
}
