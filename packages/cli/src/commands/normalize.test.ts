import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { formatEntryLine, formatMessageLine, formatRecordingHeader } from '@qmpkit/protocol';
import { afterEach, expect, test } from 'vitest';
import { main } from '../main.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function run(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    stdin: new PassThrough(),
    env: {},
    home: '',
    interrupt: new AbortController().signal,
    now: () => 0,
  });
  return { code, stdout, stderr };
}

/** A recording of one session of `run`, at per-run temp dir `tmp`, with ids `prefix.N`. */
function recording(tmp: string, prefix: string, seconds: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'qmpkit-normalize-'));
  dirs.push(dir);
  const messages: [number, 'in' | 'out', unknown][] = [
    [
      1,
      'in',
      {
        execute: 'blockdev-add',
        arguments: { driver: 'file', filename: `${tmp}/a.img` },
        id: `${prefix}.1`,
      },
    ],
    [
      1,
      'out',
      {
        id: `${prefix}.1`,
        error: { class: 'GenericError', desc: `Could not open '${tmp}/a.img'` },
      },
    ],
    [
      1,
      'out',
      {
        timestamp: { seconds, microseconds: 5 },
        event: 'BLOCK_JOB_READY',
        data: { device: 'j', len: 7, offset: seconds, speed: 0, type: 'mirror' },
      },
    ],
  ];
  let text = formatRecordingHeader({ started: '2026-12-07T08:00:00.000Z' });
  text += formatEntryLine({ t: 0, conn: 1, state: 'open' });
  messages.forEach(([conn, dir, msg], i) => {
    text += formatMessageLine(i + 1, conn, dir, msg as never, '');
  });
  const file = join(dir, 's.qmp.jsonl');
  writeFileSync(file, text);
  return file;
}

test('two runs that differ only in ids, temp dirs, timestamps and progress normalize alike', async () => {
  const a = await run([
    'normalize',
    recording('/tmp/run-a', 'x', 100),
    '--ids',
    '--progress',
    '--temp-dir',
    '/tmp/run-a',
  ]);
  const b = await run([
    'normalize',
    recording('/tmp/run-b', 'y', 200),
    '--ids',
    '--progress',
    '--temp-dir',
    '/tmp/run-b',
  ]);
  expect(a.code).toBe(0);
  expect(a.stdout).toBe(b.stdout);
  expect(a.stdout.split('\n')).toEqual([
    '# connection 1',
    '→ {"arguments":{"driver":"file","filename":"<tmp>/a.img"},"execute":"blockdev-add","id":"<id 1>"}',
    '← {"error":{"class":"GenericError","desc":"Could not open \'<tmp>/a.img\'"},"id":"<id 1>"}',
    '← {"data":{"device":"j","len":"<progress>","offset":"<progress>","speed":0,"type":"mirror"},"event":"BLOCK_JOB_READY","timestamp":"<timestamp>"}',
    '',
  ]);
  // Without the options, the runs differ.
  const plain = await run(['normalize', recording('/tmp/run-a', 'x', 100)]);
  expect(plain.stdout).toContain('"id":"x.1"');
});

test('usage and file errors', async () => {
  expect(await run(['normalize'])).toMatchObject({ code: 2 });
  expect((await run(['normalize', '/nonexistent/s.jsonl'])).code).toBe(1);
  const dir = mkdtempSync(join(tmpdir(), 'qmpkit-normalize-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'bad'), 'not a recording\n');
  const bad = await run(['normalize', join(dir, 'bad')]);
  expect(bad).toMatchObject({ code: 1, stderr: expect.stringContaining('recording line 1') });
});
