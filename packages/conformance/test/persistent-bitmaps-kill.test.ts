// A daemon killed (SIGKILL) while it has a qcow2 image open never stores the image's persistent
// bitmaps: they stay flagged in-use in the file, and whoever opens the image next loads them
// `inconsistent`. Real qemu-storage-daemon 7.2 is killed the same way on an image made the same
// way; what `qemu-img info` says of each image afterwards, and what each daemon loads from each
// image, must be what QEMU says and loads from the image QEMU left.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HANG_GUARD_MS } from '@qmpkit/test-support';
import { afterEach, expect, test } from 'vitest';
import { type Daemon, isProcessDaemon, qemuImg, requireQemu } from '../src/daemon.js';
import { RawQmpSession } from '../src/raw-session.js';
import { qemuTarget, qmpkitServerTarget, type Target } from '../src/scenario-runner.js';

const dirs: string[] = [];
const daemons: Daemon[] = [];

afterEach(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.stop()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A 64 MiB image with bitmap b0 (enabled) holding one dirty granule, made by qemu-img/qemu-io. */
function imageWithBitmap(): string {
  const dir = mkdtempSync(join(tmpdir(), 'qmpkit-pbkill-'));
  dirs.push(dir);
  const image = join(dir, 'img.qcow2');
  qemuImg(['create', '-q', '-f', 'qcow2', image, '64M']);
  qemuImg(['bitmap', '--add', image, 'b0']);
  execFileSync('qemu-io', ['-c', 'write 0 64k', image], { stdio: 'ignore' });
  return image;
}

const blockdevs = (image: string) => [
  JSON.stringify({ driver: 'file', 'node-name': 'f0', filename: image }),
  JSON.stringify({ driver: 'qcow2', 'node-name': 'q0', file: 'f0' }),
];

async function start(target: Target, image: string): Promise<Daemon> {
  const daemon = await target.start({ blockdevs: blockdevs(image) });
  daemons.push(daemon);
  return daemon;
}

/** Starts `target` on the image (it has loaded the bitmaps once its pidfile exists), kills it. */
async function openAndKill(target: Target, image: string): Promise<void> {
  const daemon = await start(target, image);
  if (!isProcessDaemon(daemon)) throw new Error(`${target.name} is not a process: nothing to kill`);
  const exited = new Promise((resolve) => daemon.process.once('exit', resolve));
  daemon.process.kill('SIGKILL');
  await exited;
}

/** What `qemu-img info` says of the image's bitmaps. */
function storedBitmaps(image: string): unknown {
  const info = JSON.parse(qemuImg(['info', '--output=json', image])) as {
    'format-specific': { data: { bitmaps?: unknown } };
  };
  return info['format-specific'].data.bitmaps;
}

/** The dirty-bitmaps of q0 as `target` loads them from the image, then a clean shutdown. */
async function loadedBitmaps(target: Target, image: string): Promise<unknown> {
  const daemon = await start(target, image);
  const session = await RawQmpSession.connect(daemon.socketPath);
  try {
    await session.negotiate();
    const from = session.messages.length;
    session.sendJson({ execute: 'query-named-block-nodes', arguments: { flat: true }, id: 'q' });
    const reply = await session.waitFor(
      (m) => typeof m === 'object' && m !== null && (m as { id?: unknown }).id === 'q',
      HANG_GUARD_MS,
      from,
    );
    const nodes = (reply.json as { return: Array<Record<string, unknown>> }).return;
    return nodes.find((n) => n['node-name'] === 'q0')?.['dirty-bitmaps'];
  } finally {
    session.endInput();
    daemons.splice(daemons.indexOf(daemon), 1);
    await daemon.stop();
  }
}

test(
  'a killed daemon leaves the bitmaps in-use; the next open loads them inconsistent, as QEMU',
  async () => {
    requireQemu();
    const byQemu = imageWithBitmap();
    const byQmpkit = imageWithBitmap();
    await openAndKill(qemuTarget, byQemu);
    await openAndKill(qmpkitServerTarget, byQmpkit);

    const qemuLeft = storedBitmaps(byQemu);
    expect(qemuLeft).toEqual([{ flags: ['in-use', 'auto'], name: 'b0', granularity: 65536 }]);
    expect(storedBitmaps(byQmpkit)).toEqual(qemuLeft);

    const qemuLoads = await loadedBitmaps(qemuTarget, byQemu);
    expect(qemuLoads).toEqual([
      {
        name: 'b0',
        recording: false,
        persistent: true,
        busy: false,
        granularity: 65536,
        count: 0,
        inconsistent: true,
      },
    ]);
    expect(await loadedBitmaps(qemuTarget, byQmpkit)).toEqual(qemuLoads);
    expect(await loadedBitmaps(qmpkitServerTarget, byQemu)).toEqual(qemuLoads);
    expect(await loadedBitmaps(qmpkitServerTarget, byQmpkit)).toEqual(qemuLoads);
  },
  2 * HANG_GUARD_MS,
);
