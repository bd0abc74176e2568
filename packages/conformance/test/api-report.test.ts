// Every published package's public API is pinned in `packages/<p>/api/<p>.api.md`: a change of
// the surface (an export added, removed or retyped) fails here until the report is regenerated
// with `pnpm api:update` and the diff is reviewed with the change.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { apiReport, stripComments } from '../src/api-report.js';
import { packages } from '../src/import-graph.js';

const update = process.env.QMPKIT_API_UPDATE === '1';
const published = packages.filter((p) => !p.manifest.private);

describe('the API reports', () => {
  test.each(published.map((p) => [p.manifest.name, p] as const))('%s', (_name, pkg) => {
    const file = join(pkg.dir, 'api', `${basename(pkg.dir)}.api.md`);
    const report = apiReport(pkg.dir, pkg.manifest);
    if (update) {
      mkdirSync(join(pkg.dir, 'api'), { recursive: true });
      writeFileSync(file, report);
    }
    expect(existsSync(file), `${file} is missing: run pnpm api:update`).toBe(true);
    const committed = readFileSync(file, 'utf8');
    expect(committed === report, `${file} is out of date: run pnpm api:update`).toBe(true);
  });
});

describe('the normalization', () => {
  test('drops comments but keeps string literals that look like them', () => {
    const text = [
      '/** doc */',
      "export declare const a: '//not a comment';",
      'export type B = "/* nor this */"; // but this',
      '/* block',
      '   comment */ export type C = `x`;',
    ].join('\n');
    expect(stripComments(text)).toBe(
      [
        '',
        "export declare const a: '//not a comment';",
        'export type B = "/* nor this */"; ',
        ' export type C = `x`;',
      ].join('\n'),
    );
  });
});
