import { qmpSchema } from '@qmpkit/qapi-types/7.2';
import { describe, expect, test } from 'vitest';
import { MisuseLinter } from './linter.js';

function linter(minPollIntervalMs = 100) {
  let now = 0;
  const l = new MisuseLinter({ schema: qmpSchema, minPollIntervalMs, now: () => now });
  return { l, advance: (ms: number) => (now += ms), rules: () => l.findings().map((f) => f.rule) };
}

/** A job's JOB_STATUS_CHANGE events up to `last` (job-semantics.md §3 sequences). */
function statuses(l: MisuseLinter, id: string, list: string[]) {
  for (const status of list) l.event('JOB_STATUS_CHANGE', { status, id });
}

/** A client starting a job as QEMU runs it: command, created/running events, reply. */
function start(l: MisuseLinter, client: number, name: string, args: Record<string, unknown>) {
  l.command(client, name, args);
  const id = (args['job-id'] ?? args.device) as string;
  statuses(l, id, ['created', 'running']);
  l.replied(client, name, args, true);
}

describe('the misuse linter', () => {
  test('concluded-not-dismissed: reported when its client leaves, once; not after job-dismiss', () => {
    const { l, rules } = linter();
    start(l, 1, 'blockdev-backup', {
      'job-id': 'b1',
      device: 'a',
      target: 'b',
      sync: 'full',
      'auto-dismiss': false,
    });
    start(l, 1, 'blockdev-backup', {
      'job-id': 'b2',
      device: 'a',
      target: 'c',
      sync: 'full',
      'auto-dismiss': false,
    });
    statuses(l, 'b1', ['waiting', 'pending', 'concluded']);
    statuses(l, 'b2', ['waiting', 'pending', 'concluded']);
    l.command(1, 'job-dismiss', { id: 'b2' });
    statuses(l, 'b2', ['null']);
    l.replied(1, 'job-dismiss', { id: 'b2' }, true);
    expect(rules()).toEqual([]);
    l.clientLeft(1);
    l.finish();
    expect(l.findings()).toEqual([
      expect.objectContaining({ rule: 'concluded-not-dismissed', client: 1, job: 'b1' }),
    ]);
  });

  test('concluded-not-dismissed at exit for a job of a client still connected', () => {
    const { l } = linter();
    start(l, 2, 'blockdev-backup', {
      'job-id': 'b1',
      device: 'a',
      target: 'b',
      sync: 'full',
      'auto-dismiss': false,
    });
    statuses(l, 'b1', ['waiting', 'pending', 'concluded']);
    l.finish();
    expect(l.findings()).toEqual([
      expect.objectContaining({ rule: 'concluded-not-dismissed', client: undefined, job: 'b1' }),
    ]);
  });

  test('complete-before-ready, for job-complete and block-job-complete; fine once ready', () => {
    const { l, rules } = linter();
    start(l, 1, 'blockdev-mirror', { 'job-id': 'm1', device: 'a', target: 'b', sync: 'full' });
    l.command(1, 'job-complete', { id: 'm1' });
    l.command(1, 'block-job-complete', { device: 'm1' });
    expect(rules()).toEqual(['complete-before-ready', 'complete-before-ready']);
    expect(l.findings()[0]?.message).toContain('while it is running, not ready');
    statuses(l, 'm1', ['ready']);
    l.command(1, 'job-complete', { id: 'm1' });
    expect(rules()).toHaveLength(2);
  });

  test('error-not-read: a failed job dismissed without query-jobs since; not when read, not when cancelled', () => {
    const { l, rules } = linter();
    for (const id of ['f1', 'f2', 'c1']) {
      start(l, 1, 'blockdev-backup', {
        'job-id': id,
        device: 'a',
        target: 'b',
        sync: 'full',
        'auto-dismiss': false,
      });
    }
    l.command(1, 'job-cancel', { id: 'c1' });
    for (const id of ['f1', 'f2', 'c1']) statuses(l, id, ['aborting', 'concluded']);
    l.command(1, 'query-jobs', {});
    l.replied(1, 'query-jobs', {}, true);
    start(l, 1, 'blockdev-backup', {
      'job-id': 'f3',
      device: 'a',
      target: 'b',
      sync: 'full',
      'auto-dismiss': false,
    });
    statuses(l, 'f3', ['aborting', 'concluded']);
    for (const id of ['f1', 'c1', 'f3']) l.command(1, 'job-dismiss', { id });
    // Another client never read f2's error.
    l.command(2, 'job-dismiss', { id: 'f2' });
    expect(l.findings().map((f) => [f.rule, f.client, f.job])).toEqual([
      ['error-not-read', 1, 'f3'],
      ['error-not-read', 2, 'f2'],
    ]);
    expect(rules()).toHaveLength(2);
  });

  test("reply-not-completion: deleting a job's node while it runs; fine once concluded", () => {
    const { l } = linter();
    start(l, 1, 'blockdev-backup', { 'job-id': 'b1', device: 'src', target: 'tgt', sync: 'full' });
    l.command(1, 'blockdev-del', { 'node-name': 'tgt' });
    l.command(1, 'blockdev-del', { 'node-name': 'other' });
    expect(l.findings().map((f) => [f.rule, f.job, f.command])).toEqual([
      ['reply-not-completion', 'b1', 'blockdev-del'],
    ]);
    statuses(l, 'b1', ['waiting', 'pending', 'concluded', 'null']);
    l.command(1, 'blockdev-del', { 'node-name': 'tgt' });
    expect(l.findings()).toHaveLength(1);
  });

  test('poll-too-fast: per client and command, reported once; the interval is configurable', () => {
    const { l, advance } = linter(250);
    l.command(1, 'query-jobs', {});
    advance(300);
    l.command(1, 'query-jobs', {});
    l.command(2, 'query-jobs', {});
    expect(l.findings()).toEqual([]);
    advance(100);
    l.command(1, 'query-jobs', {});
    advance(1);
    l.command(1, 'query-jobs', {});
    l.command(1, 'query-block-jobs', {});
    advance(10);
    l.command(1, 'query-block-jobs', {});
    expect(l.findings().map((f) => [f.rule, f.client, f.command])).toEqual([
      ['poll-too-fast', 1, 'query-jobs'],
      ['poll-too-fast', 1, 'query-block-jobs'],
    ]);
    expect(l.findings()[0]?.message).toContain('100 ms after the previous one (limit 250 ms)');
  });

  test('no-job-id, directly and in a transaction', () => {
    const { l } = linter();
    l.command(1, 'blockdev-mirror', { device: 'src', target: 'tgt', sync: 'full' });
    l.command(1, 'blockdev-mirror', { 'job-id': 'm', device: 'src', target: 'tgt', sync: 'full' });
    l.command(1, 'transaction', {
      actions: [
        { type: 'blockdev-backup', data: { device: 'a', target: 'b', sync: 'full' } },
        {
          type: 'blockdev-backup',
          data: { 'job-id': 'x', device: 'a', target: 'b', sync: 'full' },
        },
      ],
    });
    expect(l.findings().map((f) => [f.rule, f.job, f.command])).toEqual([
      ['no-job-id', 'src', 'blockdev-mirror'],
      ['no-job-id', 'a', 'transaction'],
    ]);
  });

  test("deprecated: QEMU 7.2's schema marks drive-backup, and block-commit's base/top", () => {
    const { l } = linter();
    l.command(1, 'drive-backup', { 'job-id': 'd', device: 'a', target: '/x', sync: 'full' });
    l.command(1, 'block-commit', { 'job-id': 'c', device: 'a', top: 'x.qcow2' });
    l.command(1, 'block-commit', { 'job-id': 'c', device: 'a', 'top-node': 'x' });
    l.command(1, 'blockdev-backup', { 'job-id': 'b', device: 'a', target: 'b', sync: 'full' });
    expect(l.findings().map((f) => f.message)).toEqual([
      'drive-backup is deprecated',
      "block-commit: argument 'top' is deprecated",
    ]);
  });

  test('findings are bounded', () => {
    const l = new MisuseLinter({ schema: qmpSchema, now: () => 0, maxFindings: 2 });
    for (let i = 0; i < 5; i++) l.command(1, 'drive-backup', { 'job-id': `d${i}` });
    expect(l.findings()).toHaveLength(2);
    expect(l.dropped).toBe(3);
  });
});
