/**
 * The commands QEMU's monitor implements itself (monitor/qmp-cmds-control.c, qmp-cmds.c):
 * qmp_capabilities, query-version, query-commands, query-qmp-schema, quit.
 */
import { CommandError, type QmpCapability, type QmpVersion } from '@qmpkit/protocol';
import type { IntrospectionEntry } from '@qmpkit/qapi-types/7.2';
import type { BuiltinCommand } from './commands.js';
import type { Session } from './session.js';
import type { CommandContext } from './types.js';

/** What the built-ins read from the server. */
export interface BuiltinHost {
  readonly version: QmpVersion;
  readonly capabilities: readonly QmpCapability[];
  readonly schema: readonly IntrospectionEntry[];
  /** The answered commands in `query-commands` order. */
  queryCommandsOrder(): string[];
  /** The work `quit` does before it is answered (the server's `onQuit`). */
  quit(): void;
  /** Closes the server (after `quit`'s reply). */
  close(): void;
}

/** Runs built-in `name` for `session` with validated `args`. */
export function runBuiltin(
  host: BuiltinHost,
  name: BuiltinCommand,
  session: Session,
  args: Record<string, unknown>,
  context: CommandContext,
): unknown {
  switch (name) {
    case 'qmp_capabilities': {
      if (session.negotiated) {
        throw new CommandError(
          'CommandNotFound',
          'Capabilities negotiation is already complete, command ignored',
        );
      }
      const enable = (args.enable as string[] | undefined) ?? [];
      const unavailable = enable.filter((c) => !host.capabilities.includes(c));
      if (unavailable.length > 0) {
        throw new CommandError(
          'GenericError',
          `Capability ${unavailable.join(', ')} not available`,
        );
      }
      session.oob = enable.includes('oob');
      session.negotiated = true;
      return {};
    }
    case 'query-version':
      return { qemu: { ...host.version.qemu }, package: host.version.package };
    case 'query-commands':
      return host.queryCommandsOrder().map((command) => ({ name: command }));
    case 'query-qmp-schema':
      return host.schema;
    case 'quit':
      // qemu-storage-daemon leaves its main loop and ends its jobs before the monitor sends
      // anything more: their events reach clients before quit's reply (verified on 7.2).
      host.quit();
      context.afterReply(() => host.close());
      return {};
  }
}
