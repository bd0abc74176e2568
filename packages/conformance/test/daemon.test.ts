import { statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { qemuImg, startQemuStorageDaemon } from '../src/daemon.js';

describe('the real-QEMU launcher', () => {
  test('starts qemu-storage-daemon, which greets as QEMU 7.2, and stops it', async () => {
    const daemon = await startQemuStorageDaemon({
      blockdevs: ['null-co,node-name=n0,size=1048576'],
    });
    try {
      const greeting = await new Promise<string>((resolve, reject) => {
        const socket = connect(daemon.socketPath);
        let data = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk) => {
          data += chunk;
          if (data.includes('\n')) {
            socket.end();
            resolve(data);
          }
        });
        socket.on('error', reject);
      });
      const parsed = JSON.parse(greeting) as {
        QMP: { version: { qemu: object }; capabilities: string[] };
      };
      expect(parsed.QMP.version.qemu).toMatchObject({ major: 7, minor: 2 });
      expect(parsed.QMP.capabilities).toEqual(['oob']);
    } finally {
      await daemon.stop();
    }
    expect(daemon.process.exitCode !== null || daemon.process.signalCode !== null).toBe(true);
    expect(() => statSync(daemon.dir)).toThrow();
  });

  test('reports a daemon that cannot start, with its stderr', async () => {
    await expect(
      startQemuStorageDaemon({ blockdevs: ['no-such-driver,node-name=x'] }),
    ).rejects.toThrow(/did not open its QMP socket.*no-such-driver/s);
  });

  test('qemuImg creates images qemu-img can read back', async () => {
    const daemon = await startQemuStorageDaemon();
    try {
      const image = join(daemon.dir, 'a.qcow2');
      qemuImg(['create', '-q', '-f', 'qcow2', image, '1M']);
      const info = JSON.parse(qemuImg(['info', '--output=json', image])) as Record<string, unknown>;
      expect(info['virtual-size']).toBe(1048576);
      expect(info.format).toBe('qcow2');
    } finally {
      await daemon.stop();
    }
  });
});
