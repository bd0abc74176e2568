// Where things are, seen from this package.

import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The root of the qmpkit checkout. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** The project's DESIGN.md, whose level table the layering check reads. */
export const designFile = resolve(repoRoot, 'DESIGN.md');
