import { describe, expectTypeOf, test } from 'vitest';
import type {
  CommandArgsOf,
  CommandMap,
  CommandNameOf,
  CommandsAddedIn,
  EventNameOf,
  QemuVersion,
} from './index.js';
import type * as Qemu72 from './qemu-7.2.js';
import type * as Qemu10 from './qemu-10.0.js';

describe('what exists in which version', () => {
  test('block-job-change (QEMU 8.2) is absent on 7.2 and present on 10.0', () => {
    expectTypeOf<'block-job-change'>().not.toExtend<CommandNameOf<'7.2'>>();
    expectTypeOf<'block-job-change'>().toExtend<CommandNameOf<'10.0'>>();
    expectTypeOf<'block-job-change'>().toExtend<CommandsAddedIn<'10.0', '7.2'>>();
    expectTypeOf<'job-pause'>().not.toExtend<CommandsAddedIn<'10.0', '7.2'>>();
    expectTypeOf<CommandArgsOf<'7.2', 'block-job-change'>>().toBeNever();
    expectTypeOf<CommandArgsOf<'10.0', 'job-pause'>>().toEqualTypeOf<{ id: string }>();
  });

  test('the job commands and JOB_STATUS_CHANGE exist on both', () => {
    expectTypeOf<'job-finalize'>().toExtend<CommandNameOf<QemuVersion>>();
    expectTypeOf<'JOB_STATUS_CHANGE'>().toExtend<EventNameOf<'7.2'> & EventNameOf<'10.0'>>();
  });

  test('the root is the newest version, 10.0', () => {
    expectTypeOf<CommandMap>().toEqualTypeOf<Qemu10.CommandMap>();
    expectTypeOf<'block-job-change'>().toExtend<keyof CommandMap>();
  });

  test("10.0's query-block-jobs reports actively-synced for mirrors only", () => {
    type Info10 = Qemu10.CommandMap['query-block-jobs']['ret'][number];
    expectTypeOf<Extract<Info10, { type: 'mirror' }>['actively-synced']>().toEqualTypeOf<boolean>();
    expectTypeOf<Qemu72.BlockJobInfo>().not.toHaveProperty('actively-synced');
    const stream: Info10 = {
      type: 'stream',
      device: 'j',
      len: 0,
      offset: 0,
      busy: false,
      paused: false,
      speed: 0,
      'io-status': 'ok',
      ready: false,
      status: 'running',
      'auto-finalize': true,
      'auto-dismiss': true,
    };
    void stream;
  });
});
