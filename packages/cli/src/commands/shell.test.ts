import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { eventLine, HISTORY_SIZE, readHistory, WireOrder, writeHistory } from './shell.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const tempFile = () => {
  const dir = mkdtempSync(join(tmpdir(), 'qmpkit-shell-'));
  dirs.push(dir);
  return join(dir, 'history');
};

describe('WireOrder', () => {
  test("events and the shell's own reply in decoded order; other replies are not shown", () => {
    const shown: string[] = [];
    const order = new WireOrder();
    order.onEvent = (e) => shown.push(`event ${e.event}`);
    order.onReply = (r) => shown.push(`reply ${JSON.stringify(r)}`);
    order.expectCommand();
    order.onEntry({
      direction: 'out',
      message: { execute: 'blockdev-mirror', id: 'x-1' },
      time: 0,
    });
    order.onEntry({ direction: 'in', message: { event: 'JOB_STATUS_CHANGE', data: {} }, time: 0 });
    order.onEntry({ direction: 'in', message: { return: {}, id: 'x-0' }, time: 0 }); // not ours
    order.onEntry({ direction: 'in', message: { return: {}, id: 'x-1' }, time: 0 });
    order.onEntry({ direction: 'in', message: { return: {}, id: 'x-1' }, time: 0 }); // only once
    order.commandSettled();
    expect(shown).toEqual(['event JOB_STATUS_CHANGE', 'reply {"return":{}}']);
  });

  test('messages before the screen is ready are held, then shown', () => {
    const shown: string[] = [];
    const order = new WireOrder();
    order.onEntry({ direction: 'in', message: { event: 'A' }, time: 0 });
    order.onEvent = (e) => shown.push(e.event);
    order.flush();
    expect(shown).toEqual(['A']);
  });
});

describe('history file', () => {
  test('oldest first on disk, newest first for readline, bounded, mode 0600', () => {
    const file = tempFile();
    writeHistory(file, ['c', 'b', 'a']);
    expect(readFileSync(file, 'utf8')).toBe('a\nb\nc\n');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readHistory(file)).toEqual(['c', 'b', 'a']);
    const many = Array.from({ length: HISTORY_SIZE + 5 }, (_, i) => `cmd ${i}`);
    writeFileSync(file, `${many.join('\n')}\n`);
    const read = readHistory(file);
    expect(read).toHaveLength(HISTORY_SIZE);
    expect(read[0]).toBe(`cmd ${HISTORY_SIZE + 4}`);
    expect(readHistory(join(file, 'missing'))).toEqual([]);
    expect(readHistory(undefined)).toEqual([]);
  });
});

describe('event lines', () => {
  test("QEMU's timestamp (UTC) and the data on one line", () => {
    expect(
      eventLine({
        event: 'JOB_STATUS_CHANGE',
        data: { id: 'm1', status: 'running' },
        timestamp: { seconds: 1795610564, microseconds: 993065 },
      }),
    ).toBe('[event 12:42:44.993] JOB_STATUS_CHANGE {"id":"m1","status":"running"}');
    // qmp-protocol §9: both -1 on clock failure.
    expect(eventLine({ event: 'STOP', timestamp: { seconds: -1, microseconds: -1 } })).toBe(
      '[event] STOP',
    );
  });
});
