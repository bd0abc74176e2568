// The scenario machinery itself: the runner must catch a wrong expectation, a missing one, a
// message that never comes and a poll that never holds; the normalizer must mask exactly what it
// says; the comparison must report a difference between two targets as a readable diff.

import { describe, expect, test } from 'vitest';
import { requireQemu } from '../src/daemon.js';
import {
  anyInt,
  anyString,
  call,
  event,
  generic,
  idleAt,
  ok,
  pollBlockJob,
  type Scenario,
  send,
  status,
  statuses,
} from '../src/scenario.js';
import { compareScenario, parseTargets } from '../src/scenario-compare.js';
import { diffTranscripts } from '../src/scenario-diff.js';
import { canonicalJson, normalizeTranscript } from '../src/scenario-normalize.js';
import { qemuTarget, runScenario, type Target } from '../src/scenario-runner.js';

requireQemu();

const MiB = 1024 * 1024;
const nullCo = (name: string, size: number) =>
  JSON.stringify({ driver: 'null-co', 'node-name': name, size });
const nodes = [nullCo('src', 64 * MiB), nullCo('dst', 64 * MiB)];
const throttledMirror = [
  send('blockdev-mirror', { 'job-id': 'm1', device: 'src', target: 'dst', sync: 'full', speed: 1 }),
  ...statuses('m1', 'created', 'running'),
  ok(),
];

describe('the scenario runner against qemu-storage-daemon', () => {
  test('a wrong event order is reported at the step, with what arrived', async () => {
    const scenario: Scenario = {
      name: 'wrong-order',
      about: 'running expected before created',
      blockdevs: nodes,
      steps: [throttledMirror[0]!, status('m1', 'running'), status('m1', 'created'), ok()],
    };
    const run = await runScenario(scenario, qemuTarget);
    expect(run.failures[0]).toMatch(
      /^step 2: expected event JOB_STATUS_CHANGE \{"id":"m1","status":"running"\}, got .*"created"/,
    );
  });

  test('a wrong error text fails; so does a return where an error was expected', async () => {
    const wrongText = await runScenario(
      {
        name: 'wrong-text',
        about: '',
        blockdevs: [],
        steps: [send('job-pause', { id: 'x' }), generic('Job not Found')],
      },
      qemuTarget,
    );
    expect(wrongText.failures[0]).toMatch(
      /^step 2: expected error GenericError: Job not Found, got/,
    );
    const notAnError = await runScenario(
      { name: 'not-an-error', about: '', blockdevs: [], steps: [send('query-jobs'), generic('x')] },
      qemuTarget,
    );
    expect(notAnError.failures[0]).toMatch(/got \{"return": \[\], "id": 2\}/);
  });

  test('messages nobody expected after the last step fail the run', async () => {
    const run = await runScenario(
      {
        name: 'missing-expectations',
        about: '',
        blockdevs: nodes,
        steps: throttledMirror.slice(0, 2),
      },
      qemuTarget,
    );
    expect(run.failures).toHaveLength(1);
    expect(run.failures[0]).toMatch(/unexpected message after the last step: .*"running"/);
    // …and they are still in the transcript, for the diff.
    expect(normalizeTranscript(run.transcript).at(-1)).toMatch(/^← .*"return":\{\}/);
  });

  test('an event that never comes, and a poll that never holds, time out with a message', async () => {
    const never = await runScenario(
      {
        name: 'never',
        about: '',
        blockdevs: nodes,
        steps: [...throttledMirror, { expect: { event: 'BLOCK_JOB_READY' }, timeoutMs: 300 }],
      },
      qemuTarget,
    );
    expect(never.failures[0]).toBe(
      'step 5: expected event BLOCK_JOB_READY, but nothing arrived within 300 ms',
    );
    const poll = await runScenario(
      {
        name: 'poll-never',
        about: '',
        blockdevs: nodes,
        steps: [
          ...throttledMirror,
          { ...pollBlockJob('m1', 'ready', (j) => j.ready === true), timeoutMs: 300 } as never,
        ],
      },
      qemuTarget,
    );
    expect(poll.failures[0]).toMatch(/^step 5: 'm1: ready' did not happen; last poll said/);
  });

  test('the transcript is normalized exactly as documented', async () => {
    const run = await runScenario(
      {
        name: 'normalize',
        about: '',
        blockdevs: nodes,
        steps: [
          send('query-version'),
          ok({
            qemu: { major: 7, minor: 2, micro: anyInt('stable release') },
            package: anyString('distribution build'),
          }),
          ...throttledMirror,
          idleAt('m1', 16 * MiB),
          send('query-block-jobs'),
          ok([
            {
              type: 'mirror',
              device: 'm1',
              len: 64 * MiB,
              offset: anyInt('progress of a running job'),
              busy: false,
              paused: false,
              speed: 1,
              'io-status': 'ok',
              ready: false,
              status: 'running',
              'auto-finalize': true,
              'auto-dismiss': true,
            },
          ]),
          ...call('block-job-set-speed', { device: 'm1', speed: 0 }),
          event('JOB_STATUS_CHANGE', { id: 'm1', status: 'ready' }),
          event('BLOCK_JOB_READY', {
            type: 'mirror',
            device: 'm1',
            len: 64 * MiB,
            offset: 64 * MiB,
            speed: 0,
          }),
        ],
      },
      qemuTarget,
    );
    expect(run.failures).toEqual([]);
    const lines = normalizeTranscript(run.transcript);
    expect(lines[0]).toBe(
      `← ${canonicalJson({ QMP: { version: { qemu: { micro: '<micro>', minor: 2, major: 7 }, package: '<package>' }, capabilities: ['oob'] } })}`,
    );
    expect(lines[1]).toBe('→ {"execute":"qmp_capabilities","id":1}');
    expect(lines[4]).toBe(
      '← {"id":2,"return":{"package":"<package>","qemu":{"major":7,"micro":"<micro>","minor":2}}}',
    );
    expect(lines).toContain('⋯ poll until m1: idle at offset 16777216');
    expect(lines.find((l) => l.includes('"offset":"<volatile>"'))).toBeDefined();
    // Event timestamps are masked; the BLOCK_JOB_READY offset is not (it was not volatile).
    expect(lines.at(-1)).toBe(
      '← {"data":{"device":"m1","len":67108864,"offset":67108864,"speed":0,"type":"mirror"},"event":"BLOCK_JOB_READY","timestamp":"<timestamp>"}',
    );
    // No poll command or reply leaks into the transcript.
    expect(lines.some((l) => l.includes('poll-'))).toBe(false);
  });
});

describe('the comparison', () => {
  test('a target that behaves differently gives a readable diff', async () => {
    // The "other" target is QEMU with a smaller destination: the mirror then fails.
    const smallerTarget: Target = {
      name: 'other',
      start: (options) =>
        qemuTarget.start({
          ...options,
          blockdevs: [nullCo('src', 64 * MiB), nullCo('dst', 32 * MiB)],
        }),
    };
    const scenario: Scenario = {
      name: 'mirror-ready',
      about: '',
      blockdevs: nodes,
      steps: [
        send('blockdev-mirror', { 'job-id': 'm1', device: 'src', target: 'dst', sync: 'full' }),
        ...statuses('m1', 'created', 'running'),
        ok(),
        status('m1', 'ready'),
        event('BLOCK_JOB_READY', {
          type: 'mirror',
          device: 'm1',
          len: 64 * MiB,
          offset: 64 * MiB,
          speed: 0,
        }),
      ],
    };
    const comparison = await compareScenario(scenario, qemuTarget, [smallerTarget, qemuTarget]);
    expect(comparison.reference.failures).toEqual([]);
    const [other, same] = comparison.others;
    expect(other?.run.failures[0]).toMatch(/^step 5: expected event JOB_STATUS_CHANGE/);
    expect(other?.diff).toContain('--- qemu (mirror-ready)\n+++ other (mirror-ready)\n');
    expect(other?.diff).toContain('- ← {"data":{"id":"m1","status":"ready"}');
    expect(other?.diff).toContain('+ ← {"data":{"id":"m1","status":"aborting"}');
    expect(same?.diff).toBe('');
  });

  test('diffTranscripts shows context, removals and additions', () => {
    expect(diffTranscripts(['a', 'b'], ['a', 'b'])).toBe('');
    const diff = diffTranscripts(
      ['1', '2', '3', '4', '5', '6', '7', '8', 'x', '9'],
      ['1', '2', '3', '4', '5', '6', '7', '8', 'y', '9'],
      {
        context: 1,
      },
    );
    expect(diff).toBe('--- reference\n+++ other\n  …\n  8\n- x\n+ y\n  9');
  });

  test('parseTargets reads name=command entries', () => {
    expect(parseTargets(undefined)).toEqual([]);
    expect(parseTargets(' ')).toEqual([]);
    const [a, b] = parseTargets('a=/bin/a --x; b=b');
    expect(a?.name).toBe('a');
    expect(b?.name).toBe('b');
    expect(() => parseTargets('nocommand')).toThrow(/expected name=command/);
  });
});
