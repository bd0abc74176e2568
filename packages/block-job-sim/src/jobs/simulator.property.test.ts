// Random command sequences against the simulator: whatever clients do, every reply is a result
// or a CommandError (never a crash or a broken engine invariant), nothing fails inside a timer or
// after-reply work, progress never goes back, a job never reports more done than its length, and
// a job that accepted a cancel stops running (QEMU: at once when it sleeps, after the chunk in
// flight when it is busy).
import { CommandError } from '@qmpkit/protocol';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { MiB, Scenario } from './scenario.test-helper.js';

const ids = ['j0', 'j1', 'j2'] as const;
const speeds = [0, 1, 4 * MiB, 64 * MiB];

const command = fc.oneof(
  fc.record({
    kind: fc.constantFrom('mirror', 'stream', 'backup', 'commit'),
    id: fc.constantFrom(...ids),
    speed: fc.constantFrom(...speeds),
    autoFinalize: fc.boolean(),
  }),
  fc.record({
    kind: fc.constantFrom(
      'job-pause',
      'job-resume',
      'job-cancel',
      'job-complete',
      'job-finalize',
      'job-dismiss',
      'block-job-cancel',
    ),
    id: fc.constantFrom(...ids),
  }),
  fc.record({
    kind: fc.constant('set-speed'),
    id: fc.constantFrom(...ids),
    speed: fc.constantFrom(...speeds),
  }),
  fc.record({ kind: fc.constant('step'), ms: fc.integer({ min: 0, max: 3000 }) }),
  fc.record({ kind: fc.constant('drain') }),
);

test('random command sequences keep the simulator consistent', () => {
  fc.assert(
    fc.property(fc.array(command, { maxLength: 40 }), fc.boolean(), (commands, instant) => {
      const s = new Scenario(instant ? { throughput: Number.POSITIVE_INFINITY } : {});
      for (const id of ids) {
        s.nullNode(`${id}-src`, 64 * MiB);
        s.nullNode(`${id}-dst`, 64 * MiB);
        s.nullNode(`${id}-base`, 64 * MiB);
        s.overlay(`${id}-top`, 64 * MiB, `${id}-base`);
      }
      s.nullNode('x', MiB);
      s.nullNode('y', MiB);
      const seen = new Map<string, number>();
      const attempt = (name: string, args: Record<string, unknown>): boolean => {
        try {
          s.run(name, args);
          return true;
        } catch (error) {
          if (!CommandError.isInstance(error)) throw error;
          return false;
        }
      };
      /** A cancel accepted from a running state: within a second the job has stopped running. */
      const cancelStops = (id: string, name: string, args: Record<string, unknown>) => {
        const before = s.job(id)?.status;
        if (!attempt(name, args)) return;
        if (before !== 'running' && before !== 'paused' && before !== 'ready') return;
        if (before === 'paused' && name === 'block-job-cancel') return;
        s.step(1000);
        const after = s.job(id)?.status;
        expect(
          ['running', 'paused', 'ready', 'standby'],
          `${name} ${id} from ${before}`,
        ).not.toContain(after);
      };
      for (const c of commands) {
        switch (c.kind) {
          case 'mirror':
          case 'backup':
            attempt(c.kind === 'mirror' ? 'blockdev-mirror' : 'blockdev-backup', {
              'job-id': c.id,
              device: `${c.id}-src`,
              target: `${c.id}-dst`,
              sync: 'full',
              speed: c.speed,
              'auto-finalize': c.autoFinalize,
            });
            break;
          case 'stream':
          case 'commit':
            attempt(c.kind === 'stream' ? 'block-stream' : 'block-commit', {
              'job-id': c.id,
              device: `${c.id}-top`,
              speed: c.speed,
              'auto-finalize': c.autoFinalize,
            });
            break;
          case 'set-speed':
            attempt('block-job-set-speed', { device: c.id, speed: c.speed });
            break;
          case 'block-job-cancel':
            cancelStops(c.id, 'block-job-cancel', { device: c.id });
            break;
          case 'job-cancel':
            cancelStops(c.id, 'job-cancel', { id: c.id });
            break;
          case 'step':
            s.step(c.ms);
            break;
          case 'drain':
            attempt('blockdev-backup', { device: 'x', target: 'y', sync: 'none', 'job-id': 'd' });
            attempt('job-cancel', { id: 'd' });
            break;
          default:
            attempt(c.kind, { id: c.id });
        }
        for (const job of s.run('query-block-jobs') as Array<Record<string, number | string>>) {
          const offset = job.offset as number;
          const device = job.device as string;
          expect(offset).toBeLessThanOrEqual(job.len as number);
          expect(offset).toBeGreaterThanOrEqual(seen.get(device) ?? 0);
          seen.set(device, offset);
        }
        for (const id of ids) if (s.job(id) === undefined) seen.delete(id);
        s.take();
      }
      expect(s.internalErrors).toEqual([]);
    }),
    { numRuns: Number(process.env.RUNS ?? 150) },
  );
});
