// The version profiles against what the real qemu-storage-daemons did on the same commands
// (Debian 7.2.22 and 10.0.2, null-co nodes without read-zeroes, as here).
import { describe, expect, test } from 'vitest';
import { MiB, qcow2Image, Scenario } from '../jobs/scenario.test-helper.js';
import { qemu72Profile, qemu100Profile, qemuProfile } from './index.js';

function setup(profile = qemu100Profile): Scenario {
  const s = new Scenario({ profile });
  for (const name of ['src', 'dst', 'dst2', 'dst3']) s.emptyNullNode(name, 64 * MiB);
  s.emptyNullNode('extra', MiB);
  s.take();
  return s;
}

describe('qemuProfile', () => {
  test('finds each version', () => {
    expect(qemuProfile('7.2')).toBe(qemu72Profile);
    expect(qemuProfile('10.0')).toBe(qemu100Profile);
    expect(qemu100Profile.qemu).toEqual({ major: 10, minor: 0, micro: 0 });
  });
});

describe('query-named-block-nodes', () => {
  // qemu-storage-daemon 10.0.2 answers `"active": true` for every null-co node; 7.2 has no member.
  test('10.0 marks every node active; 7.2 has no such member', () => {
    const nodes10 = setup().run('query-named-block-nodes', { flat: true }) as object[];
    expect(nodes10.map((n) => (n as { active?: unknown }).active)).toEqual([
      true,
      true,
      true,
      true,
      true,
    ]);
    const nodes72 = setup(qemu72Profile).run('query-named-block-nodes', { flat: true }) as object[];
    expect(nodes72).toHaveLength(5);
    for (const node of nodes72) expect(node).not.toHaveProperty('active');
  });
});

describe('blockdev-del of a node no job uses', () => {
  test('10.0 drains every job: a running mirror pauses and resumes before the reply', () => {
    const s = setup();
    s.mirror({ speed: 1 });
    expect(s.take()).toEqual(['m1 created', 'm1 running', 'R']);
    s.run('blockdev-del', { 'node-name': 'extra' });
    expect(s.take()).toEqual(['m1 paused', 'm1 running', 'R']);
  });

  test('10.0: a ready mirror goes standby and back to ready', () => {
    const s = setup();
    s.mirror();
    s.step(100);
    expect(s.take()).toContain('m1 ready');
    s.run('blockdev-del', { 'node-name': 'extra' });
    expect(s.take()).toEqual(['m1 standby', 'm1 ready', 'R']);
  });

  // Recorded on qemu-storage-daemon 10.0.2 (conformance scenario
  // blockdev-add-and-del-of-a-qcow2-node-drain-a-running-job-per-graph-change).
  test('10.0: a qcow2 node over an inline file drains three times to open, twice to close', () => {
    const s = setup();
    s.store.put('/q.qcow2', qcow2Image(MiB));
    s.mirror({ speed: 1 });
    s.take();
    s.run('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'q',
      file: { driver: 'file', filename: '/q.qcow2' },
    });
    const pair = ['m1 paused', 'm1 running'];
    expect(s.take()).toEqual([...pair, ...pair, ...pair, 'R']);
    s.run('blockdev-del', { 'node-name': 'q' });
    expect(s.take()).toEqual([...pair, ...pair, 'R']);
  });

  // Recorded on qemu-storage-daemon 10.0.2 beside a running backup (finding
  // graph-changes-blockdev-add-drive; conformance scenario graph-changes-blockdev-add-del-beside-
  // jobs): a failing open makes graph changes too — the format probe's BlockBackend, children
  // attached, the failed driver open undone, every node made closed again.
  test('10.0: a failing blockdev-add drains once per graph change it made before failing', () => {
    const s = setup();
    s.store.put('/q.qcow2', qcow2Image(MiB));
    s.store.put('/plain.img', new Uint8Array(MiB));
    s.mirror({ speed: 1 });
    s.take();
    const drainsOf = (args: Record<string, unknown>): number => {
      s.fail('blockdev-add', args);
      const events = s.take();
      expect(events.at(-1)).toMatch(/^R GenericError: /);
      return events.filter((e) => e === 'm1 paused').length;
    };
    s.run('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'q',
      file: { driver: 'file', filename: '/q.qcow2' },
    });
    s.take();
    expect(drainsOf({ driver: 'null-co', 'node-name': 'q', size: MiB })).toBe(1);
    const qcow2Over = (file: unknown) => ({ driver: 'qcow2', 'node-name': 'q2', file });
    expect(drainsOf(qcow2Over({ driver: 'file', filename: '/missing.qcow2' }))).toBe(3);
    expect(
      drainsOf({
        driver: 'qcow2',
        'node-name': 'q',
        file: { driver: 'file', filename: '/q.qcow2' },
      }),
    ).toBe(4);
    expect(drainsOf(qcow2Over({ driver: 'file', filename: '/plain.img' }))).toBe(6);
    s.run('blockdev-add', { driver: 'file', 'node-name': 'f5', filename: '/q.qcow2' });
    s.take();
    const names = () =>
      (s.run('query-named-block-nodes', {}) as { 'node-name': string }[]).map(
        (n) => n['node-name'],
      );
    const before = names();
    expect(drainsOf(qcow2Over('f5'))).toBe(5);
    // What the failures opened is closed again.
    expect(names()).toEqual(before);
    expect(before).not.toContain('q2');
  });

  test('10.0: a failing blockdev-del drains nothing, nor does one while the job is paused', () => {
    const s = setup();
    s.mirror({ speed: 1 });
    s.take();
    expect(s.fail('blockdev-del', { 'node-name': 'nothere' })).toBe(
      "GenericError: Failed to find node with node-name='nothere'",
    );
    expect(s.fail('blockdev-del', { 'node-name': 'dst' })).toBe('GenericError: Node dst is in use');
    expect(s.take()).toEqual([
      "R GenericError: Failed to find node with node-name='nothere'",
      'R GenericError: Node dst is in use',
    ]);
    s.run('job-pause', { id: 'm1' });
    expect(s.take()).toEqual(['m1 paused', 'R']);
    s.run('blockdev-del', { 'node-name': 'extra' });
    expect(s.take()).toEqual(['R']);
  });

  test('7.2 drains nothing', () => {
    const s = setup(qemu72Profile);
    s.mirror({ speed: 1 });
    s.take();
    s.run('blockdev-del', { 'node-name': 'extra' });
    expect(s.take()).toEqual(['R']);
  });
});

describe('block-job-change', () => {
  test('7.2 has no such command', () => {
    expect(setup(qemu72Profile).sim.handlers['block-job-change']).toBeUndefined();
  });

  test('10.0: errors in QEMU’s order, and a mirror’s copy mode', () => {
    const s = setup();
    const change = (id: string, type: string, mode?: string) =>
      s.fail('block-job-change', {
        id,
        type,
        ...(mode === undefined ? {} : { 'copy-mode': mode }),
      });
    expect(change('nope', 'mirror', 'write-blocking')).toBe(
      "DeviceNotActive: Block job 'nope' not found",
    );
    s.mirror({ speed: 1 });
    s.take();
    // The mode it has (background; a type without copy-mode asks for background too): {}.
    s.run('block-job-change', { id: 'm1', type: 'mirror', 'copy-mode': 'background' });
    s.run('block-job-change', { id: 'm1', type: 'commit' });
    s.run('block-job-change', { id: 'm1', type: 'mirror', 'copy-mode': 'write-blocking' });
    expect(s.take()).toEqual(['R', 'R', 'R']);
    expect(change('m1', 'mirror', 'background')).toBe(
      "GenericError: Change to copy mode 'background' is not implemented",
    );
    expect(change('m1', 'commit')).toBe(
      "GenericError: Change to copy mode 'background' is not implemented",
    );
    s.run('blockdev-backup', { 'job-id': 'b1', device: 'dst2', target: 'dst3', sync: 'none' });
    s.take();
    expect(change('b1', 'backup')).toBe('GenericError: Job type does not support change');
    expect(change('b1', 'mirror', 'write-blocking')).toBe(
      'GenericError: Job type does not support change',
    );
  });

  test('10.0: the verb table — refused once pending', () => {
    const s = setup();
    s.run('blockdev-mirror', {
      'job-id': 'm2',
      device: 'src',
      target: 'dst2',
      sync: 'full',
      'copy-mode': 'write-blocking',
      'auto-finalize': false,
    });
    s.step(100);
    s.run('job-complete', { id: 'm2' });
    s.step(100);
    expect(s.take()).toContain('PENDING m2');
    expect(
      s.fail('block-job-change', { id: 'm2', type: 'mirror', 'copy-mode': 'write-blocking' }),
    ).toBe("GenericError: Job 'm2' in state 'pending' cannot accept command verb 'change'");
    expect(s.blockJob('m2')?.['actively-synced']).toBe(true);
  });
});

describe('actively-synced', () => {
  test('7.2 has no such member', () => {
    const s = setup(qemu72Profile);
    s.mirror();
    s.step(100);
    expect(s.blockJob('m1')).not.toHaveProperty('actively-synced');
  });

  test('10.0: a write-blocking mirror is actively synced from READY; a backup has no member', () => {
    const s = setup();
    s.mirror({ 'job-id': 'm3', 'copy-mode': 'write-blocking' });
    s.step(100);
    expect(s.take()).toContain('READY m3 67108864/67108864');
    expect(s.blockJob('m3')?.['actively-synced']).toBe(true);
    s.run('blockdev-backup', { 'job-id': 'b1', device: 'dst2', target: 'dst3', sync: 'none' });
    expect(s.blockJob('b1')).not.toHaveProperty('actively-synced');
  });

  test('10.0: a background mirror switched while ready is synced after its next loop turn', () => {
    const s = setup();
    s.mirror();
    s.step(100);
    expect(s.blockJob('m1')?.['actively-synced']).toBe(false);
    s.run('block-job-change', { id: 'm1', type: 'mirror', 'copy-mode': 'write-blocking' });
    expect(s.blockJob('m1')?.['actively-synced']).toBe(false);
    s.step(100);
    expect(s.blockJob('m1')?.['actively-synced']).toBe(true);
    s.run('job-cancel', { id: 'm1' });
    expect(s.take()).toContain('m1 null');
  });
});

describe('transaction with completion-mode grouped and an action that cannot be grouped', () => {
  const args = {
    actions: [
      {
        type: 'blockdev-backup',
        data: { 'job-id': 'j1', device: 'src', target: 'dst', sync: 'full' },
      },
      { type: 'blockdev-snapshot-internal-sync', data: { device: 'src', name: 'snap' } },
    ],
    properties: { 'completion-mode': 'grouped' },
  };

  test('10.0 refuses it before anything happens', () => {
    const s = setup();
    expect(s.fail('transaction', args)).toBe(
      "GenericError: Action 'blockdev-snapshot-internal-sync' does not support transaction property completion-mode = grouped",
    );
    expect(s.take()).toHaveLength(1);
  });

  test('7.2 refuses it while preparing it, after the backup before it was created', () => {
    const s = setup(qemu72Profile);
    s.fail('transaction', args);
    expect(s.take()).toEqual([
      'j1 created',
      'j1 aborting',
      'j1 concluded',
      'j1 null',
      "R GenericError: Action 'blockdev-snapshot-internal-sync' does not support Transaction property completion-mode = grouped",
    ]);
  });
});

describe('a throttled job entered again', () => {
  for (const [profile, offset] of [
    [qemu72Profile, 32 * MiB],
    [qemu100Profile, 16 * MiB],
  ] as const) {
    test(`${profile.version}: after job-resume the mirror is at ${offset / MiB} MiB`, () => {
      // 7.2 copies one more 16 MiB chunk at once; 10.0 waits out the delay it still owes.
      const s = setup(profile);
      s.mirror({ speed: 1 });
      s.step(10);
      expect(s.peek('m1')?.offset).toBe(16 * MiB);
      s.run('job-pause', { id: 'm1' });
      s.run('job-resume', { id: 'm1' });
      s.step(1000);
      expect(s.peek('m1')).toMatchObject({ offset, busy: false, status: 'running' });
    });
  }
});

describe('a blockdev-create the image driver refuses', () => {
  const args = { 'job-id': 'cr1', options: { driver: 'qcow2', file: 'nonexist', size: MiB } };
  test('7.2 ends it before the reply', () => {
    const s = setup(qemu72Profile);
    s.run('blockdev-create', args);
    expect(s.take()).toEqual(['cr1 created', 'cr1 running', 'cr1 aborting', 'cr1 concluded', 'R']);
  });
  test('10.0 ends it after the reply', () => {
    const s = setup();
    s.run('blockdev-create', args);
    expect(s.take()).toEqual(['cr1 created', 'cr1 running', 'R', 'cr1 aborting', 'cr1 concluded']);
  });
});

// Measured on qemu-storage-daemon 10.0.2 with a backup `x` at speed 1 running beside the job:
// every graph change the job's creation and end make (the block graph's write lock) drains x.
describe('graph changes of a job drain every other job (10.0)', () => {
  const pairs = (id: string, times: number): string[] =>
    Array.from({ length: times }, () => [`${id} paused`, `${id} running`]).flat();

  function withThrottledBackup(profile = qemu100Profile): Scenario {
    // Instant I/O, as QEMU's null-co: an unthrottled job's copy takes no time.
    const s = new Scenario({ profile, throughput: Number.POSITIVE_INFINITY });
    for (const name of ['src', 'dst', 'dst2', 'dst3']) s.emptyNullNode(name, 64 * MiB);
    s.take();
    s.backup({ 'job-id': 'x', speed: 1 });
    expect(s.take()).toEqual(['x created', 'x running', 'x paused', 'x running', 'R']);
    return s;
  }

  test('a mirror: two changes before its job exists, two after; five at its pivot, one freed', () => {
    const s = withThrottledBackup();
    s.run('blockdev-mirror', { 'job-id': 'm', device: 'dst2', target: 'dst3', sync: 'full' });
    expect(s.take()).toEqual([
      ...pairs('x', 2),
      'm created',
      ...pairs('x', 2),
      'm running',
      'R',
      // After the reply, as on QEMU.
      'm ready',
      `READY m ${64 * MiB}/${64 * MiB}`,
    ]);
    s.run('job-complete', { id: 'm' });
    s.step(100);
    expect(s.take()).toEqual([
      'R',
      'm waiting',
      'm pending',
      ...pairs('x', 5),
      `COMPLETED m ${64 * MiB}/${64 * MiB}`,
      'm concluded',
      'm null',
      ...pairs('x', 1),
    ]);
  });

  test('a backup kept until job-dismiss: its filter goes at finalize, the job is freed at dismiss', () => {
    const s = withThrottledBackup();
    s.run('blockdev-backup', {
      'job-id': 'b',
      device: 'dst2',
      target: 'dst3',
      sync: 'full',
      'auto-finalize': false,
      'auto-dismiss': false,
    });
    expect(s.take()).toEqual([
      ...pairs('x', 5),
      'b created',
      ...pairs('x', 1),
      'b running',
      'b paused',
      'b running',
      'b waiting',
      'b pending',
      'PENDING b',
      'R',
    ]);
    s.run('job-finalize', { id: 'b' });
    expect(s.take()).toEqual([
      ...pairs('x', 3),
      `COMPLETED b ${64 * MiB}/${64 * MiB}`,
      'b concluded',
      'R',
    ]);
    s.run('job-dismiss', { id: 'b' });
    expect(s.take()).toEqual(['b null', ...pairs('x', 1), 'R']);
  });

  test('a mirror refused for its job id still puts its filter in and takes it out', () => {
    const s = withThrottledBackup();
    expect(
      s.fail('blockdev-mirror', { 'job-id': 'x', device: 'dst2', target: 'dst3', sync: 'full' }),
    ).toBe("GenericError: Job ID 'x' already in use");
    expect(s.take()).toEqual([...pairs('x', 4), "R GenericError: Job ID 'x' already in use"]);
  });

  test('7.2: the same commands drain nothing beyond the transaction’s drain', () => {
    const s = withThrottledBackup(qemu72Profile);
    expect(
      s.fail('blockdev-mirror', { 'job-id': 'x', device: 'dst2', target: 'dst3', sync: 'full' }),
    ).toBe("GenericError: Job ID 'x' already in use");
    s.run('blockdev-mirror', { 'job-id': 'm', device: 'dst2', target: 'dst3', sync: 'full' });
    expect(s.take()).toEqual([
      "R GenericError: Job ID 'x' already in use",
      'm created',
      'm running',
      'R',
      'm ready',
      `READY m ${64 * MiB}/${64 * MiB}`,
    ]);
  });
});
