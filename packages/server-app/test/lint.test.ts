// qmpkit-server --lint end to end: the built bin, a raw client misusing the job API, the
// findings through x-qmpkit-lint, the JSON report and the exit status at `quit`.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { until } from '@qmpkit/test-support';
import { afterEach, expect, test } from 'vitest';
import { cleanUp, client, startServer, statusChange, tempDir } from './bin-harness.js';

afterEach(cleanUp);

test('findings through x-qmpkit-lint, in the report, and as the exit status with --lint-fail', async () => {
  const dir = tempDir('qmpkit-lint-');
  const socket = join(dir, 'q.sock');
  const report = join(dir, 'lint.json');
  const server = startServer([
    '--blockdev',
    'null-co,node-name=src,size=1048576',
    '--blockdev',
    'null-co,node-name=dst,size=1048576',
    '--socket',
    socket,
    '--pidfile',
    join(dir, 'pid'),
    '--lint-report',
    report,
    '--lint-fail',
    '--lint-poll-interval',
    '60000',
  ]);
  await until(() => existsSync(join(dir, 'pid')), `the server (${server.stderr()})`);
  const c = await client(socket);
  const schema = (await c.call('query-qmp-schema')).return as { name: string }[];
  expect(schema.some((e) => e.name === 'x-qmpkit-lint')).toBe(true);
  expect(await c.call('x-qmpkit-lint')).toMatchObject({ return: [] });

  // A mirror without job-id (on a bare node QEMU refuses it: no BlockBackend name to borrow),
  // a backup left concluded, polled twice within the interval.
  expect(
    await c.call('blockdev-mirror', { device: 'src', target: 'dst', sync: 'full' }),
  ).toMatchObject({ error: { class: 'GenericError', desc: "Invalid job ID ''" } });
  expect(
    await c.call('blockdev-backup', {
      'job-id': 'b1',
      device: 'src',
      target: 'dst',
      sync: 'full',
      'auto-dismiss': false,
    }),
  ).toMatchObject({ return: {} });
  await until(
    () =>
      c.messages.some(
        (m) =>
          m.event === 'JOB_STATUS_CHANGE' && (m.data as { status: string }).status === 'concluded',
      ),
    'the backup to conclude',
  );
  await c.call('query-jobs');
  await c.call('query-jobs');
  const findings = (await c.call('x-qmpkit-lint')).return as { rule: string; job?: string }[];
  expect(findings.map((f) => f.rule)).toEqual(['no-job-id', 'poll-too-fast']);
  expect(findings[0]).toMatchObject({ job: 'src', client: 1, command: 'blockdev-mirror' });

  await c.call('quit');
  expect(await server.exited).toBe(1);
  const written = JSON.parse(readFileSync(report, 'utf8')) as { rule: string; job?: string }[];
  expect(written.map((f) => [f.rule, f.job])).toEqual([
    ['no-job-id', 'src'],
    ['poll-too-fast', undefined],
    ['concluded-not-dismissed', 'b1'],
  ]);
  expect(server.stderr()).toContain('lint: 3 finding(s)');
});

test("without --lint the schema is exactly QEMU's and the exit status 0", async () => {
  const dir = tempDir('qmpkit-lint-');
  const socket = join(dir, 'q.sock');
  const server = startServer(['--socket', socket, '--pidfile', join(dir, 'pid')]);
  await until(() => existsSync(join(dir, 'pid')), 'the server');
  const c = await client(socket);
  expect(await c.call('x-qmpkit-lint')).toMatchObject({ error: { class: 'CommandNotFound' } });
  await c.call('quit');
  expect(await server.exited).toBe(0);
});

test('error-not-read, reply-not-completion and deprecated, end to end: found as the client misuses, in the report at exit', async () => {
  const dir = tempDir('qmpkit-lint-');
  const socket = join(dir, 'q.sock');
  const report = join(dir, 'lint.json');
  const MiB = 1024 * 1024;
  const server = startServer([
    ...['src', 'dst', 'src2', 'dst2'].flatMap((node) => [
      '--blockdev',
      `null-co,node-name=${node},size=${64 * MiB}`,
    ]),
    '--throughput',
    '64M',
    // dst2 fills up at 40 %: a backup onto it fails with ENOSPC.
    '--fault',
    'io-error,node=dst2,at=40,errno=ENOSPC',
    '--socket',
    socket,
    '--pidfile',
    join(dir, 'pid'),
    '--lint-report',
    report,
    '--lint-fail',
  ]);
  await until(() => existsSync(join(dir, 'pid')), `the server (${server.stderr()})`);
  const c = await client(socket);

  // error-not-read: a backup fails; the client dismisses it without a query-jobs since, so the
  // error is gone with the job.
  expect(
    await c.call('blockdev-backup', {
      'job-id': 'b2',
      device: 'src2',
      target: 'dst2',
      sync: 'full',
      'auto-dismiss': false,
    }),
  ).toMatchObject({ return: {} });
  await until(() => c.messages.some(statusChange('b2', 'concluded')), 'the backup to fail');
  expect(c.messages.some(statusChange('b2', 'aborting'))).toBe(true);
  expect(await c.call('job-dismiss', { id: 'b2' })).toMatchObject({ return: {} });

  // reply-not-completion: the backup's reply taken for its end, its target deleted while it runs
  // (speed 1: it stays running). QEMU refuses: the node is in use.
  expect(
    await c.call('blockdev-backup', {
      'job-id': 'b1',
      device: 'src',
      target: 'dst',
      sync: 'full',
      speed: 1,
    }),
  ).toMatchObject({ return: {} });
  expect(await c.call('blockdev-del', { 'node-name': 'dst' })).toMatchObject({
    error: { class: 'GenericError' },
  });

  // deprecated: a deprecated command and a deprecated argument (QEMU 7.2's schema marks
  // drive-backup and block-commit's base/top so). The linter notes the command as sent,
  // whatever the answer.
  await c.call('drive-backup', {
    'job-id': 'd1',
    device: 'src2',
    target: join(dir, 'copy.raw'),
    sync: 'full',
    mode: 'existing',
  });
  await c.call('block-commit', { 'job-id': 'c1', device: 'src2', top: 'src2' });

  const expected = [
    ['error-not-read', 'b2', 'job-dismiss'],
    ['reply-not-completion', 'b1', 'blockdev-del'],
    ['deprecated', undefined, 'drive-backup'],
    ['deprecated', undefined, 'block-commit'],
  ];
  const findings = (await c.call('x-qmpkit-lint')).return as {
    rule: string;
    job?: string;
    command?: string;
    message: string;
  }[];
  expect(findings.map((f) => [f.rule, f.job, f.command])).toEqual(expected);
  expect(findings[3]?.message).toBe("block-commit: argument 'top' is deprecated");

  await c.call('job-cancel', { id: 'b1' });
  await c.call('quit');
  expect(await server.exited).toBe(1);
  const written = JSON.parse(readFileSync(report, 'utf8')) as typeof findings;
  expect(written.map((f) => [f.rule, f.job, f.command])).toEqual(expected);
  expect(server.stderr()).toContain('lint: 4 finding(s)');
});
