import { describe, expect, test } from 'vitest';
import { ByteReader, EndOfStreamError } from './byte-stream.js';

describe('ByteReader', () => {
  test('hands out exact sizes across chunk boundaries', async () => {
    const reader = new ByteReader();
    reader.push(new Uint8Array([1, 2, 3]));
    reader.push(new Uint8Array([4, 5]));
    expect([...(await reader.read(4))]).toEqual([1, 2, 3, 4]);
    const pending = reader.read(3);
    reader.push(new Uint8Array([6, 7]));
    expect([...(await pending)]).toEqual([5, 6, 7]);
    expect(reader.buffered).toBe(0);
  });

  test('skips without keeping the bytes, and fails a read the end cuts short', async () => {
    const reader = new ByteReader({ highWaterMark: 4 });
    const skipped = reader.skip(10);
    for (let i = 0; i < 5; i++) reader.push(new Uint8Array(2));
    await skipped;
    reader.push(new Uint8Array([9]));
    const short = reader.read(2);
    reader.end();
    await expect(short).rejects.toBeInstanceOf(EndOfStreamError);
    // What arrived before the end can still be read; then nothing more.
    expect([...(await reader.read(1))]).toEqual([9]);
    await expect(reader.read(1)).rejects.toBeInstanceOf(EndOfStreamError);
  });

  test('pauses its feeder past the high-water mark, or past the read it waits for', async () => {
    const events: string[] = [];
    const reader = new ByteReader({
      highWaterMark: 8,
      flow: { pause: () => events.push('pause'), resume: () => events.push('resume') },
    });
    reader.push(new Uint8Array(6));
    expect(events).toEqual([]);
    reader.push(new Uint8Array(6));
    expect(events).toEqual(['pause']);
    await reader.read(10);
    expect(events).toEqual(['pause', 'resume']);
    // A read larger than the mark lets the buffer grow to its size, no further.
    const big = reader.read(20);
    reader.push(new Uint8Array(12));
    expect(events).toEqual(['pause', 'resume']);
    reader.push(new Uint8Array(6));
    await big;
    expect(reader.buffered).toBe(0);
  });

  test('refuses a second read while one waits', async () => {
    const reader = new ByteReader();
    const first = reader.read(1);
    await expect(reader.read(1)).rejects.toThrow(/already waiting/);
    reader.push(new Uint8Array([1]));
    await first;
  });
});
