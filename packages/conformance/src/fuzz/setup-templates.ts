// The images of a case's setup, made once per run of the tester: most shapes share one setup
// (the qcow2 chain, the sparse raw file), and making it costs 6 qemu-img/qemu-io processes (over
// a second at a load of 30 on 2 cores), twice per case (one directory per side). Each side then
// starts from a copy of the template (scenario-runner's `prepared`), so what the jobs write never
// reaches it.

import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SetupStep } from '../scenario.js';
import { prepareSetup } from '../scenario-runner.js';

export class SetupTemplates {
  #root: string | undefined;
  readonly #made = new Map<string, Promise<string>>();
  #count = 0;

  /** The directory holding what `setup` makes (undefined: nothing to make). */
  template(setup: readonly SetupStep[] | undefined): Promise<string> | undefined {
    if (setup === undefined || setup.length === 0) return undefined;
    const key = JSON.stringify(setup);
    let made = this.#made.get(key);
    if (made === undefined) {
      this.#root ??= mkdtempSync(join(tmpdir(), 'qmpkit-fuzz-setup-'));
      const dir = join(this.#root, String(this.#count++));
      made = mkdirThen(dir, () => prepareSetup(dir, setup));
      // A failed setup is not kept: the next case tries again (and reports what failed).
      made.catch(() => this.#made.delete(key));
      this.#made.set(key, made);
    }
    return made;
  }

  /** Removes every template. */
  close(): void {
    if (this.#root !== undefined) rmSync(this.#root, { recursive: true, force: true });
    this.#root = undefined;
    this.#made.clear();
  }
}

async function mkdirThen(dir: string, make: () => Promise<void>): Promise<string> {
  await mkdir(dir);
  await make();
  return dir;
}
