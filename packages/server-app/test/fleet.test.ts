// qmpkit-server --fleet end to end: the built bin with several VMs, each its own block graph and
// jobs behind its own monitor; `quit` ends one VM, SIGTERM the fleet (sockets and pidfile gone).

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { until } from '@qmpkit/test-support';
import { afterEach, expect, test } from 'vitest';
import { cleanUp, client, startServer, statusChange, tempDir } from './bin-harness.js';

afterEach(cleanUp);

const DISKS = [
  '--blockdev',
  'null-co,node-name=src,size=1073741824',
  '--blockdev',
  'null-co,node-name=dst,size=1073741824',
];

async function startFleet(count: number, extra: string[] = []) {
  const dir = tempDir('qmpkit-fleet-');
  const pid = join(dir, 'pid');
  const server = startServer([
    '--fleet',
    String(count),
    '--socket',
    join(dir, 'vm%d.sock'),
    '--pidfile',
    pid,
    ...DISKS,
    ...extra,
  ]);
  await until(() => existsSync(pid), `the fleet (${server.stderr()})`);
  return { ...server, dir, pid, socket: (i: number) => join(dir, `vm${i}.sock`) };
}

test('each VM has its own graph and jobs; quit ends one VM; SIGTERM ends the fleet', async () => {
  const fleet = await startFleet(3, ['--throughput', '1G']);
  for (const i of [0, 1, 2]) expect(existsSync(fleet.socket(i))).toBe(true);
  const vm1 = await client(fleet.socket(1));
  const vm2 = await client(fleet.socket(2));
  // The same node names in every VM, each VM's own: vm1 mirrors src, vm2's src stays free.
  expect(
    await vm1.call('blockdev-mirror', {
      'job-id': 'm',
      device: 'src',
      target: 'dst',
      sync: 'full',
    }),
  ).toMatchObject({ return: {} });
  await until(() => vm1.messages.some(statusChange('m', 'ready')), 'vm1 mirror ready');
  expect(await vm2.call('query-jobs')).toMatchObject({ return: [] });
  expect(vm2.messages.some((m) => m.event !== undefined)).toBe(false);
  expect(
    await vm2.call('blockdev-mirror', {
      'job-id': 'm',
      device: 'src',
      target: 'dst',
      sync: 'full',
    }),
  ).toMatchObject({ return: {} });
  expect(await vm2.call('blockdev-add', { driver: 'null-co', 'node-name': 'extra' })).toMatchObject(
    { return: {} },
  );
  const names = (vm: typeof vm1) =>
    vm
      .call('query-named-block-nodes')
      .then((r) => (r.return as { 'node-name': string }[]).map((n) => n['node-name']).sort());
  expect(await names(vm2)).toContain('extra');
  expect(await names(vm1)).not.toContain('extra');

  // quit ends VM 0 only.
  const vm0 = await client(fleet.socket(0));
  await vm0.call('quit');
  await until(() => vm0.closed(), 'vm0 to close');
  await until(() => !existsSync(fleet.socket(0)), 'vm0 socket gone');
  expect(await vm1.call('query-jobs')).toMatchObject({ return: [{ id: 'm', status: 'ready' }] });

  // SIGTERM: every job cancelled (its events sent), every socket and the pidfile gone.
  process.kill(Number(readFileSync(fleet.pid, 'utf8')), 'SIGTERM');
  expect(await fleet.exited).toBe(0);
  await until(() => vm1.messages.some(statusChange('m', 'null')), 'vm1 to see its job go');
  for (const i of [1, 2]) expect(existsSync(fleet.socket(i))).toBe(false);
  expect(existsSync(fleet.pid)).toBe(false);
});

test('TCP port 0: every VM listens on a port of its own', async () => {
  const dir = tempDir('qmpkit-fleet-');
  const pid = join(dir, 'pid');
  const server = startServer(['--fleet', '3', '--tcp', '127.0.0.1:0', '--pidfile', pid]);
  const listening = () => [...server.stderr().matchAll(/listening on tcp 127\.0\.0\.1:(\d+)/g)];
  // The pidfile comes after the log lines, but stderr reaches the test on its own pipe.
  await until(() => existsSync(pid) && listening().length === 3, 'the fleet');
  const ports = listening().map((m) => Number(m[1]));
  expect(ports).toHaveLength(3);
  expect(new Set(ports).size).toBe(3);
});

test('a VM that cannot open ends the start-up: the others are closed, exit status 1', async () => {
  const dir = tempDir('qmpkit-fleet-');
  const server = startServer([
    '--fleet',
    '2',
    '--socket',
    join(dir, 'vm%d.sock'),
    '--blockdev',
    'file,node-name=f,filename=missing.img',
  ]);
  expect(await server.exited).toBe(1);
  expect(server.stderr()).toContain('vm 0: --blockdev');
  expect(existsSync(join(dir, 'vm0.sock'))).toBe(false);
});

test('--bandwidth: the jobs of every VM share it in equal parts', async () => {
  const MiB = 1024 * 1024;
  const fleet = await startFleet(2, ['--clock', 'virtual', '--bandwidth', '64M']);
  const vms = [await client(fleet.socket(0)), await client(fleet.socket(1))];
  for (const vm of vms) {
    expect(
      await vm.call('blockdev-mirror', {
        'job-id': 'm',
        device: 'src',
        target: 'dst',
        sync: 'full',
      }),
    ).toMatchObject({ return: {} });
  }
  await until(
    () => fleet.stderr().includes('bandwidth: 67108864 bytes/s shared by 2 job(s)'),
    'the budget shared by both jobs',
  );
  // One clock for the fleet: a second for both jobs, 32 MiB each (two 16 MiB mirror chunks).
  await vms[0]!.call('x-qmpkit-clock-step', { ns: 1_000_000_000 });
  for (const vm of vms) {
    const [job] = (await vm.call('query-jobs')).return as Record<string, unknown>[];
    expect(job!.status).toBe('running');
    expect(job!['current-progress']).toBe(32 * MiB);
  }
  // One job cancelled (it ends once its request in flight is done): the other has the whole
  // budget.
  expect(await vms[1]!.call('job-cancel', { id: 'm' })).toMatchObject({ return: {} });
  await vms[0]!.call('x-qmpkit-clock-step', { ns: 1_000_000_000 });
  await until(() => vms[1]!.messages.some(statusChange('m', 'null')), 'the cancelled job to end');
  await until(
    () =>
      fleet.stderr().lastIndexOf('shared by 1 job(s)') >
      fleet.stderr().lastIndexOf('shared by 2 job(s)'),
    'the budget shared by one job',
  );
  const [before] = (await vms[0]!.call('query-jobs')).return as Record<string, number>[];
  await vms[0]!.call('x-qmpkit-clock-step', { ns: 1_000_000_000 });
  const [after] = (await vms[0]!.call('query-jobs')).return as Record<string, number>[];
  expect(after!['current-progress']! - before!['current-progress']!).toBe(64 * MiB);
});

test('--fleet-file: VMs by name, each with its own disks, on %n sockets', async () => {
  const dir = tempDir('qmpkit-fleet-');
  const pid = join(dir, 'pid');
  const file = join(dir, 'fleet.txt');
  writeFileSync(
    file,
    [
      '# an inventory: two VMs with different disks',
      'vm web1',
      '  disk null-co,node-name=os,size=1073741824',
      'vm db1',
      '  disk null-co,node-name=os,size=2147483648',
      '  disk {"driver": "null-co", "node-name": "data", "size": 1048576}',
      '',
    ].join('\n'),
  );
  const server = startServer([
    '--fleet-file',
    file,
    '--socket',
    join(dir, '%n.sock'),
    '--pidfile',
    pid,
    '--blockdev',
    'null-co,node-name=scratch,size=1048576',
  ]);
  await until(() => existsSync(pid), `the fleet (${server.stderr()})`);
  const nodes = async (vm: string) => {
    const c = await client(join(dir, `${vm}.sock`));
    const r = await c.call('query-named-block-nodes');
    return Object.fromEntries(
      (r.return as { 'node-name': string; image: { 'virtual-size': number } }[]).map((n) => [
        n['node-name'],
        n.image['virtual-size'],
      ]),
    );
  };
  // The command line's --blockdev in every VM, then each VM's own disks.
  expect(await nodes('web1')).toEqual({ scratch: 1048576, os: 1073741824 });
  expect(await nodes('db1')).toEqual({ scratch: 1048576, os: 2147483648, data: 1048576 });
  process.kill(Number(readFileSync(pid, 'utf8')), 'SIGTERM');
  expect(await server.exited).toBe(0);
  expect(existsSync(join(dir, 'web1.sock'))).toBe(false);
  expect(existsSync(join(dir, 'db1.sock'))).toBe(false);
});

test('--fleet-file: a bad file or disk is named with its line; nothing is left listening', async () => {
  const dir = tempDir('qmpkit-fleet-');
  const file = join(dir, 'fleet.txt');
  const run = async (text: string, socket = '%n.sock') => {
    writeFileSync(file, text);
    const server = startServer(['--fleet-file', file, '--socket', join(dir, socket)]);
    expect(await server.exited).toBe(1);
    return server.stderr();
  };
  expect(await run('vm a\n  disc null-co,node-name=x\n')).toContain(
    `qmpkit-server: --fleet-file ${file}:2: unknown statement 'disc'`,
  );
  // A disk QEMU would refuse: the VM and the line are named, the VM opened first is closed.
  const bad = await run('vm a\nvm b\n  disk null-co,node-name=x,size=1048576,bogus=1\n');
  expect(bad).toContain(`vm b: ${file}:3: disk null-co,node-name=x,size=1048576,bogus=1: `);
  expect(bad).toContain("Parameter 'bogus' is unexpected");
  expect(existsSync(join(dir, 'a.sock'))).toBe(false);
  expect(await run('vm a\nvm b\n', 'q.sock')).toContain(
    "with 2 VMs the socket path needs '%d' (the VM's number) or '%n' (its name)",
  );
  expect(await run('')).toContain(`${file}: no VMs`);
});

test('--lint and faults in a fleet: each VM its own findings and fault plan', async () => {
  const dir = tempDir('qmpkit-fleet-');
  const pid = join(dir, 'pid');
  const file = join(dir, 'fleet.txt');
  const report = join(dir, 'lint.json');
  writeFileSync(file, 'vm a\n  fault drop,command=query-block-jobs\nvm b\n');
  const server = startServer([
    '--fleet-file',
    file,
    '--socket',
    join(dir, '%n.sock'),
    '--pidfile',
    pid,
    '--fault-seed',
    '5',
    '--fault',
    'delay-reply,ms=1,command=query-named-block-nodes',
    '--lint-report',
    report,
    '--lint-fail',
    '--lint-poll-interval',
    '60000',
  ]);
  await until(() => existsSync(pid), `the fleet (${server.stderr()})`);
  const a = await client(join(dir, 'a.sock'));
  const b = await client(join(dir, 'b.sock'));
  // Each VM's plan: the command line's fault, its own from the file; seeded 5 + its number.
  const planOf = async (c: typeof a) =>
    (await c.call('x-qmpkit-fault')).return as {
      seed: number;
      faults: { fault: string }[];
    };
  expect(await planOf(a)).toMatchObject({
    seed: 5,
    faults: [
      { fault: 'delay-reply,command=query-named-block-nodes,ms=1' },
      { fault: 'drop,command=query-block-jobs' },
    ],
  });
  expect(await planOf(b)).toMatchObject({
    seed: 6,
    faults: [{ fault: 'delay-reply,command=query-named-block-nodes,ms=1' }],
  });
  // a's own fault cuts a's connection; b answers the same command.
  a.send('query-block-jobs');
  await until(() => a.closed(), 'a cut off');
  expect(a.messages.some((m) => 'return' in m && Array.isArray(m.return))).toBe(false);
  expect(await b.call('query-block-jobs')).toMatchObject({ return: [] });

  // The linter of b sees b's polls only.
  await b.call('query-jobs');
  await b.call('query-jobs');
  const a2 = await client(join(dir, 'a.sock'));
  await a2.call('query-jobs');
  expect(await a2.call('x-qmpkit-lint')).toMatchObject({ return: [] });
  expect(await b.call('x-qmpkit-lint')).toMatchObject({
    return: [{ rule: 'poll-too-fast', command: 'query-jobs' }],
  });
  await a2.call('quit');
  await b.call('quit');
  // --lint-fail: the fleet's exit status says there were findings; the report names the VM.
  expect(await server.exited).toBe(1);
  const findings = JSON.parse(readFileSync(report, 'utf8')) as Record<string, unknown>[];
  expect(findings).toEqual([expect.objectContaining({ vm: 'b', rule: 'poll-too-fast' })]);
  expect(server.stderr()).toContain('lint: [poll-too-fast] vm b: client');
  expect(server.stderr()).toContain('vm a: fault #2 (drop)');
});
