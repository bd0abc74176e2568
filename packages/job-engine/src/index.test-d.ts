import { expectTypeOf, test } from 'vitest';
import {
  type Effect,
  type JobCommandArgs,
  JobEngine,
  type JobResult,
  type JobStatus,
  type JobType,
} from './index.js';

test('execute is typed by command name', () => {
  const engine = new JobEngine();
  expectTypeOf(engine.execute('job-pause', { id: 'j' })).toEqualTypeOf<JobResult>();
  engine.execute('block-job-cancel', { device: 'j', force: true });
  engine.execute('block-job-set-speed', { device: 'j', speed: 0 });
  // @ts-expect-error job-* commands take `id`, not `device`
  engine.execute('job-pause', { device: 'j' });
  // @ts-expect-error set-speed needs a speed
  engine.execute('block-job-set-speed', { device: 'j' });
  // @ts-expect-error not a job command
  engine.execute('query-jobs', {});
  expectTypeOf<JobCommandArgs['block-job-cancel']>().toEqualTypeOf<{
    device: string;
    force?: boolean;
  }>();
});

test('effects narrow by type and event', () => {
  const effect = {} as Effect;
  if (effect.type === 'event' && effect.event === 'JOB_STATUS_CHANGE') {
    expectTypeOf(effect.data.status).toEqualTypeOf<JobStatus>();
  }
  if (effect.type === 'event' && effect.event === 'BLOCK_JOB_PENDING') {
    expectTypeOf(effect.data).toEqualTypeOf<{ type: JobType; id: string }>();
  }
  if (effect.type === 'enter') {
    expectTypeOf(effect.when).toEqualTypeOf<'before-reply' | 'after-reply'>();
  }
});

test('a failed result carries QEMU error class and text', () => {
  const result = {} as JobResult;
  if (!result.ok) {
    expectTypeOf(result.error.class).toEqualTypeOf<
      'GenericError' | 'DeviceNotActive' | 'CommandNotFound'
    >();
    expectTypeOf(result.error.desc).toEqualTypeOf<string>();
  }
});
