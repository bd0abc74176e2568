/**
 * Putting the misuse linter in front of the simulator's handlers: every handler is wrapped so
 * the linter sees the command (with the client that sent it) before it runs and its outcome
 * after; `x-qmpkit-lint` returns the findings so far. @qmpkit/server itself is unchanged.
 */
import type { IntrospectionEntry, QmpSchemaExtras } from '@qmpkit/qapi-types';
import type { LintFinding, MisuseLinter } from './linter.js';

/** The command that returns the findings so far. */
export const LINT_COMMAND = 'x-qmpkit-lint';

type Handler = (args: unknown, context: { command: string; client: { id: number } }) => unknown;

/** `handlers` with each one reporting to `linter`. */
export function lintHandlers(
  handlers: Readonly<Record<string, unknown>>,
  linter: MisuseLinter,
): Record<string, unknown> {
  const wrapped: Record<string, unknown> = {};
  for (const [name, handler] of Object.entries(handlers)) {
    const run = handler as Handler;
    wrapped[name] = async (args: unknown, context: { command: string; client: { id: number } }) => {
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
  return wrapped;
}

/** Findings as JSON objects (members that do not apply left out). */
export function findingsJson(findings: readonly LintFinding[]): Record<string, unknown>[] {
  return findings.map((f) => ({
    rule: f.rule,
    ...(f.client === undefined ? {} : { client: f.client }),
    ...(f.job === undefined ? {} : { job: f.job }),
    ...(f.command === undefined ? {} : { command: f.command }),
    message: f.message,
  }));
}

/** `schema` with `x-qmpkit-lint` (no arguments, returns any) added. */
export function withLintCommand(
  schema: readonly IntrospectionEntry[],
  extras: QmpSchemaExtras,
): { schema: IntrospectionEntry[]; schemaExtras: QmpSchemaExtras } {
  if (schema.some((e) => e.name === LINT_COMMAND))
    return { schema: [...schema], schemaExtras: extras };
  const entry = { name: LINT_COMMAND, 'meta-type': 'command', 'arg-type': '0', 'ret-type': 'any' };
  return { schema: [...schema, entry as IntrospectionEntry], schemaExtras: extras };
}
