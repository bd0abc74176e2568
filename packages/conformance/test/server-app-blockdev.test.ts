// qmpkit-server opens --blockdev options as qemu-storage-daemon does: the same command line gives
// the same error line and exit code on both, or starts both with the same nodes. The expected
// side is the real daemon, run by the test.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HANG_GUARD_MS } from '@qmpkit/test-support';
import { afterAll, describe, expect, test } from 'vitest';
import { daemonArgs, requireQemu, startDaemon, startQemuStorageDaemon } from '../src/daemon.js';
import { RawQmpSession } from '../src/raw-session.js';

const serverBin = fileURLToPath(
  new URL('dist/bin/qmpkit-server.js', import.meta.resolve('@qmpkit/server-app/package.json')),
);
const dir = mkdtempSync(join(tmpdir(), 'qmpkit-blockdev-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
requireQemu();
execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(dir, 'base.qcow2'), '64M']);

/** Runs a binary with the options, expecting it to refuse them at start-up. */
function refuse(command: string, args: string[], program: string) {
  const result = spawnSync(command, [...args, ...daemonArgs(join(dir, 'never.sock'))], {
    cwd: dir,
    encoding: 'utf8',
    timeout: HANG_GUARD_MS,
  });
  return {
    status: result.status,
    stderr: result.stderr.replaceAll(program, 'PROGRAM').trim(),
  };
}

const refused: Array<[string, string[]]> = [
  ['no driver', ['--blockdev', 'node-name=a']],
  ['no node name', ['--blockdev', 'driver=null-co']],
  ['unknown driver', ['--blockdev', 'no-such,node-name=x']],
  ['bad integer', ['--blockdev', 'null-co,node-name=x,size=abc']],
  ['unknown option', ['--blockdev', 'null-co,node-name=a,bogus=1']],
  ['missing file', ['--blockdev', 'file,node-name=f,filename=/nonexistent.img']],
  [
    'qcow2 over a missing file',
    ['--blockdev', 'qcow2,node-name=q,file.driver=file,file.filename=/nonexistent.qcow2'],
  ],
  ['duplicate node', ['--blockdev', 'null-co,node-name=a', '--blockdev', 'null-co,node-name=a']],
  ['incomplete JSON', ['--blockdev', '{"driver":']],
  ['duplicate JSON key', ['--blockdev', '{"driver":"null-co","node-name":"a","node-name":"b"}']],
  ['stray JSON byte', ['--blockdev', '{"driver":@}']],
  ['two JSON values', ['--blockdev', '{"driver":"null-co","node-name":"a"} x']],
  ['float for an integer', ['--blockdev', '{"driver":"null-co","node-name":"n","size":1.5}']],
];

describe('--blockdev errors at start-up, qmpkit-server against qemu-storage-daemon', () => {
  test.each(refused)('%s', (_name, args) => {
    // The pidfile makes QEMU stop before it would serve anything; only the --blockdev fails.
    const qemu = refuse('qemu-storage-daemon', args, 'qemu-storage-daemon');
    const ours = refuse(
      process.execPath,
      [serverBin, '--qemu-version', '7.2', ...args],
      'qmpkit-server',
    );
    expect(qemu.status).toBe(1);
    expect(qemu.stderr).toMatch(/^PROGRAM: --blockdev /);
    expect(ours).toEqual(qemu);
  });
});

describe('--blockdev nodes that open', () => {
  const blockdevs = [
    'null-co,node-name=n0,size=1048576',
    `{"driver":"qcow2","node-name":"q0","file":{"driver":"file","filename":"${join(dir, 'base.qcow2')}"}}`,
    "{'driver':'null-co','node-name':'s0'}",
  ];

  test('give the same query-named-block-nodes node names, drivers and sizes', async () => {
    const listNodes = async (socketPath: string) => {
      const session = await RawQmpSession.connect(socketPath);
      try {
        await session.negotiate();
        session.sendJson({ execute: 'query-named-block-nodes', arguments: { flat: true }, id: 1 });
        const reply = await session.waitFor((m) => (m as { id?: unknown }).id === 1);
        const nodes = (reply.json as { return: Array<Record<string, unknown>> }).return;
        // Implicit nodes are named '#blockNNN' from a counter that also counts QEMU-internal
        // allocations; the number is not part of the interface.
        const name = (n: Record<string, unknown>) =>
          String(n['node-name']).replace(/^#block\d+$/, '#block');
        return nodes.map((n) => [
          name(n),
          n.drv,
          (n.image as { 'virtual-size': number })['virtual-size'],
        ]);
      } finally {
        await session.close();
      }
    };
    const qemu = await startQemuStorageDaemon({ blockdevs });
    const ours = await startDaemon(process.execPath, [serverBin, '--qemu-version', '7.2'], {
      blockdevs,
    });
    try {
      const expected = await listNodes(qemu.socketPath);
      expect(expected.length).toBe(4); // n0, q0 and its file node, s0
      expect(await listNodes(ours.socketPath)).toEqual(expected);
    } finally {
      await qemu.stop();
      await ours.stop();
    }
  });
});
