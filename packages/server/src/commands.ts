/**
 * The commands a server answers: the built-ins and the registered handlers, each a command of
 * the runtime schema (QEMU registers only schema commands; their arguments are validated from it).
 */
import type { IntrospectionCommand, IntrospectionEntry } from '@qmpkit/qapi-types/7.2';
import type { CommandContext } from './types.js';

/** The commands the server implements itself, as QEMU's monitor does. */
export const BUILTIN_COMMANDS = [
  'qmp_capabilities',
  'query-version',
  'query-commands',
  'query-qmp-schema',
  'quit',
] as const;

/** A built-in command's name. */
export type BuiltinCommand = (typeof BUILTIN_COMMANDS)[number];

/** A registered handler, called with arguments the validator checked against its command. */
export type CheckedHandler = (args: Record<string, unknown>, context: CommandContext) => unknown;

/** A command the server answers: a registered handler, or a built-in one. */
export type RegisteredCommand =
  | { readonly builtin: false; readonly handler: CheckedHandler; readonly allowOob: boolean }
  | { readonly builtin: true; readonly name: BuiltinCommand; readonly allowOob: boolean };

function isBuiltin(name: string): name is BuiltinCommand {
  return (BUILTIN_COMMANDS as readonly string[]).includes(name);
}

/** The commands of a schema that the server answers, in registration order. */
export class CommandRegistry {
  private readonly schemaCommands = new Map<string, IntrospectionCommand>();
  private readonly registered = new Map<string, RegisteredCommand>();

  constructor(schema: readonly IntrospectionEntry[]) {
    for (const entry of schema) {
      if (entry['meta-type'] === 'command') this.schemaCommands.set(entry.name, entry);
    }
    for (const name of BUILTIN_COMMANDS) {
      this.add(name, (allowOob) => ({ builtin: true, name, allowOob }));
    }
  }

  /**
   * Registers a handler (replacing one registered before). The command must be in the schema
   * and must not be a built-in; `handler` must be a function.
   */
  register(name: string, handler: unknown): void {
    if (isBuiltin(name)) {
      throw new Error(`${name} is built into the server and cannot be replaced`);
    }
    if (typeof handler !== 'function') {
      throw new TypeError(`the handler of ${name} is not a function`);
    }
    // Its arguments are typed by the command table and checked by the validator before a call.
    const checked = handler as CheckedHandler;
    this.add(name, (allowOob) => ({ builtin: false, handler: checked, allowOob }));
  }

  /** The command of that name, if the server answers it. */
  get(name: string): RegisteredCommand | undefined {
    return this.registered.get(name);
  }

  /** The commands answered (built-ins and registered), in registration order. */
  get names(): string[] {
    return [...this.registered.keys()];
  }

  /**
   * The commands answered, as `query-commands` lists them: QEMU registers commands in schema
   * order and prepends each one while walking its table, so it lists them in reverse schema
   * order (verified on qemu-storage-daemon 7.2).
   */
  queryCommandsOrder(): string[] {
    return [...this.schemaCommands.keys()].filter((name) => this.registered.has(name)).reverse();
  }

  private add(name: string, make: (allowOob: boolean) => RegisteredCommand): void {
    const entry = this.schemaCommands.get(name);
    if (entry === undefined) {
      throw new Error(`${name} is not a command of the schema, so it cannot be registered`);
    }
    this.registered.delete(name);
    this.registered.set(name, make(entry['allow-oob'] === true));
  }
}
