// The helper that finds each QEMU version: the tools it names run and are the version it claims,
// and a missing version is an error in CI and a skip elsewhere.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { startQemuStorageDaemon } from '../src/daemon.js';
import { findQemu, type QemuTool, qemuForTests } from '../src/qemu-binaries.js';
import { RawQmpSession } from '../src/raw-session.js';

const qemu72 = qemuForTests('7.2');
const qemu10 = qemuForTests('10.0', { needSource: true });

const tools: QemuTool[] = ['qemu-storage-daemon', 'qemu-img', 'qemu-io', 'qemu-nbd'];

describe.each([
  { install: qemu72, release: /^7\.2\.\d+$/ },
  { install: qemu10, release: /^10\.0\.2$/ },
])('QEMU $install.version', ({ install, release }) => {
  test.skipIf(install === undefined).each(tools)('%s runs and is that version', (tool) => {
    expect(install?.release).toMatch(release);
    const out = execFileSync(install?.command(tool) ?? tool, ['--version'], { encoding: 'utf8' });
    expect(out.split('\n')[0]).toContain(` ${install?.release} `);
  });

  test.skipIf(install === undefined)('its daemon greets with its version', async () => {
    const daemon = await startQemuStorageDaemon({}, install);
    try {
      const session = await RawQmpSession.connect(daemon.socketPath);
      try {
        const greeting = (await session.waitForCount(1))[0]?.json as {
          QMP: { version: { qemu: { major: number; minor: number; micro: number } } };
        };
        const [major, minor, micro] = (install?.release ?? '').split('.').map(Number);
        expect(greeting.QMP.version.qemu).toEqual({ major, minor, micro });
        await session.negotiate();
      } finally {
        await session.close();
      }
    } finally {
      await daemon.stop();
    }
  });

  test.skipIf(install?.version !== '10.0')(
    'qemu-img and qemu-io of 10.0 write and check an image',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'qmpkit-qemu10-'));
      try {
        const image = join(dir, 'a.qcow2');
        const run = (tool: QemuTool, args: string[]) =>
          execFileSync(install?.command(tool) ?? tool, args, {
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'pipe'],
          });
        run('qemu-img', ['create', '-q', '-f', 'qcow2', image, '1M']);
        expect(run('qemu-io', ['-c', 'write -P 0x5a 0 64k', image])).toContain(
          'wrote 65536/65536 bytes at offset 0',
        );
        expect(run('qemu-img', ['check', image])).toContain('No errors were found on the image.');
        // A module-only block driver (curl) loads from 10.0's own module directory: the error is
        // curl's, not "Unknown driver" or a module version mismatch.
        let curlError = '';
        try {
          run('qemu-img', ['info', '--image-opts', 'driver=http,url=http://127.0.0.1:1/x']);
        } catch (error) {
          curlError = String((error as { stderr?: unknown }).stderr);
        }
        expect(curlError).toContain('CURL: Error opening file');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe('a missing QEMU 10.0', () => {
  const env = (extra: NodeJS.ProcessEnv) => ({
    PATH: process.env.PATH,
    QMPKIT_QEMU_10_0_DIR: '/nonexistent/qemu-10.0',
    ...extra,
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  test('is reported missing, naming where it was looked for', () => {
    expect(findQemu('10.0', env({}))).toEqual({
      missing: 'no QEMU 10.0 at /nonexistent/qemu-10.0',
    });
  });

  test('fails loudly in CI', () => {
    expect(() => qemuForTests('10.0', { env: env({ CI: 'true' }) })).toThrow(
      /QEMU 10\.0 is required in CI: no QEMU 10\.0 at \/nonexistent\/qemu-10\.0 \(bash \.ci\/fetch-qemu/,
    );
  });

  test('is skipped with a message elsewhere', () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(qemuForTests('10.0', { env: env({}) })).toBeUndefined();
    expect(String(write.mock.calls[0]?.[0])).toContain(
      'skipping the QEMU 10.0 tests: no QEMU 10.0 at /nonexistent/qemu-10.0',
    );
  });
});
