/**
 * The recording file. Each line is written whole with one synchronous write, so whatever ends the
 * program — Ctrl-C, SIGTERM, a crash after the line — the file holds complete lines only, and a
 * line is on disk (in the kernel's hands) before the proxy moves on. Created mode 0600: a session
 * can carry secrets (passwords in `blockdev-add`, `object-add` keys).
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import {
  formatEntryLine,
  formatMessageLine,
  formatRecordingHeader,
  type JsonValue,
  type RecordDirection,
  type RecordEntry,
  type RecordMessage,
} from '@qmpkit/protocol';

export class RecordFile {
  private fd: number | undefined;
  private readonly origin = process.hrtime.bigint();

  constructor(
    readonly path: string,
    header: { readonly upstream: string; readonly listen: string },
  ) {
    this.fd = openSync(path, 'w', 0o600);
    this.write(formatRecordingHeader({ started: new Date().toISOString(), ...header }));
  }

  /** Nanoseconds since the recording started (monotonic). */
  now(): number {
    return Number(process.hrtime.bigint() - this.origin);
  }

  message(conn: number, dir: RecordDirection, msg: JsonValue, raw: string): void {
    this.write(formatMessageLine(this.now(), conn, dir, msg, raw));
  }

  entry(entry: Exclude<RecordEntry, RecordMessage>): void {
    this.write(formatEntryLine(entry));
  }

  /** Flushes to the disk and closes; idempotent. */
  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  private write(line: string): void {
    if (this.fd === undefined) return;
    // writeSync may write less than asked (a full disk, a signal): keep going until all is out.
    const bytes = Buffer.from(line, 'utf8');
    let done = 0;
    while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done);
  }
}
