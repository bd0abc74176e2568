// Where each QEMU version the tests compare against lives. QEMU 7.2 is Debian's installed build
// (on the PATH); QEMU 10.0.2 is Debian's bookworm-backports build unpacked beside it by
// `.ci/fetch-qemu` into a cache directory (never installed: that would replace 7.2), or wherever
// QMPKIT_QEMU_10_0_DIR points. The same script fetches both versions' source (the QAPI schema,
// QEMU's generator and its tests/qapi-schema suite).
//
// A test that needs a version asks `qemuForTests`: in CI (CI=true) a missing version is an error,
// because those tests must run there; on a developer's machine the tests are skipped with a
// message saying how to fetch it.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const qemuVersions = ['7.2', '10.0'] as const;
export type QemuVersion = (typeof qemuVersions)[number];

export type QemuTool = 'qemu-storage-daemon' | 'qemu-img' | 'qemu-io' | 'qemu-nbd';

export interface QemuInstall {
  readonly version: QemuVersion;
  /** The full version the daemon prints, e.g. `10.0.2`. */
  readonly release: string;
  /** The command that runs `tool` of this version (a path, or a bare name found on the PATH). */
  command(tool: QemuTool): string;
  /**
   * The QEMU source tree's QAPI parts (`qapi/`, `storage-daemon/qapi/`, `scripts/qapi/`,
   * `tests/qapi-schema/`), when fetched.
   */
  readonly sourceDir: string | undefined;
}

/** `.ci/fetch-qemu`'s cache directory. */
export function qemuCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.QMPKIT_QEMU_CACHE) return env.QMPKIT_QEMU_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'qmpkit');
}

const FETCH_HINT = 'bash .ci/fetch-qemu fetches it into the cache';

/** The version `qemu-storage-daemon --version` prints (`7.2.22`), or undefined if it cannot run. */
function daemonRelease(command: string): string | undefined {
  try {
    const out = execFileSync(command, ['--version'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return /version (\d+\.\d+\.\d+)/.exec(out)?.[1];
  } catch {
    return undefined;
  }
}

/** The directory of a fetched QEMU 10.0 (bin/ and source/ inside). */
function qemu10Dir(env: NodeJS.ProcessEnv): string {
  return env.QMPKIT_QEMU_10_0_DIR || join(qemuCacheDir(env), 'qemu-10.0.2');
}

function sourceIfPresent(dir: string): string | undefined {
  return existsSync(join(dir, 'qapi', 'qapi-schema.json')) ? dir : undefined;
}

/**
 * Finds QEMU `version`, or says why it is not there. A version counts as found only when its
 * qemu-storage-daemon runs and reports that version.
 */
export function findQemu(
  version: QemuVersion,
  env: NodeJS.ProcessEnv = process.env,
): QemuInstall | { readonly missing: string } {
  if (version === '7.2') {
    const release = daemonRelease('qemu-storage-daemon');
    const sourceDir = sourceIfPresent(
      env.QMPKIT_QEMU_7_2_SOURCE || join(qemuCacheDir(env), 'qemu-7.2', 'source'),
    );
    if (release === undefined) {
      return { missing: 'qemu-storage-daemon not on the PATH (Debian qemu-system-common 7.2)' };
    }
    if (!release.startsWith('7.2.')) {
      return { missing: `qemu-storage-daemon on the PATH is ${release}, not 7.2` };
    }
    return { version, release, command: (tool) => tool, sourceDir };
  }
  const dir = qemu10Dir(env);
  const bin = join(dir, 'bin');
  const release = daemonRelease(join(bin, 'qemu-storage-daemon'));
  if (release === undefined) return { missing: `no QEMU 10.0 at ${dir}` };
  if (!release.startsWith('10.0.')) return { missing: `QEMU at ${dir} is ${release}, not 10.0` };
  return {
    version,
    release,
    command: (tool) => join(bin, tool),
    sourceDir: sourceIfPresent(join(dir, 'source')),
  };
}

function isCi(env: NodeJS.ProcessEnv): boolean {
  return env.CI !== undefined && env.CI !== '' && env.CI !== 'false' && env.CI !== '0';
}

/**
 * QEMU `version` for a test file: throws in CI when it is missing (those tests must run there),
 * and elsewhere returns undefined after saying on stderr that the tests are skipped. With
 * `needSource`, the version's source counts as part of it.
 */
export function qemuForTests(
  version: QemuVersion,
  options: { readonly needSource?: boolean; readonly env?: NodeJS.ProcessEnv } = {},
): QemuInstall | undefined {
  const env = options.env ?? process.env;
  const found = findQemu(version, env);
  let missing = 'missing' in found ? found.missing : undefined;
  if (missing === undefined && options.needSource && !('missing' in found) && !found.sourceDir) {
    missing = `QEMU ${version}'s source is not in ${qemuCacheDir(env)}`;
  }
  if (missing === undefined) return found as QemuInstall;
  if (isCi(env)) throw new Error(`QEMU ${version} is required in CI: ${missing} (${FETCH_HINT})`);
  process.stderr.write(`skipping the QEMU ${version} tests: ${missing} (${FETCH_HINT})\n`);
  return undefined;
}
