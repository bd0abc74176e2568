// Every conformance scenario against real qemu-storage-daemon: each runs twice, must meet its own
// expectations both times (they are QEMU's behaviour, from job-semantics.md, confirmed here), and
// the two normalized transcripts must be equal (the normalization makes a run deterministic, which
// the comparison with a second target relies on). Then qmpkit-server, started with the same
// command line, must produce the same normalized transcript as QEMU; so must any further target
// configured in QMPKIT_CONFORMANCE_TARGETS (see README).
//
// QMPKIT_SCENARIO_PRINT=1 prints every run's transcript (to write or review a scenario).

import { describe, expect, test } from 'vitest';
import { allScenarios } from '../scenarios/index.js';
import { requireQemu } from '../src/daemon.js';
import { parseTargets } from '../src/scenario-compare.js';
import { diffTranscripts } from '../src/scenario-diff.js';
import { normalizeTranscript, showTranscript } from '../src/scenario-normalize.js';
import {
  qemuTarget,
  qmpkitServerTarget,
  runScenario,
  type ScenarioRun,
} from '../src/scenario-runner.js';

requireQemu();
const others = [qmpkitServerTarget, ...parseTargets(process.env.QMPKIT_CONFORMANCE_TARGETS)];
const print = process.env.QMPKIT_SCENARIO_PRINT === '1';

function report(run: ScenarioRun): string {
  return `${run.target} failed ${run.scenario}:\n  ${run.failures.join('\n  ')}\ntranscript:\n${showTranscript(run.transcript)}`;
}

function show(run: ScenarioRun): void {
  if (print)
    console.log(
      `== ${run.scenario} on ${run.target} (${run.elapsedMs} ms)\n${showTranscript(run.transcript)}`,
    );
}

describe('conformance scenarios', () => {
  test('names are unique', () => {
    const names = allScenarios.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
  });

  for (const scenario of allScenarios) {
    test(scenario.name, async () => {
      const first = await runScenario(scenario, qemuTarget);
      show(first);
      expect(first.failures, report(first)).toEqual([]);
      const second = await runScenario(scenario, qemuTarget);
      show(second);
      expect(second.failures, report(second)).toEqual([]);
      const reference = normalizeTranscript(first.transcript);
      expect(
        diffTranscripts(reference, normalizeTranscript(second.transcript), {
          referenceName: 'qemu, first run',
          otherName: 'qemu, second run',
        }),
      ).toBe('');
      for (const target of others) {
        const run = await runScenario(scenario, target);
        show(run);
        const diff = diffTranscripts(reference, normalizeTranscript(run.transcript), {
          referenceName: 'qemu',
          otherName: target.name,
        });
        expect(diff, `${target.name} differs from QEMU in ${scenario.name}:\n${diff}`).toBe('');
      }
    });
  }
});
