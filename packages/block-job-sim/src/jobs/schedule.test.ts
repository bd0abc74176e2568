// The closed-form schedule against QEMU's own loop: include/qemu/ratelimit.h transcribed
// (rateLimitDelay) and stepped chunk by chunk with exact wake-ups, as a job coroutine does.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  arriveAt,
  chunkDoneAt,
  lastChunkDoneBy,
  newRateLimit,
  type Plan,
  rateLimitAfter,
  rateLimitDelay,
  SLICE_NS,
  sliceQuota,
  WorkList,
} from './schedule.js';

const MiB = 1024 * 1024;

describe('ratelimit.h', () => {
  test('quota per 100 ms slice, truncated, at least 1 byte', () => {
    expect(sliceQuota(0)).toBe(0);
    expect(sliceQuota(1)).toBe(1);
    expect(sliceQuota(4 * MiB)).toBe(419430);
    expect(sliceQuota(10 * MiB)).toBe(1048576);
  });

  test('the first request passes; an oversized one is paid for with a long sleep', () => {
    const limit = newRateLimit();
    const quota = sliceQuota(10 * MiB);
    expect(rateLimitDelay(limit, quota, 1000, 16 * MiB)).toBe(16 * SLICE_NS);
    // Woken exactly at the slice end, the slice is not reset: the next chunk adds to it.
    expect(rateLimitDelay(limit, quota, 1000 + 16 * SLICE_NS, 16 * MiB)).toBe(16 * SLICE_NS);
    // Late (after the slice end): a fresh slice.
    expect(rateLimitDelay(limit, quota, 1000 + 64 * SLICE_NS, MiB / 2)).toBe(0);
    expect(limit).toEqual({
      sliceStart: 1000 + 64 * SLICE_NS,
      sliceEnd: 1000 + 65 * SLICE_NS,
      dispatched: MiB / 2,
    });
  });
});

describe('WorkList', () => {
  test('chunks never span extents; skipped bytes sit where the loop reaches them', () => {
    const work = new WorkList(
      [
        { copy: false, length: 100 },
        { copy: true, length: 250 },
        { copy: false, length: 50 },
        { copy: true, length: 100 },
        { copy: false, length: 30 },
      ],
      100,
    );
    expect(work.totalCopy).toBe(350);
    expect(work.totalSkip).toBe(180);
    expect(work.chunkCount).toBe(4);
    expect([0, 1, 2, 3].map((k) => work.chunk(k))).toEqual([
      { index: 0, pos: 0, bytes: 100, device: 100 },
      { index: 1, pos: 100, bytes: 100, device: 200 },
      { index: 2, pos: 200, bytes: 50, device: 300 },
      { index: 3, pos: 250, bytes: 100, device: 400 },
    ]);
    expect(work.hasTrailingSkip).toBe(true);
    expect(work.progressAt(0, false)).toBe(0);
    expect(work.progressAt(0, true)).toBe(100);
    expect(work.progressAt(250, false)).toBe(350);
    expect(work.progressAt(350, true)).toBe(530);
    expect(work.copyPositionOf(420)).toBe(270);
    expect(work.copyPositionOf(370)).toBeUndefined();
    expect(work.chunkIndexAt(260)).toBe(3);
  });
});

/** QEMU's loop: issue a chunk, account it, sleep the delay (waking exactly on time). */
function stepped(quota: number, chunks: readonly number[], start: number): number[] {
  const limit = newRateLimit();
  const issued: number[] = [];
  let now = start;
  for (const bytes of chunks) {
    issued.push(now);
    now += rateLimitDelay(limit, quota, now, bytes);
  }
  return issued;
}

describe('Plan', () => {
  test('the closed form issues every chunk when QEMU’s stepped loop does', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 34 }),
        fc.integer({ min: 512, max: 64 * MiB }),
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 1, max: 2 ** 40 }),
        (speed, chunkSize, count, start) => {
          const quota = sliceQuota(speed);
          const work = new WorkList([{ copy: true, length: chunkSize * count }], chunkSize);
          const plan: Plan = {
            start,
            base: 0,
            firstChunk: 0,
            quota,
            sigma: start,
            dispatched0: 0,
            nsPerByte: 0,
          };
          const expected = stepped(quota, Array(count).fill(chunkSize), start);
          for (let k = 0; k < count; k++) {
            expect(chunkDoneAt(plan, work.chunk(k))).toBe(expected[k]);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  test('lastChunkDoneBy inverts the schedule', () => {
    const quota = sliceQuota(16 * MiB);
    const work = new WorkList([{ copy: true, length: 160 * MiB }], 16 * MiB);
    const plan: Plan = {
      start: 0,
      base: 0,
      firstChunk: 0,
      quota,
      sigma: 0,
      dispatched0: 0,
      nsPerByte: 0,
    };
    // Chunk k is issued at trunc(k * 16 MiB / 1677721 * 1e8) ns.
    expect(arriveAt(plan, 16 * MiB)).toBe(Math.trunc(((16 * MiB) / 1677721) * 1e8));
    expect(lastChunkDoneBy(work, plan, 0, work.chunkCount)).toBe(0);
    expect(lastChunkDoneBy(work, plan, 3_100_000_000, work.chunkCount)).toBe(3);
    expect(lastChunkDoneBy(work, plan, 3_100_000_000, 2)).toBe(1);
    expect(rateLimitAfter(plan, 64 * MiB, newRateLimit())).toEqual({
      sliceStart: 0,
      sliceEnd: Math.trunc(((64 * MiB) / quota) * SLICE_NS),
      dispatched: 64 * MiB,
    });
  });

  test('unthrottled: the device moves nsPerByte per byte', () => {
    const work = new WorkList([{ copy: true, length: 4 * MiB }], MiB);
    const plan: Plan = {
      start: 10,
      base: 0,
      firstChunk: 0,
      quota: 0,
      sigma: 0,
      dispatched0: 0,
      nsPerByte: 1e9 / (1024 * MiB),
    };
    expect(chunkDoneAt(plan, work.chunk(0))).toBe(10 + 976562);
    expect(lastChunkDoneBy(work, plan, 10 + 3_906_250, work.chunkCount)).toBe(3);
  });
});
