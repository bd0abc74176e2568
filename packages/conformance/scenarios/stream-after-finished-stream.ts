// Found by the differential tester (helper "difftest", finding stream-after-finished-stream):
// a stream or commit that succeeded shortens the backing chain (stream_prepare sets top's
// backing to the base; commit_prepare's bdrv_drop_intermediate makes the base the overlay's
// backing), so a new stream of top has nothing to do, and the images dropped from the chain are
// no longer anyone's backing file; the overlay's image file names its new backing file at once
// (qemu-img info). Expected values: QEMU 7.2.22 and 10.0.2.

import { generic, ok, type Scenario, type Step, send, statuses } from '../src/scenario.js';
import { concludesOk, MiB, threeLayerChain } from './common.js';

const SIZE = 64 * MiB;

/**
 * The backing file lines `qemu-img info` prints for top.qcow2 (read without its lock while the
 * daemon has it open): the job wrote the new backing file into the image's header
 * (bdrv_change_backing_file), so the image opens with it once the daemon has gone.
 */
function topImageBacking(file: string | undefined): Step {
  return {
    run: 'sh',
    args: ['-c', "qemu-img info -U top.qcow2 | grep '^backing file' || true"],
    exitCode: 0,
    stdout: file === undefined ? '' : `backing file: ${file}\nbacking file format: qcow2\n`,
  };
}

export const streamAfterFinishedStreamScenarios: Scenario[] = [
  {
    name: 'stream-after-a-finished-stream-has-nothing-to-do',
    about:
      'a stream of top that finished cut its backing chain; a new (throttled) stream of top has nothing to copy: created, running, waiting, pending, BLOCK_JOB_COMPLETED with len 0, concluded, null, all before block-stream’s reply; mid is no longer a backing file and can be deleted',
    ...threeLayerChain,
    steps: [
      send('blockdev-del', { 'node-name': 'mid' }),
      generic("Node 'mid' is busy: node is used as backing hd of 'top'"),
      send('block-stream', { 'job-id': 'j1', device: 'top' }),
      ...statuses('j1', 'created', 'running'),
      ok(),
      ...concludesOk('stream', 'j1', SIZE),
      topImageBacking(undefined),
      send('block-stream', { 'job-id': 'j2', device: 'top', speed: 4096 }),
      ...statuses('j2', 'created', 'running'),
      ...concludesOk('stream', 'j2', 0, 4096),
      ok(),
      send('blockdev-del', { 'node-name': 'mid' }),
      ok(),
    ],
  },
  {
    name: 'stream-to-a-base-keeps-the-base',
    about:
      'a stream of top down to base (base-node) that finished makes base top’s backing file: mid can be deleted, base cannot, and a new stream to base has nothing to do',
    ...threeLayerChain,
    steps: [
      send('block-stream', { 'job-id': 'j1', device: 'top', 'base-node': 'base' }),
      ...statuses('j1', 'created', 'running'),
      ok(),
      ...concludesOk('stream', 'j1', SIZE),
      topImageBacking('base.qcow2'),
      send('blockdev-del', { 'node-name': 'mid' }),
      ok(),
      send('blockdev-del', { 'node-name': 'base' }),
      generic("Node 'base' is busy: node is used as backing hd of 'top'"),
      send('block-stream', { 'job-id': 'j2', device: 'top', 'base-node': 'base' }),
      ...statuses('j2', 'created', 'running'),
      ...concludesOk('stream', 'j2', 0),
      ok(),
    ],
  },
  {
    name: 'commit-drops-the-committed-image-from-the-chain',
    about:
      'committing mid into base makes base top’s backing file: mid can be deleted afterwards, and a stream of top down to base has nothing to do',
    ...threeLayerChain,
    steps: [
      send('block-commit', {
        'job-id': 'c1',
        device: 'top',
        'top-node': 'mid',
        'base-node': 'base',
      }),
      ...statuses('c1', 'created', 'running'),
      ok(),
      ...concludesOk('commit', 'c1', SIZE),
      topImageBacking('base.qcow2'),
      send('blockdev-del', { 'node-name': 'mid' }),
      ok(),
      send('block-stream', { 'job-id': 's1', device: 'top', 'base-node': 'base' }),
      ...statuses('s1', 'created', 'running'),
      ...concludesOk('stream', 's1', 0),
      ok(),
    ],
  },
];
