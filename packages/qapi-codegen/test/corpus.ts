// Paths into the QAPI corpus the repository carries (qemu-data/qapi-corpus, QEMU's data, GPL).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const corpusDir = fileURLToPath(new URL('../../../qemu-data/qapi-corpus/', import.meta.url));

export function corpusPath(rel: string): string {
  return `${corpusDir}${rel}`;
}

export function readCorpus(rel: string): string {
  return readFileSync(corpusPath(rel), 'utf8');
}

export function readCorpusJson(rel: string): unknown {
  return JSON.parse(readCorpus(rel));
}

export function corpusDefines(rel: string): Set<string> {
  return new Set(
    readCorpus(rel)
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== ''),
  );
}
