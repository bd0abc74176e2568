// The README's example, verbatim, type-checked (see README.md "Example"). Keep them in sync.
import { ExecuteError } from './index.js';
import { connectQmp } from './node/index.js';

export async function readmeExample(): Promise<void> {
  const client = await connectQmp({ path: '/run/qsd/qmp.sock' });
  console.log(client.version?.qemu); // { micro: 22, minor: 2, major: 7 }

  // Every job status change, in wire order, in its own bounded queue.
  const statuses = client.events({ names: ['JOB_STATUS_CHANGE'] });
  void (async () => {
    for await (const event of statuses) console.log(event.data.id, event.data.status);
  })();

  // Mirror src → dst, complete it when it is ready, report progress.
  const outcome = await client.runJob(
    'blockdev-mirror',
    { 'job-id': 'm1', device: 'src', target: 'dst', sync: 'full' },
    {
      onReady: 'complete', // or 'cancel' (job-cancel) or 'soft-cancel' (block-job-cancel)
      onProgress: (p) => console.log(`${(p.fraction * 100).toFixed(1)} %`, p.rate, p.etaMs),
    },
  );
  console.log(outcome.status, outcome.error); // 'completed' | 'cancelled' | 'failed', QEMU's text

  try {
    await client.execute('job-pause', { id: 'nope' });
  } catch (error) {
    if (ExecuteError.isInstance(error)) console.log(error.errorClass, error.desc); // GenericError Job not found
  }
  await client.close();
}
