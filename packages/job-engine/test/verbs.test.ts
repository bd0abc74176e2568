// Every job command against the engine: the verb × status table as the engine applies it, the
// lookup errors, and every error text and check order of job-semantics.md §4 and §5.
import { describe, expect, test } from 'vitest';
import { type JobCommandArgs, JobEngine, type JobResult, type JobStatus } from '../src/index.js';
import { referenceAllowsVerb } from './reference-tables.js';

/** The statuses a job can rest in between two operations (aborting and null are transient,
 * undefined is never visible). */
const restingStatuses = [
  'created',
  'running',
  'paused',
  'ready',
  'standby',
  'waiting',
  'pending',
  'concluded',
] as const satisfies readonly JobStatus[];

/**
 * An engine holding block job `j` in `status`. With `userPaused`, `j` carries a user pause that
 * has not changed its status (requested while busy, or on top of an internal pause).
 */
function jobIn(status: JobStatus, userPaused = false): JobEngine {
  const e = new JobEngine();
  const ok = (r: JobResult) => {
    if (!r.ok) throw new Error(`setup failed: ${r.error.desc}`);
  };
  const pauseIfAsked = () => {
    if (userPaused) ok(e.jobPause('j'));
  };
  switch (status) {
    case 'created':
      ok(e.create({ id: 'j', type: 'mirror' }));
      pauseIfAsked();
      break;
    case 'running':
      ok(e.create({ id: 'j', type: 'mirror' }));
      ok(e.start('j'));
      pauseIfAsked(); // busy: the pause stays pending
      if (!userPaused) ok(e.sleep('j'));
      break;
    case 'paused':
    case 'standby':
      ok(e.create({ id: 'j', type: 'mirror' }));
      ok(e.start('j'));
      if (status === 'standby') ok(e.converged('j'));
      ok(e.sleep('j'));
      ok(e.pauseInternal('j'));
      pauseIfAsked();
      break;
    case 'ready':
      ok(e.create({ id: 'j', type: 'mirror' }));
      ok(e.start('j'));
      ok(e.converged('j'));
      pauseIfAsked();
      if (!userPaused) ok(e.sleep('j'));
      break;
    case 'waiting': {
      const txn = e.newTransaction();
      ok(e.create({ id: 'other', type: 'backup', transaction: txn }));
      ok(e.create({ id: 'j', type: 'backup', transaction: txn }));
      ok(e.start('other'));
      ok(e.start('j'));
      pauseIfAsked();
      ok(e.runFinished('j'));
      break;
    }
    case 'pending':
    case 'concluded':
      ok(
        e.create({
          id: 'j',
          type: 'stream',
          autoFinalize: status !== 'pending',
          autoDismiss: false,
        }),
      );
      ok(e.start('j'));
      pauseIfAsked();
      ok(e.runFinished('j'));
      break;
    default:
      throw new Error(`no setup for ${status}`);
  }
  expect(e.job('j')?.status).toBe(status);
  expect(e.job('j')?.userPaused).toBe(userPaused);
  return e;
}

const verbCommands = {
  cancel: ['job-cancel', { id: 'j' }],
  pause: ['job-pause', { id: 'j' }],
  resume: ['job-resume', { id: 'j' }],
  'set-speed': ['block-job-set-speed', { device: 'j', speed: 1 }],
  complete: ['job-complete', { id: 'j' }],
  finalize: ['job-finalize', { id: 'j' }],
  dismiss: ['job-dismiss', { id: 'j' }],
} as const;

describe('verb × status, as the engine applies it', () => {
  for (const status of restingStatuses) {
    for (const [verb, [command, args]] of Object.entries(verbCommands)) {
      const allowed = referenceAllowsVerb(verb, status);
      test(`${verb} in ${status}: ${allowed ? 'accepted' : 'refused'}`, () => {
        // resume needs a user pause to get past its first check.
        const e = jobIn(status, verb === 'resume');
        const result = e.execute(command as keyof JobCommandArgs, args as never);
        const verbError = `Job 'j' in state '${status}' cannot accept command verb '${verb}'`;
        if (allowed) {
          expect(result).toMatchObject({ ok: true });
        } else {
          expect(result).toEqual({
            ok: false,
            error: { class: 'GenericError', desc: verbError },
            effects: [],
          });
        }
      });
    }
  }
});

describe('lookup (§4.2)', () => {
  test('an untyped caller without arguments gets a lookup error, not an exception', () => {
    const e = new JobEngine();
    expect(e.execute('job-pause', undefined as never)).toMatchObject({
      error: { class: 'GenericError', desc: 'Job not found' },
    });
    expect(e.execute('frobnicate' as never, {} as never)).toMatchObject({
      error: { class: 'CommandNotFound', desc: 'The command frobnicate has not been found' },
    });
  });

  const jobCommands = [
    'job-pause',
    'job-resume',
    'job-cancel',
    'job-complete',
    'job-finalize',
    'job-dismiss',
  ] as const;
  test.each(jobCommands)('%s of an unknown ID: GenericError "Job not found"', (command) => {
    const e = new JobEngine();
    expect(e.execute(command, { id: 'nope' })).toEqual({
      ok: false,
      error: { class: 'GenericError', desc: 'Job not found' },
      effects: [],
    });
  });

  const blockCommands: Array<[keyof JobCommandArgs, Record<string, unknown>]> = [
    ['block-job-pause', { device: 'nope' }],
    ['block-job-resume', { device: 'nope' }],
    ['block-job-cancel', { device: 'nope' }],
    ['block-job-complete', { device: 'nope' }],
    ['block-job-finalize', { id: 'nope' }],
    ['block-job-dismiss', { id: 'nope' }],
    ['block-job-set-speed', { device: 'nope', speed: -1 }],
  ];
  test.each(blockCommands)('%s of an unknown ID: DeviceNotActive', (command, args) => {
    const e = new JobEngine();
    expect(e.execute(command, args as never)).toEqual({
      ok: false,
      error: { class: 'DeviceNotActive', desc: "Block job 'nope' not found" },
      effects: [],
    });
  });

  test('block-job-* cannot see a create job; job-* can', () => {
    const e = new JobEngine();
    e.create({ id: 'cr1', type: 'create' });
    e.start('cr1');
    e.runFinished('cr1');
    expect(e.job('cr1')?.status).toBe('concluded');
    expect(e.blockJobDismiss('cr1')).toMatchObject({
      ok: false,
      error: { class: 'DeviceNotActive', desc: "Block job 'cr1' not found" },
    });
    expect(e.jobDismiss('cr1')).toMatchObject({ ok: true });
  });
});

describe('job-pause / block-job-pause', () => {
  test('a second pause: "Job is already paused"', () => {
    const e = jobIn('running');
    expect(e.jobPause('j')).toMatchObject({ ok: true });
    expect(e.blockJobPause('j')).toMatchObject({
      ok: false,
      error: { class: 'GenericError', desc: 'Job is already paused' },
    });
  });

  test('the verb check comes first: pausing a pending job that is user-paused', () => {
    const e = jobIn('pending', true);
    expect(e.jobPause('j')).toMatchObject({
      error: { desc: "Job 'j' in state 'pending' cannot accept command verb 'pause'" },
    });
  });
});

describe('job-resume / block-job-resume', () => {
  test.each(['running', 'paused', 'ready', 'pending', 'concluded'] as const)(
    'resume of a job in %s that was not paused: the "not paused" text',
    (status) => {
      const e = jobIn(status);
      expect(e.jobResume('j')).toMatchObject({
        ok: false,
        error: { class: 'GenericError', desc: "Can't resume a job that was not paused" },
      });
    },
  );

  test('an internal pause alone is not resumable by the user', () => {
    const e = jobIn('paused');
    expect(e.blockJobResume('j')).toMatchObject({
      error: { desc: "Can't resume a job that was not paused" },
    });
  });
});

describe('block-job-cancel', () => {
  test.each(['paused', 'standby', 'running'] as const)(
    'soft cancel of a user-paused job in %s is refused; forced or job-cancel works',
    (status) => {
      const e = jobIn(status, true);
      expect(e.blockJobCancel('j')).toMatchObject({
        ok: false,
        error: {
          class: 'GenericError',
          desc: "The block job for device 'j' is currently paused",
        },
      });
      expect(e.blockJobCancel('j', true)).toMatchObject({ ok: true });
    },
  );

  test('the "currently paused" check comes before the verb check', () => {
    const e = jobIn('concluded', true);
    expect(e.blockJobCancel('j')).toMatchObject({
      error: { desc: "The block job for device 'j' is currently paused" },
    });
    expect(e.blockJobCancel('j', true)).toMatchObject({
      error: { desc: "Job 'j' in state 'concluded' cannot accept command verb 'cancel'" },
    });
  });

  test('job-cancel of a concluded job is refused by the verb table', () => {
    const e = jobIn('concluded');
    expect(e.jobCancel('j')).toMatchObject({
      error: { desc: "Job 'j' in state 'concluded' cannot accept command verb 'cancel'" },
    });
  });
});

describe('job-complete / block-job-complete', () => {
  test('a running mirror cannot complete (verb)', () => {
    const e = new JobEngine();
    e.create({ id: 'm1', type: 'mirror' });
    e.start('m1');
    expect(e.jobComplete('m1')).toMatchObject({
      error: { desc: "Job 'm1' in state 'running' cannot accept command verb 'complete'" },
    });
  });

  test('a ready mirror with a cancel already requested: "cannot be completed"', () => {
    const e = new JobEngine();
    e.create({ id: 'm1', type: 'mirror' });
    e.start('m1');
    e.converged('m1');
    // The mirror is busy, so a soft cancel stays pending and the job stays ready.
    expect(e.blockJobCancel('m1')).toMatchObject({ ok: true, effects: [] });
    expect(e.job('m1')?.status).toBe('ready');
    expect(e.blockJobComplete('m1')).toMatchObject({
      ok: false,
      error: { class: 'GenericError', desc: "The active block job 'm1' cannot be completed" },
    });
  });

  test('the mirror `replaces` node that disappeared', () => {
    const e = jobIn('ready');
    expect(e.jobComplete('j', { missingReplacesNode: 'n1' })).toMatchObject({
      error: { desc: "Node name 'n1' not found" },
    });
  });

  test('repeated complete in standby is accepted silently and does nothing until resume', () => {
    const e = jobIn('standby', true);
    expect(e.jobComplete('j')).toEqual({ ok: true, effects: [] });
    expect(e.jobComplete('j')).toEqual({ ok: true, effects: [] });
    expect(e.job('j')?.status).toBe('standby');
  });
});

describe('finalize and dismiss', () => {
  test('finalize in waiting is refused', () => {
    const e = jobIn('waiting');
    expect(e.jobFinalize('j')).toMatchObject({
      error: { desc: "Job 'j' in state 'waiting' cannot accept command verb 'finalize'" },
    });
  });
  test('dismiss in pending is refused', () => {
    const e = jobIn('pending');
    expect(e.blockJobDismiss('j')).toMatchObject({
      error: { desc: "Job 'j' in state 'pending' cannot accept command verb 'dismiss'" },
    });
  });
});

describe('block-job-set-speed', () => {
  test('negative speed', () => {
    const e = jobIn('running');
    expect(e.blockJobSetSpeed('j', -1)).toMatchObject({
      ok: false,
      error: { class: 'GenericError', desc: "Parameter 'speed' expects a non-negative value" },
    });
  });
  test('the verb check comes before the negative-speed check', () => {
    const e = jobIn('pending');
    expect(e.blockJobSetSpeed('j', -1)).toMatchObject({
      error: { desc: "Job 'j' in state 'pending' cannot accept command verb 'set-speed'" },
    });
  });
  test('the speed shows in queries and later events; no event of its own', () => {
    const e = jobIn('running');
    const result = e.blockJobSetSpeed('j', 4096);
    expect(result.ok).toBe(true);
    expect(result.effects.filter((x) => x.type === 'event')).toEqual([]);
    expect(e.queryBlockJobs()[0]?.speed).toBe(4096);
  });
  test('raising the speed wakes a sleeping job, lowering it does not', () => {
    const e = jobIn('running'); // sleeping at speed 0
    expect(e.blockJobSetSpeed('j', 100).effects).toEqual([
      { type: 'enter', id: 'j', reason: 'set-speed', when: 'before-reply' },
    ]);
    e.sleep('j');
    expect(e.blockJobSetSpeed('j', 50).effects).toEqual([]);
    expect(e.blockJobSetSpeed('j', 0).effects).toEqual([
      { type: 'enter', id: 'j', reason: 'set-speed', when: 'before-reply' },
    ]);
  });
});

describe('job IDs at creation (§5.2)', () => {
  test('invalid ID, including the empty default of a node without a drive name', () => {
    const e = new JobEngine();
    for (const id of ['', '1abc', 'a b']) {
      expect(e.create({ id, type: 'stream' })).toEqual({
        ok: false,
        error: { class: 'GenericError', desc: `Invalid job ID '${id}'` },
        effects: [],
      });
    }
  });

  test('an ID stays in use until the job is dismissed, across job types', () => {
    const e = new JobEngine();
    e.create({ id: 'dup', type: 'create' });
    e.start('dup');
    e.runFinished('dup');
    expect(e.create({ id: 'dup', type: 'stream' })).toEqual({
      ok: false,
      error: { class: 'GenericError', desc: "Job ID 'dup' already in use" },
      effects: [],
    });
    e.jobDismiss('dup');
    expect(e.create({ id: 'dup', type: 'stream' })).toMatchObject({ ok: true });
  });

  test('negative speed at creation: created, null, then the error', () => {
    const e = new JobEngine();
    expect(e.create({ id: 's1', type: 'stream', speed: -1 })).toEqual({
      ok: false,
      error: { class: 'GenericError', desc: "Parameter 'speed' expects a non-negative value" },
      effects: [
        { type: 'event', event: 'JOB_STATUS_CHANGE', data: { id: 's1', status: 'created' } },
        { type: 'event', event: 'JOB_STATUS_CHANGE', data: { id: 's1', status: 'null' } },
      ],
    });
    expect(e.has('s1')).toBe(false);
  });
});
