/**
 * Putting the misuse linter in front of the simulator's handlers: every handler is wrapped so
 * the linter sees the command (with the client that sent it) before it runs and its outcome
 * after; `x-qmpkit-lint` returns the findings so far. @qmpkit/server itself is unchanged.
 */
import type { IntrospectionEntry, QmpSchemaExtras } from '@qmpkit/qapi-types/7.2';
import type { CommandContext, CommandTable, HandlerMap } from '@qmpkit/server';
import type { LintFinding, MisuseLinter } from './linter.js';

/** The command that returns the findings so far. */
export const LINT_COMMAND = 'x-qmpkit-lint';

/** A finding as `x-qmpkit-lint` returns it and the report file holds it. */
export type LintFindingJson = Record<string, unknown>;

/** The linter's command beside the simulator's (see withLintCommand). */
export interface LintExtensionCommands {
  readonly 'x-qmpkit-lint': {
    readonly args: Record<string, never>;
    readonly ret: LintFindingJson[];
  };
}

/** A handler as the wrapper sees it: any arguments, any outcome. */
type AnyHandler = (args: unknown, context: CommandContext) => unknown;

/**
 * `handlers` with each one reporting to `linter`, plus `x-qmpkit-lint`. Each wrapper passes its
 * arguments and result through unchanged, so the map keeps the types it came with.
 */
export function lintHandlers<M extends CommandTable<M>>(
  handlers: HandlerMap<M>,
  linter: MisuseLinter,
): HandlerMap<M & LintExtensionCommands> {
  const given: Readonly<Record<string, AnyHandler | undefined>> = handlers;
  const wrapped: Record<string, AnyHandler> = {};
  for (const [name, run] of Object.entries(given)) {
    if (run === undefined) continue;
    wrapped[name] = async (args, context) => {
      linter.command(context.client.id, name, args);
      let ok = false;
      try {
        const result = await run(args, context);
        ok = true;
        return result;
      } finally {
        linter.replied(context.client.id, name, args, ok);
      }
    };
  }
  wrapped[LINT_COMMAND] = () => findingsJson(linter.findings());
  // Each wrapper has its handler's signature; x-qmpkit-lint has LintExtensionCommands'.
  return wrapped as HandlerMap<M & LintExtensionCommands>;
}

/** Findings as JSON objects (members that do not apply left out). */
export function findingsJson(findings: readonly LintFinding[]): LintFindingJson[] {
  return findings.map((f) => ({
    rule: f.rule,
    ...(f.client === undefined ? {} : { client: f.client }),
    ...(f.job === undefined ? {} : { job: f.job }),
    ...(f.command === undefined ? {} : { command: f.command }),
    message: f.message,
  }));
}

/**
 * Its argument type, the empty object, under a name of its own: QEMU numbers its types per
 * version ('0' is the empty object on 7.2 but a two-member object on 10.0), so a numbered name
 * would mean something else on another version. Not numbered, it never clashes with QEMU's.
 */
const LINT_ARGS = 'q_obj_x-qmpkit-lint-arg';

/** `schema` with `x-qmpkit-lint` (no arguments, returns any) added. */
export function withLintCommand(
  schema: readonly IntrospectionEntry[],
  extras: QmpSchemaExtras,
): { schema: IntrospectionEntry[]; schemaExtras: QmpSchemaExtras } {
  if (schema.some((e) => e.name === LINT_COMMAND))
    return { schema: [...schema], schemaExtras: extras };
  const entries: IntrospectionEntry[] = [
    { name: LINT_COMMAND, 'meta-type': 'command', 'arg-type': LINT_ARGS, 'ret-type': 'any' },
    { name: LINT_ARGS, 'meta-type': 'object', members: [] },
  ];
  return {
    schema: [...schema, ...entries],
    schemaExtras: { ...extras, typeNames: { ...extras.typeNames, [LINT_ARGS]: LINT_ARGS } },
  };
}
