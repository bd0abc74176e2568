// The enum values the engine carries must be exactly the schema's (the generated arrays of
// @qmpkit/qapi-types, from QEMU's schema): same values, same order.
import * as Qapi from '@qmpkit/qapi-types/7.2';
import { expect, test } from 'vitest';
import {
  BlockDeviceIoStatus,
  BlockdevOnError,
  BlockErrorAction,
  IoOperationType,
  JobStatus,
  JobType,
  JobVerb,
} from './qapi.js';

test.each([
  ['BlockDeviceIoStatus', BlockDeviceIoStatus, Qapi.BlockDeviceIoStatus],
  ['BlockdevOnError', BlockdevOnError, Qapi.BlockdevOnError],
  ['BlockErrorAction', BlockErrorAction, Qapi.BlockErrorAction],
  ['IoOperationType', IoOperationType, Qapi.IoOperationType],
  ['JobStatus', JobStatus, Qapi.JobStatus],
  ['JobType', JobType, Qapi.JobType],
  ['JobVerb', JobVerb, Qapi.JobVerb],
] as const)('%s is the schema enum', (_name, ours, schema) => {
  expect(ours).toEqual(schema);
});
