// A job's filter node and its anonymous bitmaps in the block layer's listing. Expected values:
// qemu-storage-daemon 7.2.22 and 10.0.2 (four null-co nodes a-d, 64 MiB; the counts and the
// bitmaps' places are pinned against both daemons by the conformance scenarios job-bitmaps.ts).
import { beforeEach, describe, expect, test } from 'vitest';
import { MiB, Scenario } from '../jobs/scenario.test-helper.js';
import { qemu100Profile } from '../profile/qemu-10.0.js';

let s: Scenario;
beforeEach(() => {
  s = new Scenario();
  for (const name of ['a', 'b', 'c', 'd']) s.nullNode(name, 64 * MiB);
});

type NodeInfo = { 'node-name': string; 'dirty-bitmaps'?: Array<{ count: number }> };
const listing = () =>
  (s.run('query-named-block-nodes', { flat: true }) as NodeInfo[]).map(
    (n) => `${n['node-name']}:${n['dirty-bitmaps']?.length ?? 0}`,
  );

const backupAB = { 'job-id': 'j', device: 'a', target: 'b', sync: 'full', speed: 1 };

describe("a job's filter node name", () => {
  test('is taken while the job runs: by another job, by blockdev-add', () => {
    s.run('blockdev-backup', { ...backupAB, 'filter-node-name': 'f' });
    const other = {
      'job-id': 'k',
      device: 'c',
      target: 'd',
      sync: 'full',
      'filter-node-name': 'f',
    };
    expect(s.fail('blockdev-backup', other)).toBe(
      "GenericError: Could not create node: Duplicate nodes with node-name='f'",
    );
    expect(s.fail('blockdev-mirror', other)).toBe(
      "GenericError: Duplicate nodes with node-name='f'",
    );
    expect(s.fail('blockdev-add', { driver: 'null-co', 'node-name': 'f', size: MiB })).toBe(
      "GenericError: Duplicate nodes with node-name='f'",
    );
    s.run('job-cancel', { id: 'j' });
    s.run('blockdev-add', { driver: 'null-co', 'node-name': 'f', size: MiB });
  });

  test('is listed after the nodes added since, and before the older ones that are left', () => {
    s.run('blockdev-backup', { ...backupAB, 'filter-node-name': 'f' });
    s.run('blockdev-add', { driver: 'null-co', 'node-name': 'e', size: MiB });
    s.run('blockdev-del', { 'node-name': 'd' });
    expect(listing()).toEqual(['e:0', 'f:2', 'c:0', 'b:0', 'a:1']);
    s.run('job-cancel', { id: 'j' });
    expect(listing()).toEqual(['e:0', 'c:0', 'b:0', 'a:0']);
  });

  test("on 10.0 the backup's copy bitmap is the filter's third", () => {
    s = new Scenario({ profile: qemu100Profile });
    for (const name of ['a', 'b']) s.nullNode(name, 64 * MiB);
    s.run('blockdev-backup', { ...backupAB, 'filter-node-name': 'f' });
    expect(listing()).toEqual(['f:3', 'b:0', 'a:0']);
  });
});
