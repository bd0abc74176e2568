// The README's fleet example, run as written with the built `qmpkit` and `qmpkit-server`: a mirror
// in one VM, another VM without jobs, `quit` ending one VM, SIGTERM ending the fleet.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { readmeExample, runScript } from './readme-script.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

test("the README's fleet example runs as written", async () => {
  const script = readmeExample('../../server-app/README.md', 'Fleets (`--fleet`)');
  // The script ends with the fleet's SIGTERM; wait for its exit before looking at the files.
  const run = await runScript(
    `${script}\nwhile [ -e fleet.pid ]; do sleep 0.1; done\n`,
    'qmpkit-readme-fleet-',
  );
  cleanups.push(run.cleanUp);
  expect(run.code, run.output).toBe(0);
  expect(run.output).toContain('m7: completed');
  expect(run.output).toContain('no jobs');
  for (const vm of [0, 7, 8, 99]) expect(existsSync(join(run.dir, `vm${vm}.sock`))).toBe(false);
});

test("the README's shared bandwidth example runs as written", async () => {
  const script = readmeExample(
    '../../server-app/README.md',
    'Shared storage bandwidth (`--bandwidth`)',
  );
  const run = await runScript(
    `${script}\nwhile [ -e fleet.pid ]; do sleep 0.1; done\n`,
    'qmpkit-readme-bandwidth-',
  );
  cleanups.push(run.cleanUp);
  expect(run.code, run.output).toBe(0);
  // 64 MiB/s shared by two mirrors: 32 MiB each of 1 GiB after a second.
  expect(run.output.match(/m[01] +mirror +running +3\.1%/g)).toHaveLength(2);
});

test("the README's fleet file example runs as written", async () => {
  const script = readmeExample('../../server-app/README.md', 'Fleet files (`--fleet-file`)');
  const run = await runScript(
    `${script}\nwhile [ -e fleet.pid ]; do sleep 0.1; done\n`,
    'qmpkit-readme-fleet-file-',
  );
  cleanups.push(run.cleanUp);
  expect(run.code, run.output).toBe(0);
  // db1's mirror between its own disks completes; web1 has no such target (QEMU's message).
  expect(run.output).toContain('move-data: completed');
  expect(run.output).toContain(
    "GenericError: Cannot find device='data-new' nor node-name='data-new'",
  );
  for (const vm of ['web1', 'db1']) expect(existsSync(join(run.dir, `${vm}.sock`))).toBe(false);
});
