// `@qmpkit/client`'s root entry loads wherever a `Transport` can be made: its built import graph
// (dist/, through @qmpkit/protocol's root) reaches no `node:` module. Node sockets are in
// `@qmpkit/client/node`, whose graph does reach `node:net`.
import { describe, expect, test } from 'vitest';
import { reachable, resolvePackage } from '../src/import-graph.js';
import { repoRoot } from '../src/repo.js';

const nodeModulesReached = (entry: string) =>
  [...reachable([entry])]
    .filter(([file]) => file.startsWith('node:'))
    .map(([, path]) => path.map((f) => f.replace(`${repoRoot}/`, '')).join(' → '));

describe("the client's entry points", () => {
  test('@qmpkit/client imports no node: module', () => {
    expect(nodeModulesReached(resolvePackage('@qmpkit/client'))).toEqual([]);
  });

  test('@qmpkit/client/node does (the walk sees node: imports)', () => {
    expect(nodeModulesReached(resolvePackage('@qmpkit/client/node')).join('\n')).toContain(
      'node:net',
    );
  });
});
