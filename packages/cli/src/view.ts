/**
 * Terminal output of live jobs: one line per job redrawn in place (ANSI cursor movement), and
 * lines that stay (a job that ended) printed above them. The cursor is hidden while drawing and
 * shown again by `close()`.
 */
import type { Output } from './io.js';
import {
  formatBytes,
  formatEta,
  formatPercent,
  formatRate,
  formatSpeedLimit,
  progressBar,
} from './render.js';
import type { WatchRecord } from './watch-model.js';

export const HIDE_CURSOR = '\x1b[?25l';
export const SHOW_CURSOR = '\x1b[?25h';

/** The live line of one job. */
export function jobLine(record: WatchRecord, barWidth = 24): string {
  const fraction = record.percent === null ? 0 : record.percent / 100;
  const parts = [
    record.id,
    record.type ?? '?',
    record.status,
    progressBar(fraction, barWidth),
    formatPercent(record.percent).padStart(6),
    `${formatBytes(record.current)} / ${formatBytes(record.total)}`,
    formatRate(record.rate),
    `ETA ${formatEta(record.eta)}`,
  ];
  if (record.speed !== null) parts.push(`limit ${formatSpeedLimit(record.speed)}`);
  if (record.error !== null) parts.push(`error: ${record.error}`);
  return parts.join('  ');
}

/**
 * The line that stays once a job is gone. `aborted`: the job went through `aborting` (a
 * failure, or a hard cancel; a soft-cancelled mirror completes without it).
 */
export function endedLine(record: WatchRecord, aborted = false): string {
  let outcome: string;
  if (record.error !== null && record.error !== 'Operation canceled') {
    outcome = `failed: ${record.error}`;
  } else if (aborted || record.error !== null) {
    outcome = 'cancelled';
  } else {
    outcome = 'completed';
  }
  return `${record.id}  ${record.type ?? '?'}  ${outcome}  ${formatPercent(record.percent)}  ${formatBytes(record.current)}`;
}

export class LiveView {
  private liveLines = 0;
  private started = false;

  constructor(private readonly out: Output) {}

  /** Prints `stay` lines once, then redraws the `live` block below them. */
  draw(stay: readonly string[], live: readonly string[]): void {
    const width = Math.max(20, (this.out.columns ?? 100) - 1);
    const fit = (line: string) => (line.length > width ? `${line.slice(0, width - 1)}…` : line);
    let text = this.started ? '' : HIDE_CURSOR;
    this.started = true;
    if (this.liveLines > 0) text += `\x1b[${this.liveLines}A`;
    text += '\r';
    for (const line of [...stay, ...live]) text += `\x1b[2K${fit(line)}\n`;
    text += '\x1b[J';
    this.liveLines = live.length;
    this.out.write(text);
  }

  /** Leaves the last drawing on screen and shows the cursor again. */
  close(): void {
    if (this.started) this.out.write(SHOW_CURSOR);
    this.started = false;
  }
}
