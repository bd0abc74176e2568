import { describe, expect, test } from 'vitest';
import { BlkdebugState, blkdebugRule } from './blkdebug.js';

// Semantics from QEMU 7.2 block/blkdebug.c; the three scenarios below were run with qemu-io 7.2
// over `raw` on `blkdebug` on `null-co` (raw raises read_aio/write_aio on its file before each
// request), and the conformance test replays them against qemu-io.

/** What raw over blkdebug does for one request: raise the event, then issue the request. */
function request(state: BlkdebugState, kind: 'read' | 'write', offset: number, bytes: number) {
  state.event(kind === 'read' ? 'read_aio' : 'write_aio');
  return state.check(kind, offset, bytes)?.errno ?? 0;
}

describe('BlkdebugState', () => {
  test('defaults: EIO, any sector, every request type but block-status', () => {
    expect(blkdebugRule({ event: 'read_aio' })).toEqual({
      event: 'read_aio',
      state: 0,
      iotypes: ['read', 'write', 'write-zeroes', 'discard', 'flush'],
      errno: 5,
      offset: -1,
      once: false,
      immediately: false,
    });
  });

  test('sector and once: only requests covering the sector fail, and only the first', () => {
    const state = new BlkdebugState([{ event: 'read_aio', once: true, sector: 8 }]);
    expect(request(state, 'read', 0, 512)).toBe(0);
    expect(request(state, 'read', 4096, 512)).toBe(5);
    expect(request(state, 'read', 4096, 512)).toBe(0);
    expect(request(state, 'read', 0, 8192)).toBe(0);
    expect(state.rules()).toEqual([]);
  });

  test('each event replaces the armed rules; iotype restricts what fails', () => {
    const state = new BlkdebugState([
      { event: 'write_aio', errno: 28 },
      { event: 'read_aio', errno: 5, iotype: 'write' },
    ]);
    expect(request(state, 'read', 0, 512)).toBe(0);
    expect(request(state, 'write', 0, 512)).toBe(28);
    expect(request(state, 'write', 0, 512)).toBe(28);
    expect(request(state, 'read', 0, 512)).toBe(0);
  });

  test('set-state: rules are matched against the state before the event', () => {
    const state = new BlkdebugState(
      [{ event: 'read_aio', state: 2 }],
      [{ event: 'read_aio', new_state: 2 }],
    );
    expect(request(state, 'read', 0, 512)).toBe(0);
    expect(state.state).toBe(2);
    expect(request(state, 'read', 0, 512)).toBe(5);
    expect(request(state, 'read', 0, 512)).toBe(5);
  });

  test('with several armed rules the one listed first wins; errno 0 injects nothing', () => {
    const state = new BlkdebugState([
      { event: 'read_aio', errno: 0, sector: 0 },
      { event: 'read_aio', errno: 28 },
    ]);
    expect(request(state, 'read', 0, 512)).toBe(0);
    expect(request(state, 'read', 512, 512)).toBe(28);
  });
});
