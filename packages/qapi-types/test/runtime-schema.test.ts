// The committed 7.2 runtime schema against the oracle: the real qemu-storage-daemon 7.2 reply.
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { JobStatus, JobType, JobVerb, qmpSchema, qmpSchemaExtras } from '../src/qemu-7.2.js';

const reply = JSON.parse(
  readFileSync(
    new URL(
      '../../../qemu-data/qapi-corpus/introspect/qemu-storage-daemon-7.2.json',
      import.meta.url,
    ),
    'utf8',
  ),
) as { name: string }[];

test('qmpSchema is the real query-qmp-schema reply (entries, numbers and order; key order aside)', () => {
  expect(qmpSchema).toEqual(reply);
});

test('the extras name the masked types and keep integer widths', () => {
  const jobInfo = Object.entries(qmpSchemaExtras.typeNames).find(([, real]) => real === 'JobInfo');
  expect(jobInfo).toBeDefined();
  const entry = qmpSchema.find((e) => e.name === jobInfo![0]);
  expect(entry).toMatchObject({ 'meta-type': 'object' });
  // qapi/block-export.json: nbd-server-start's argument max-connections is a uint32.
  const nbd = Object.entries(qmpSchemaExtras.typeNames).find(
    ([, r]) => r === 'q_obj_nbd-server-start-arg',
  );
  expect(qmpSchemaExtras.memberIntKinds[nbd![0]]?.['max-connections']).toBe('uint32');
});

test('exports the job enums with QEMU 7.2 values', () => {
  // qapi/job.json of QEMU 7.2 (reference §17.16).
  expect(JobType).toEqual([
    'commit',
    'stream',
    'mirror',
    'backup',
    'create',
    'amend',
    'snapshot-load',
    'snapshot-save',
    'snapshot-delete',
  ]);
  expect(JobStatus).toHaveLength(11);
  expect(JobVerb).toEqual([
    'cancel',
    'pause',
    'resume',
    'set-speed',
    'complete',
    'dismiss',
    'finalize',
  ]);
});
