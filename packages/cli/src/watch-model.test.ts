// The model fed with QEMU 7.2's mirror sequence (reference job-semantics §6.2: created, running,
// reply, ready + BLOCK_JOB_READY, job-complete, waiting, pending, BLOCK_JOB_COMPLETED,
// concluded, null) and query answers shaped like QEMU's JobInfo / BlockJobInfo.
import { describe, expect, test } from 'vitest';
import { WatchModel } from './watch-model.js';

const MiB = 1024 * 1024;
const status = (id: string, s: string) => ({ id, status: s });

describe('WatchModel', () => {
  test('one record per change through a mirror lifecycle, ending with status "null"', () => {
    const model = new WatchModel();
    const out = [
      ...model.event('JOB_STATUS_CHANGE', status('m1', 'created'), 0),
      ...model.event('JOB_STATUS_CHANGE', status('m1', 'running'), 1),
    ];
    const mark = model.mark();
    out.push(
      ...model.snapshot(
        [
          {
            id: 'm1',
            type: 'mirror',
            status: 'running',
            'current-progress': 16 * MiB,
            'total-progress': 64 * MiB,
          },
        ],
        [{ device: 'm1', type: 'mirror', speed: 0 }],
        mark,
        1000,
      ),
    );
    out.push(...model.event('JOB_STATUS_CHANGE', status('m1', 'ready'), 2000));
    out.push(
      ...model.event(
        'BLOCK_JOB_READY',
        { type: 'mirror', device: 'm1', len: 64 * MiB, offset: 64 * MiB, speed: 0 },
        2000,
      ),
    );
    for (const s of ['waiting', 'pending'])
      out.push(...model.event('JOB_STATUS_CHANGE', status('m1', s), 3000));
    out.push(
      ...model.event(
        'BLOCK_JOB_COMPLETED',
        { type: 'mirror', device: 'm1', len: 64 * MiB, offset: 64 * MiB, speed: 0 },
        3000,
      ),
    );
    for (const s of ['concluded', 'null'])
      out.push(...model.event('JOB_STATUS_CHANGE', status('m1', s), 3000));

    expect(out.map((r) => r.status)).toEqual([
      'created',
      'running',
      'running', // the snapshot brought type, progress and speed
      'ready',
      'ready', // BLOCK_JOB_READY brought offset = len
      'waiting',
      'pending',
      'concluded',
      'null',
    ]);
    expect(out[0]).toEqual({
      time: 0,
      id: 'm1',
      type: null,
      status: 'created',
      current: 0,
      total: 0,
      percent: null,
      rate: null,
      eta: null,
      speed: null,
      error: null,
    });
    expect(out[2]).toMatchObject({
      type: 'mirror',
      current: 16 * MiB,
      total: 64 * MiB,
      percent: 25,
      speed: 0,
    });
    expect(out[4]).toMatchObject({ current: 64 * MiB, percent: 100, eta: 0 });
    expect(out[8]).toMatchObject({ status: 'null', percent: 100 });
    expect(model.records()).toEqual([]);
    expect(model.idle()).toBe(true);
  });

  test('percent never goes back when the total grows (a ready mirror)', () => {
    const model = new WatchModel();
    const snap = (current: number, total: number, now: number) =>
      model.snapshot(
        [
          {
            id: 'm',
            type: 'mirror',
            status: 'ready',
            'current-progress': current,
            'total-progress': total,
          },
        ],
        [],
        model.mark(),
        now,
      );
    expect(snap(1024 * MiB, 1024 * MiB, 0)[0]?.percent).toBe(100);
    const grown = snap(1024 * MiB, 1028 * MiB, 1000);
    expect(grown[0]).toMatchObject({ total: 1028 * MiB, percent: 100 });
  });

  test('a stale snapshot does not undo a newer event, nor bring back a job that is gone', () => {
    const model = new WatchModel();
    model.event('JOB_STATUS_CHANGE', status('s1', 'created'), 0);
    model.event('JOB_STATUS_CHANGE', status('s1', 'running'), 0);
    const mark = model.mark();
    // Events read after the query was sent:
    model.event('JOB_STATUS_CHANGE', status('s1', 'waiting'), 1);
    const stale = model.snapshot(
      [
        {
          id: 's1',
          type: 'stream',
          status: 'running',
          'current-progress': 0,
          'total-progress': 8 * MiB,
        },
      ],
      undefined,
      mark,
      2,
    );
    expect(stale.map((r) => r.status)).toEqual(['waiting']);
    const mark2 = model.mark();
    model.event('JOB_STATUS_CHANGE', status('s1', 'null'), 3);
    expect(
      model.snapshot(
        [
          {
            id: 's1',
            type: 'stream',
            status: 'pending',
            'current-progress': 8 * MiB,
            'total-progress': 8 * MiB,
          },
        ],
        undefined,
        mark2,
        4,
      ),
    ).toEqual([]);
    expect(model.records()).toEqual([]);
  });

  test('a job missing from a snapshot (its events were missed) ends with a "null" record', () => {
    const model = new WatchModel();
    model.snapshot(
      [{ id: 'b1', type: 'backup', status: 'running', 'current-progress': 1, 'total-progress': 2 }],
      [],
      model.mark(),
      0,
    );
    const gone = model.snapshot([], [], model.mark(), 1);
    expect(gone).toMatchObject([{ id: 'b1', status: 'null' }]);
  });

  test('errors from BLOCK_JOB_COMPLETED and query-jobs; idle ignores concluded jobs', () => {
    const model = new WatchModel();
    model.event('JOB_STATUS_CHANGE', status('b1', 'aborting'), 0);
    const completed = model.event(
      'BLOCK_JOB_COMPLETED',
      {
        type: 'backup',
        device: 'b1',
        len: 64 * MiB,
        offset: 0,
        speed: 0,
        error: 'Input/output error',
      },
      0,
    );
    expect(completed[0]).toMatchObject({ type: 'backup', error: 'Input/output error' });
    model.event('JOB_STATUS_CHANGE', status('b1', 'concluded'), 0);
    expect(model.idle()).toBe(true);
    model.event('JOB_STATUS_CHANGE', status('c1', 'created'), 0);
    expect(model.idle()).toBe(false);
    expect(model.sawJobs).toBe(true);
  });

  test('a job announced in advance carries its type from its first record', () => {
    const model = new WatchModel();
    model.expectJob('b1', 'backup');
    expect(model.event('JOB_STATUS_CHANGE', status('b1', 'created'), 0)[0]).toMatchObject({
      type: 'backup',
      status: 'created',
    });
  });
});
