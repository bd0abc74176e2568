// The README's example, run as a test. The code between the markers must match the README's
// first ```ts block (minus its import line), so the example cannot rot.
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { type Effect, JobEngine } from '../src/index.js';

test('the README example drives one job through its whole life', () => {
  // README example begins
  const engine = new JobEngine();
  const effects: Effect[] = [];
  const run = (result: { effects: Effect[] }) => effects.push(...result.effects);
  run(engine.create({ id: 'm1', type: 'mirror', autoFinalize: false, autoDismiss: false }));
  run(engine.start('m1')); // running, and an `enter` effect: the driver starts copying
  run(engine.progress('m1', { setRemaining: 65536, workDone: 65536 }));
  run(engine.converged('m1')); // ready + BLOCK_JOB_READY
  run(engine.jobComplete('m1')); // accepted; the driver finishes after the reply…
  run(engine.runFinished('m1')); // …waiting, pending + BLOCK_JOB_PENDING
  run(engine.jobFinalize('m1')); // BLOCK_JOB_COMPLETED, concluded
  run(engine.jobDismiss('m1')); // null: the ID is free again
  // README example ends

  const events = effects.flatMap((e) =>
    e.type !== 'event' ? [] : e.event === 'JOB_STATUS_CHANGE' ? [e.data.status] : [e.event],
  );
  expect(events).toEqual([
    'created',
    'running',
    'ready',
    'BLOCK_JOB_READY',
    'waiting',
    'pending',
    'BLOCK_JOB_PENDING',
    'BLOCK_JOB_COMPLETED',
    'concluded',
    'null',
  ]);
  expect(effects.filter((e) => e.type === 'enter')).toEqual([
    { type: 'enter', id: 'm1', reason: 'start', when: 'before-reply' },
  ]);
  expect(effects).toContainEqual({
    type: 'event',
    event: 'BLOCK_JOB_COMPLETED',
    data: { type: 'mirror', device: 'm1', len: 65536, offset: 65536, speed: 0 },
  });
  expect(engine.queryJobs()).toEqual([]);
});

test('the README shows the same code', () => {
  const self = readFileSync(new URL(import.meta.url), 'utf8');
  const fromTest = (self.split('// README example begins\n')[1] ?? '')
    .split('  // README example ends')[0]
    ?.split('\n')
    .map((line) => line.replace(/^ {2}/, ''))
    .join('\n')
    .trim();
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const block = readme.split('```ts\n')[1]?.split('```')[0] ?? '';
  const fromReadme = block
    .split('\n')
    .filter((line) => !line.startsWith('import '))
    .join('\n')
    .trim();
  expect(fromTest).toBeTruthy();
  expect(fromReadme).toBe(fromTest);
});
