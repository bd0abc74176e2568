// A readable line diff of two normalized transcripts (longest common subsequence): unchanged
// lines near a change are shown for context, removed lines (only in the reference) with "-",
// added lines (only in the other target) with "+".

/** Transcripts longer than this are compared by a plain first-difference report. */
const MAX_LINES = 4000;

export interface DiffOptions {
  /** Lines of unchanged context around each change (default 3). */
  readonly context?: number;
  readonly referenceName?: string;
  readonly otherName?: string;
}

type Op = { readonly kind: ' ' | '-' | '+'; readonly line: string };

function diffOps(a: readonly string[], b: readonly string[]): Op[] {
  const n = a.length;
  const m = b.length;
  // lcs[i][j] = length of the LCS of a[i..] and b[j..], in one flat array.
  const width = m + 1;
  const lcs = new Uint32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * width + j] =
        a[i] === b[j]
          ? (lcs[(i + 1) * width + j + 1] as number) + 1
          : Math.max(lcs[(i + 1) * width + j] as number, lcs[i * width + j + 1] as number);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      ops.push({ kind: ' ', line: a[i++] as string });
      j++;
    } else if ((lcs[(i + 1) * width + j] as number) >= (lcs[i * width + j + 1] as number)) {
      ops.push({ kind: '-', line: a[i++] as string });
    } else {
      ops.push({ kind: '+', line: b[j++] as string });
    }
  }
  while (i < n) ops.push({ kind: '-', line: a[i++] as string });
  while (j < m) ops.push({ kind: '+', line: b[j++] as string });
  return ops;
}

/** An empty string when the transcripts are equal; otherwise a diff for a human. */
export function diffTranscripts(
  reference: readonly string[],
  other: readonly string[],
  options: DiffOptions = {},
): string {
  const referenceName = options.referenceName ?? 'reference';
  const otherName = options.otherName ?? 'other';
  if (reference.length === other.length && reference.every((line, i) => line === other[i])) {
    return '';
  }
  const header = `--- ${referenceName}\n+++ ${otherName}\n`;
  if (reference.length > MAX_LINES || other.length > MAX_LINES) {
    const at = reference.findIndex((line, i) => line !== other[i]);
    const first = at < 0 ? Math.min(reference.length, other.length) : at;
    return `${header}first difference at line ${first + 1}:\n-${reference[first] ?? '<end>'}\n+${other[first] ?? '<end>'}`;
  }
  const context = options.context ?? 3;
  const ops = diffOps(reference, other);
  const show = new Array<boolean>(ops.length).fill(false);
  ops.forEach((op, k) => {
    if (op.kind === ' ') return;
    for (let c = Math.max(0, k - context); c <= Math.min(ops.length - 1, k + context); c++) {
      show[c] = true;
    }
  });
  const out: string[] = [];
  let skipped = false;
  ops.forEach((op, k) => {
    if (!show[k]) {
      skipped = true;
      return;
    }
    if (skipped) out.push('  …');
    skipped = false;
    out.push(`${op.kind} ${op.line}`);
  });
  if (skipped) out.push('  …');
  return header + out.join('\n');
}
