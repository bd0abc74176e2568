// Every conformance scenario against real qemu-storage-daemon, per QEMU version: each runs twice,
// must meet its own expectations both times (they are that QEMU's behaviour, from
// job-semantics.md, confirmed here), and the two normalized transcripts must be equal (the
// normalization makes a run deterministic, which the comparison with a second target relies on).
// Then qmpkit-server, started with the same command line and `--qemu-version` of that version,
// must produce the same normalized transcript as QEMU; so must any further target configured in
// QMPKIT_CONFORMANCE_TARGETS (see README; compared with 7.2).
//
// QEMU 7.2 is the installed one; QEMU 10.0.2 is `.ci/fetch-qemu`'s (required in CI, skipped with
// a message elsewhere). A scenario's expectations are 7.2's unless it says otherwise
// (`byVersion`, `since`). scenarios/pending-10.0.ts lists what does not hold on 10.0 yet.
//
// QMPKIT_SCENARIO_PRINT=1 prints every run's transcript (to write or review a scenario).

import { describe, expect, test } from 'vitest';
import { allScenarios } from '../scenarios/index.js';
import { pendingOn10 } from '../scenarios/pending-10.0.js';
import { requireQemu } from '../src/daemon.js';
import { qemuForTests } from '../src/qemu-binaries.js';
import type { Scenario, ScenarioVersion } from '../src/scenario.js';
import { parseTargets } from '../src/scenario-compare.js';
import { diffTranscripts } from '../src/scenario-diff.js';
import { normalizeTranscript, showTranscript } from '../src/scenario-normalize.js';
import {
  qemuTarget,
  qemuTargetFor,
  qmpkitServerTarget,
  qmpkitServerTargetFor,
  runScenario,
  type ScenarioRun,
  type Target,
} from '../src/scenario-runner.js';

requireQemu();
const qemu10 = qemuForTests('10.0');
const print = process.env.QMPKIT_SCENARIO_PRINT === '1';

interface VersionRun {
  readonly version: ScenarioVersion;
  readonly qemu: Target;
  readonly others: readonly Target[];
  /** Scenario name → why it does not hold on this version yet. */
  readonly pending: Readonly<
    Record<string, { readonly kind: 'expectations' | 'simulator'; readonly why: string }>
  >;
}

const versions: VersionRun[] = [
  {
    version: '7.2',
    qemu: qemuTarget,
    others: [qmpkitServerTarget, ...parseTargets(process.env.QMPKIT_CONFORMANCE_TARGETS)],
    pending: {},
  },
  ...(qemu10 === undefined
    ? []
    : [
        {
          version: '10.0' as const,
          qemu: qemuTargetFor(qemu10),
          others: [qmpkitServerTargetFor('10.0')],
          pending: pendingOn10,
        },
      ]),
];

function report(run: ScenarioRun): string {
  return `${run.target} failed ${run.scenario}:\n  ${run.failures.join('\n  ')}\ntranscript:\n${showTranscript(run.transcript)}`;
}

function show(run: ScenarioRun): void {
  if (print)
    console.log(
      `== ${run.scenario} on ${run.target} (${run.elapsedMs} ms)\n${showTranscript(run.transcript)}`,
    );
}

async function checkScenario(scenario: Scenario, v: VersionRun): Promise<void> {
  const pending = v.pending[scenario.name];
  const first = await runScenario(scenario, v.qemu);
  show(first);
  expect(first.failures, report(first)).toEqual([]);
  const second = await runScenario(scenario, v.qemu);
  show(second);
  expect(second.failures, report(second)).toEqual([]);
  const reference = normalizeTranscript(first.transcript);
  expect(
    diffTranscripts(reference, normalizeTranscript(second.transcript), {
      referenceName: `${v.qemu.name}, first run`,
      otherName: `${v.qemu.name}, second run`,
    }),
  ).toBe('');
  for (const target of v.others) {
    const run = await runScenario(scenario, target);
    show(run);
    const diff = diffTranscripts(reference, normalizeTranscript(run.transcript), {
      referenceName: v.qemu.name,
      otherName: target.name,
    });
    if (pending?.kind === 'simulator') {
      // Listed as not simulated yet: it must still differ, so that the list cannot go stale.
      expect(
        diff,
        `${target.name} now matches ${v.qemu.name} in ${scenario.name}: take it off the pending list`,
      ).not.toBe('');
    } else {
      expect(diff, `${target.name} differs from ${v.qemu.name} in ${scenario.name}:\n${diff}`).toBe(
        '',
      );
    }
  }
}

test('scenario names are unique, and every pending entry names a scenario', () => {
  const names = allScenarios.map((s) => s.name);
  expect(new Set(names).size).toBe(names.length);
  expect(Object.keys(pendingOn10).filter((n) => !names.includes(n))).toEqual([]);
});

for (const v of versions) {
  // 7.2's tests keep the names they always had; other versions' say which version.
  const group =
    v.version === '7.2' ? 'conformance scenarios' : `QEMU ${v.version} conformance scenarios`;
  describe(group, () => {
    for (const scenario of allScenarios) {
      const pending = v.pending[scenario.name];
      if (pending?.kind === 'expectations') {
        test.skip(`${scenario.name} (10.0 expectations not written yet: ${pending.why})`, () => {});
        continue;
      }
      test(scenario.name, () => checkScenario(scenario, v));
    }
  });
}
