// Where things are, seen from this package.

import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The root of the qmpkit checkout. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** `../shared` beside the checkout: DESIGN.md, the references and the QAPI corpus. */
export const sharedDir = resolve(repoRoot, '../shared');

export function requireShared(): string {
  if (!existsSync(resolve(sharedDir, 'DESIGN.md'))) {
    throw new Error(`expected qmpkit's shared material at ${sharedDir} (DESIGN.md not found)`);
  }
  return sharedDir;
}
