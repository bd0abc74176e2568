// Runs one scenario against the reference (real QEMU) and against other targets, and compares
// the normalized transcripts. Also the determinism check: the same target twice.

import { resolve } from 'node:path';
import type { Scenario } from './scenario.js';
import { diffTranscripts } from './scenario-diff.js';
import { normalizeTranscript } from './scenario-normalize.js';
import { commandTarget, runScenario, type ScenarioRun, type Target } from './scenario-runner.js';

export interface Comparison {
  readonly reference: ScenarioRun;
  readonly others: ReadonlyArray<{ readonly run: ScenarioRun; readonly diff: string }>;
}

/** Runs the scenario on the reference first, then on each other target in turn. */
export async function compareScenario(
  scenario: Scenario,
  reference: Target,
  others: readonly Target[],
): Promise<Comparison> {
  const referenceRun = await runScenario(scenario, reference);
  const referenceLines = normalizeTranscript(referenceRun.transcript);
  const results: Array<{ run: ScenarioRun; diff: string }> = [];
  for (const target of others) {
    const run = await runScenario(scenario, target);
    const diff = diffTranscripts(referenceLines, normalizeTranscript(run.transcript), {
      referenceName: `${reference.name} (${scenario.name})`,
      otherName: `${target.name} (${scenario.name})`,
    });
    results.push({ run, diff });
  }
  return { reference: referenceRun, others: results };
}

/**
 * The second targets, from a specification such as
 * `qmpkit=node ../server-app/dist/bin/qmpkit-server.js` — `name=command arg…` entries separated
 * by `;` (arguments split on spaces; words starting with ./ or ../ are paths relative to the
 * current directory). The empty string means none.
 */
export function parseTargets(spec: string | undefined): Target[] {
  if (spec === undefined || spec.trim() === '') return [];
  return spec
    .split(';')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      const eq = entry.indexOf('=');
      const name = eq > 0 ? entry.slice(0, eq).trim() : '';
      const words = entry
        .slice(eq + 1)
        .trim()
        .split(/\s+/)
        .filter((w) => w !== '');
      // The daemon runs in its scenario's temporary directory, so relative paths are resolved
      // here, against the directory the tests run in (packages/conformance).
      const [command, ...args] = words.map((w) => (/^\.\.?\//.test(w) ? resolve(w) : w));
      if (name === '' || command === undefined) {
        throw new Error(`bad target '${entry}': expected name=command [args…]`);
      }
      return commandTarget(name, command, args);
    });
}
