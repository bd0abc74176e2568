// Every scenario, by topic.

import type { Scenario } from '../src/scenario.js';
import { mirrorScenarios } from './mirror.js';

export const allScenarios: readonly Scenario[] = [...mirrorScenarios];
