// Where QEMU 10.0's source (fetched by `.ci/fetch-qemu` into its cache, or wherever
// QMPKIT_QEMU_10_0_DIR points) is, for the tests that run QEMU 10.0's own generator test suite.
// The suite is large and GPL, so it is fetched rather than vendored like 7.2's. In CI (CI=true)
// a missing source is an error; elsewhere those tests are skipped with a message.
// (packages/conformance/src/qemu-binaries.ts follows the same rule for the binaries.)

import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

function qemu10Dir(env: NodeJS.ProcessEnv): string {
  if (env.QMPKIT_QEMU_10_0_DIR) return env.QMPKIT_QEMU_10_0_DIR;
  const cache =
    env.QMPKIT_QEMU_CACHE || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'qmpkit');
  return join(cache, 'qemu-10.0.2');
}

/** QEMU 10.0's source directory (with `tests/qapi-schema/`), or undefined after saying why. */
export function qemu10Source(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dir = join(qemu10Dir(env), 'source');
  if (existsSync(join(dir, 'tests', 'qapi-schema', 'meson.build'))) return dir;
  const why = `QEMU 10.0's source is not at ${dir} (bash .ci/fetch-qemu fetches it)`;
  if (env.CI && env.CI !== 'false' && env.CI !== '0') {
    throw new Error(`QEMU 10.0's generator suite is required in CI: ${why}`);
  }
  process.stderr.write(`skipping QEMU 10.0's generator suite: ${why}\n`);
  return undefined;
}
