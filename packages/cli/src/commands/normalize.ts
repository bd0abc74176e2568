/**
 * `qmpkit normalize`: a recording's normalized transcript on stdout (the shared normalizer of
 * @qmpkit/protocol, as the conformance suite uses it).
 */
import { readFileSync } from 'node:fs';
import { isRecordMessage, normalizeTranscript, parseRecording } from '@qmpkit/protocol';
import { type CliIo, EXIT_FAILURE, EXIT_OK } from '../io.js';
import type { NormalizeCommand } from '../record-args.js';

export function runNormalize(invocation: NormalizeCommand, io: CliIo): number {
  let text: string;
  try {
    text = readFileSync(invocation.file, 'utf8');
  } catch (error) {
    io.stderr.write(`qmpkit: cannot read ${invocation.file}: ${(error as Error).message}\n`);
    return EXIT_FAILURE;
  }
  const { entries } = parseRecording(text);
  const connections = [...new Set(entries.map((e) => e.conn))].sort((a, b) => a - b);
  const lines: string[] = [];
  for (const conn of connections) {
    lines.push(`# connection ${conn}`);
    const messages = entries.filter((e) => e.conn === conn).filter(isRecordMessage);
    lines.push(
      ...normalizeTranscript(messages, {
        ids: invocation.ids,
        progress: invocation.progress,
        tempDirs: invocation.tempDirs,
      }),
    );
  }
  io.stdout.write(lines.length === 0 ? '' : `${lines.join('\n')}\n`);
  return EXIT_OK;
}
