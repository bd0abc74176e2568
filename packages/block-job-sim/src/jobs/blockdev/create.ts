// blockdev-create: a job whose run is the image driver's create step.

import type { BlockdevCreateArgs, QmpEmpty } from '@qmpkit/qapi-types/7.2';
import { createDriver, createState } from '../create.js';
import type { JobFactory } from './context.js';

export function blockdevCreate(jobs: JobFactory, a: BlockdevCreateArgs): QmpEmpty {
  const id = jobs.createJob({ id: a['job-id'], type: 'create' });
  jobs.newDriver(id, createDriver, { state: createState(a.options), total: 1 });
  jobs.start(id);
  return {};
}
