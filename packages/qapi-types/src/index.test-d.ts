import { describe, expectTypeOf, test } from 'vitest';
import type { CommandMap, EventMap, JobInfo, JobStatus } from './index.js';

describe('CommandMap', () => {
  test("'job-pause' requires { id: string } and returns {}", () => {
    expectTypeOf<CommandMap['job-pause']['args']>().toEqualTypeOf<{ id: string }>();
    expectTypeOf<CommandMap['job-pause']['ret']>().toEqualTypeOf<Record<string, never>>();
    const ok: CommandMap['job-pause']['args'] = { id: 'job0' };
    void ok;
    // @ts-expect-error id is required
    const missing: CommandMap['job-pause']['args'] = {};
    // @ts-expect-error id is a string
    const wrong: CommandMap['job-pause']['args'] = { id: 1 };
    // @ts-expect-error no other arguments
    const extra: CommandMap['job-pause']['args'] = { id: 'job0', force: true };
    void [missing, wrong, extra];
  });

  test("'query-jobs' returns JobInfo[]", () => {
    expectTypeOf<CommandMap['query-jobs']['ret']>().toEqualTypeOf<JobInfo[]>();
  });

  test('has no command QEMU does not have', () => {
    expectTypeOf<'job-frobnicate'>().not.toExtend<keyof CommandMap>();
    expectTypeOf<'job-pause'>().toExtend<keyof CommandMap>();
  });
});

describe('EventMap', () => {
  test("'JOB_STATUS_CHANGE' carries { id: string; status: JobStatus }", () => {
    expectTypeOf<EventMap['JOB_STATUS_CHANGE']>().toEqualTypeOf<{
      id: string;
      status: JobStatus;
    }>();
    // @ts-expect-error 'finished' is not a JobStatus
    const bad: EventMap['JOB_STATUS_CHANGE'] = { id: 'j', status: 'finished' };
    void bad;
  });
});

describe('JobStatus', () => {
  test('is the union of the values of its const array', () => {
    expectTypeOf<JobStatus>().toEqualTypeOf<
      | 'undefined'
      | 'created'
      | 'running'
      | 'paused'
      | 'ready'
      | 'standby'
      | 'waiting'
      | 'pending'
      | 'aborting'
      | 'concluded'
      | 'null'
    >();
  });
});
