import { describe, expect, test } from 'vitest';
import {
  formatBytes,
  formatEta,
  formatPercent,
  formatRate,
  formatSpeedLimit,
  jobsTable,
  percentOf,
  progressBar,
} from './render.js';

describe('render', () => {
  test('sizes in IEC units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(67108864)).toBe('64.0 MiB');
    expect(formatBytes(3 * 2 ** 40)).toBe('3.0 TiB');
    expect(formatBytes(-1)).toBe('-');
  });

  test('rates, speed limits, ETAs, percentages', () => {
    expect(formatRate(10 * 2 ** 20)).toBe('10.0 MiB/s');
    expect(formatRate(null)).toBe('-');
    expect(formatSpeedLimit(0)).toBe('unlimited');
    expect(formatSpeedLimit(1)).toBe('1 B/s');
    expect(formatSpeedLimit(null)).toBe('-');
    expect(formatEta(0)).toBe('0:00');
    expect(formatEta(5.2)).toBe('0:06');
    expect(formatEta(3725)).toBe('1:02:05');
    expect(formatEta(null)).toBe('--:--');
    expect(formatPercent(45.25)).toBe('45.3%');
    expect(formatPercent(null)).toBe('-');
  });

  test('percent rounds down, so 100.0 means done', () => {
    expect(percentOf(0.9999)).toBe(99.9);
    expect(percentOf(1)).toBe(100);
    expect(percentOf(0.0625)).toBe(6.2);
    expect(percentOf(2)).toBe(100);
  });

  test('progress bar text', () => {
    expect(progressBar(0, 10)).toBe('[..........]');
    expect(progressBar(0.5, 10)).toBe('[#####.....]');
    expect(progressBar(0.99, 10)).toBe('[#########.]');
    expect(progressBar(1, 10)).toBe('[##########]');
    expect(progressBar(1.7, 4)).toBe('[####]');
    expect(progressBar(Number.NaN, 4)).toBe('[....]');
  });

  test('jobs table', () => {
    expect(jobsTable([])).toBe('no jobs');
    expect(
      jobsTable([
        {
          id: 'm1',
          type: 'mirror',
          status: 'running',
          current: 16777216,
          total: 268435456,
          percent: 6.2,
          speed: 0,
          error: null,
        },
        {
          id: 'create-job',
          type: 'create',
          status: 'concluded',
          current: 1,
          total: 1,
          percent: 100,
          speed: null,
          error: 'Image size must be a multiple of 512 bytes',
        },
      ]),
    ).toBe(
      [
        'ID          TYPE    STATUS     PROGRESS                     SPEED      ERROR',
        'm1          mirror  running    6.2% (16.0 MiB / 256.0 MiB)  unlimited',
        'create-job  create  concluded  100.0% (1 B / 1 B)           -          Image size must be a multiple of 512 bytes',
      ].join('\n'),
    );
  });
});
