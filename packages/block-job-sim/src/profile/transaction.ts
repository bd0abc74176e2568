// qmp_transaction() from QEMU 8.2 on: with a completion-mode other than individual, every action
// is checked for support of it first — before the drain and before any action is prepared, so a
// refused transaction creates no job and sends no event. (7.2 prepares the actions in order and
// refuses the first unsupported one during its prepare, after the jobs before it were created,
// and spells it "Transaction property".)
import type { TransactionArgs } from '@qmpkit/qapi-types/7.2';
import { generic } from '../jobs/blockdev/context.js';

/** The actions that support completion-mode grouped. */
const GROUPED_ACTIONS: ReadonlySet<string> = new Set(['blockdev-backup', 'drive-backup']);

/** Refuses a grouped transaction with an action that cannot be grouped, as QEMU 10.0 does. */
export function checkCompletionModeFirst(args: TransactionArgs): void {
  const mode = args.properties?.['completion-mode'] ?? 'individual';
  if (mode === 'individual') return;
  for (const action of args.actions) {
    if (!GROUPED_ACTIONS.has(action.type)) {
      throw generic(
        `Action '${action.type}' does not support transaction property completion-mode = ${mode}`,
      );
    }
  }
}
