import type { BlockJobInfo, JobInfo, JobStatus } from '@qmpkit/qapi-types/7.2';
import { describe, expectTypeOf, test } from 'vitest';
import type { QmpClient } from './client.js';
import type { JobOutcome } from './jobs.js';
import type { ClientEvent } from './types.js';

declare const client: QmpClient;

describe('execute', () => {
  test('return types come from CommandMap', () => {
    expectTypeOf(client.execute('query-jobs')).toEqualTypeOf<Promise<JobInfo[]>>();
    expectTypeOf(client.execute('query-block-jobs')).toEqualTypeOf<Promise<BlockJobInfo[]>>();
    expectTypeOf(client.execute('job-pause', { id: 'j' })).toEqualTypeOf<
      Promise<Record<string, never>>
    >();
    expectTypeOf(client.executeUntyped('x-anything')).toEqualTypeOf<Promise<unknown>>();
  });

  test('arguments are optional exactly when every member is optional', () => {
    void client.execute('query-jobs');
    void client.execute('query-jobs', {}, { timeoutMs: 5 });
    void client.execute('query-jobs', undefined, { timeoutMs: 5 });
    // block-job-cancel: device required, force optional
    void client.execute('block-job-cancel', { device: 'j' });
    void client.execute('block-job-cancel', { device: 'j', force: true });
    // query-named-block-nodes: every argument optional
    void client.execute('query-named-block-nodes');
    void client.execute('query-named-block-nodes', { flat: true });
    // @ts-expect-error block-job-cancel needs device
    void client.execute('block-job-cancel');
    // @ts-expect-error job-pause needs its arguments
    void client.execute('job-pause');
  });

  test('a wrong command name or wrong arguments are type errors', () => {
    // @ts-expect-error no such command
    void client.execute('job-frobnicate');
    // @ts-expect-error id must be a string
    void client.execute('job-pause', { id: 1 });
    // @ts-expect-error unknown argument
    void client.execute('job-pause', { id: 'j', force: true });
    // @ts-expect-error missing required argument
    void client.execute('block-job-set-speed', { device: 'j' });
    // @ts-expect-error query-jobs takes no arguments
    void client.execute('query-jobs', { id: 'x' });
    // @ts-expect-error not a JobStatus-valued enum member
    void client.execute('transaction', { actions: [], properties: { 'completion-mode': 'bogus' } });
  });

  test('executeOob is typed the same way', () => {
    expectTypeOf(client.executeOob('query-jobs')).toEqualTypeOf<Promise<JobInfo[]>>();
    // @ts-expect-error no such command
    void client.executeOob('nope');
  });
});

describe('events', () => {
  test('a stream narrowed by names yields those events with typed data', async () => {
    const stream = client.events({ names: ['JOB_STATUS_CHANGE', 'BLOCK_JOB_READY'] });
    for await (const event of stream) {
      expectTypeOf(event).toEqualTypeOf<
        ClientEvent<'JOB_STATUS_CHANGE'> | ClientEvent<'BLOCK_JOB_READY'>
      >();
      if (event.event === 'JOB_STATUS_CHANGE') {
        expectTypeOf(event.data.status).toEqualTypeOf<JobStatus>();
      } else {
        expectTypeOf(event.data.len).toEqualTypeOf<number>();
      }
    }
    // @ts-expect-error not an event of the schema
    client.events({ names: ['NO_SUCH_EVENT'] });
  });

  test('waitForEvent matches on typed data', () => {
    expectTypeOf(client.waitForEvent('BLOCK_JOB_READY', { device: 'm1' })).toEqualTypeOf<
      Promise<ClientEvent<'BLOCK_JOB_READY'>>
    >();
    // @ts-expect-error BLOCK_JOB_READY has no member 'id'
    void client.waitForEvent('BLOCK_JOB_READY', { id: 'm1' });
    void client.waitForEvent('JOB_STATUS_CHANGE', (data) => data.status === 'ready');
  });
});

describe('job helpers', () => {
  test('runJob takes job-creating commands with their arguments', () => {
    expectTypeOf(
      client.runJob('blockdev-mirror', { 'job-id': 'm', device: 's', target: 't', sync: 'full' }),
    ).toEqualTypeOf<Promise<JobOutcome>>();
    // @ts-expect-error query-jobs does not create a job
    void client.runJob('query-jobs', {});
    // @ts-expect-error sync is required for blockdev-mirror
    void client.runJob('blockdev-mirror', { device: 's', target: 't' });
    // @ts-expect-error no such ready action
    void client.runJob('block-stream', { device: 'x' }, { onReady: 'pivot' });
  });

  test('waitForJob takes JobStatus values', () => {
    expectTypeOf(client.waitForJob('j', 'ready')).toEqualTypeOf<Promise<JobStatus>>();
    // @ts-expect-error 'finished' is not a JobStatus
    void client.waitForJob('j', 'finished');
  });
});
