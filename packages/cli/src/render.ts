/**
 * Text for people: sizes, rates, ETAs, progress bars and the `jobs` table. Pure functions.
 */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'] as const;

/** `67108864` → `64.0 MiB`; bytes below 1 KiB as an integer (`512 B`). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '-';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** A rate in bytes per second (`12.0 MiB/s`), or `-` when unknown. */
export function formatRate(bytesPerSecond: number | null | undefined): string {
  if (bytesPerSecond === null || bytesPerSecond === undefined) return '-';
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** A job's speed limit: QEMU's `0` means unlimited. */
export function formatSpeedLimit(speed: number | null | undefined): string {
  if (speed === null || speed === undefined) return '-';
  return speed === 0 ? 'unlimited' : formatRate(speed);
}

/** Seconds to go as `m:ss` or `h:mm:ss`; `--:--` when unknown. */
export function formatEta(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) {
    return '--:--';
  }
  const total = Math.ceil(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** A percentage with one decimal (`45.2%`), or `-` when unknown. */
export function formatPercent(percent: number | null | undefined): string {
  if (percent === null || percent === undefined) return '-';
  return `${percent.toFixed(1)}%`;
}

/**
 * A bar `width` characters wide between brackets: `#` for the done part, `.` for the rest.
 * `fraction` is clamped to [0, 1]; a cell is filled only once it is wholly done.
 */
export function progressBar(fraction: number, width = 30): string {
  const clamped = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const cells = Math.max(1, Math.floor(width));
  const done = Math.floor(clamped * cells);
  return `[${'#'.repeat(done)}${'.'.repeat(cells - done)}]`;
}

/** Percent with one decimal, rounded down so that 100.0 means done. */
export function percentOf(fraction: number): number {
  return Math.floor(Math.min(1, Math.max(0, fraction)) * 1000) / 10;
}

/** One job as `qmpkit jobs` shows it (and `--json` prints it). */
export interface JobRow {
  id: string;
  type: string;
  status: string;
  current: number;
  total: number;
  /** `current / total` in percent (one decimal); null when the total is 0. */
  percent: number | null;
  /** Speed limit in bytes/s (0 = unlimited); null for jobs that are not block jobs. */
  speed: number | null;
  /** QEMU's error text; null when the job has none. */
  error: string | null;
}

/** Lays out rows in columns, the header first. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** The `qmpkit jobs` table. */
export function jobsTable(rows: readonly JobRow[]): string {
  if (rows.length === 0) return 'no jobs';
  return table(
    ['ID', 'TYPE', 'STATUS', 'PROGRESS', 'SPEED', 'ERROR'],
    rows.map((row) => [
      row.id,
      row.type,
      row.status,
      `${formatPercent(row.percent)} (${formatBytes(row.current)} / ${formatBytes(row.total)})`,
      formatSpeedLimit(row.speed),
      row.error ?? '',
    ]),
  );
}
