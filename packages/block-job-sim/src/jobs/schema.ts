// The simulator's one command outside QEMU's schema, x-qmpkit-clock-step, described in the
// introspection format, so a server that validates arguments against its runtime schema (and
// accepts only commands of that schema) can offer it when the simulator runs on a VirtualClock.

import type { IntrospectionEntry, QmpSchemaExtras } from '@qmpkit/qapi-types/7.2';
import { CLOCK_STEP_COMMAND } from './simulator.js';

/** The argument type's name; not a numbered (masked) name, so it never clashes with QEMU's. */
const CLOCK_STEP_ARGS = 'q_obj_x-qmpkit-clock-step-arg';

/**
 * Its return type, the empty object, under a name of its own: QEMU numbers its types per version
 * ('0' is the empty object on 7.2, not on 10.0).
 */
const CLOCK_STEP_RETURN = 'q_obj_x-qmpkit-clock-step-ret';

/**
 * The entries to append to a runtime schema: the command, its argument type `{ns: int}` and its
 * return type `{}`.
 */
export const clockStepSchemaEntries: readonly IntrospectionEntry[] = [
  {
    name: CLOCK_STEP_COMMAND,
    'meta-type': 'command',
    'arg-type': CLOCK_STEP_ARGS,
    'ret-type': CLOCK_STEP_RETURN,
  },
  { name: CLOCK_STEP_ARGS, 'meta-type': 'object', members: [{ name: 'ns', type: 'int' }] },
  { name: CLOCK_STEP_RETURN, 'meta-type': 'object', members: [] },
];

/**
 * `schema` and `extras` with x-qmpkit-clock-step added (for @qmpkit/server's `schema` and
 * `schemaExtras` options). `schema` must have the `int` builtin, as every QEMU schema does.
 */
export function withClockStepCommand(
  schema: readonly IntrospectionEntry[],
  extras: QmpSchemaExtras,
): { schema: IntrospectionEntry[]; schemaExtras: QmpSchemaExtras } {
  const names = new Set(schema.map((e) => e.name));
  if (!names.has('int')) throw new Error("the schema lacks the 'int' builtin");
  if (names.has(CLOCK_STEP_COMMAND)) return { schema: [...schema], schemaExtras: extras };
  return {
    schema: [...schema, ...clockStepSchemaEntries],
    schemaExtras: {
      ...extras,
      typeNames: {
        ...extras.typeNames,
        [CLOCK_STEP_ARGS]: CLOCK_STEP_ARGS,
        [CLOCK_STEP_RETURN]: CLOCK_STEP_RETURN,
      },
    },
  };
}
